import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readLines } from '../../../src/core/pipeline/csv.js';
import { scorePredictionsFile } from '../../../src/core/cli/commands/metrics.js';
import { affectnetClassPresets } from '../../../src/plugins/datasets/affectnet/constants.js';
import { readFileList } from '../../../src/plugins/datasets/affectnet/list-reader.js';
import { parseRow } from '../../../src/plugins/datasets/affectnet/records.js';
import { tempDir } from '../../support/helpers.js';

const HEADER =
  'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal';
const LANDMARKS = Array.from({ length: 136 }, (_, i) => (i * 3.17).toFixed(2)).join(';');
const row = (
  fields: Partial<Record<'path' | 'x' | 'y' | 'w' | 'h' | 'lm' | 'code' | 'v' | 'a', string>>,
) =>
  [
    fields.path ?? '12/abc.jpg',
    fields.x ?? '5',
    fields.y ?? '7',
    fields.w ?? '100',
    fields.h ?? '101',
    fields.lm ?? LANDMARKS,
    fields.code ?? '1',
    fields.v ?? '0.670237',
    fields.a ?? '-0.419313',
  ].join(',');

/** Lines that exercise every way out of the fast path, and the rows that stay on it. */
const LINES = [
  row({}),
  row({ code: '0', v: '-2', a: '-2' }),
  row({ x: '0', y: '0.5', w: '33.25', h: '1e2' }),
  row({ x: '-3' }),
  row({ x: '+3' }),
  row({ w: '0' }),
  row({ h: '-5' }),
  row({ x: ' 5 ' }),
  row({ code: '11' }),
  row({ code: '1.0' }),
  row({ code: '1.5' }),
  row({ code: '' }),
  row({ v: 'abc' }),
  row({ v: '5.' }),
  row({ v: '.5' }),
  row({ v: '0.12345678901234567' }),
  row({ v: '-0' }),
  row({ v: '5.0' }),
  row({ a: '-1.5' }),
  row({ v: '1', a: '-1' }),
  row({ v: '-2', a: '0.5' }),
  row({ path: '../escape.jpg' }),
  row({ path: '/abs/a.jpg' }),
  row({ path: 'C:/a.jpg' }),
  row({ path: '\\\\server\\a.jpg' }),
  row({ path: ' padded.jpg ' }),
  row({ path: 'ünïcode/é.jpg' }),
  row({ path: 'a..b/ok.jpg' }),
  row({ path: '' }),
  row({ lm: '"1;2,3;4"' }),
  row({ lm: '' }),
  '"quoted path.jpg",1,2,3,4,,1,0,0',
  '"unclosed,1,2,3,4,,1,0,0',
  row({}) + ',extra',
  '12/a.jpg,1,2,3',
  '',
  '   ',
  row({ path: 'tab\t.jpg' }),
  row({ a: '0.25' }),
];

/** What the plugin did before: readline + parseRow on every data line. */
async function reference(path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const { line, text } of readLines(path)) {
    if (line === 1) {
      out.push({ header: text });
      continue;
    }
    if (text.trim() === '') continue;
    out.push(normalise(line, parseRow(text, line)));
  }
  return out;
}

function normalise(line: number, parsed: ReturnType<typeof parseRow>): unknown {
  if (!parsed.ok) return { line, ...parsed };
  const { landmarks: _landmarks, ...record } = parsed.record;
  return { ok: true, ...record, line };
}

async function viaReader(path: string): Promise<{ out: unknown[]; fast: number; bytes: number }> {
  const out: unknown[] = [];
  let fast = 0;
  let bytes = 0;
  await readFileList(
    path,
    {
      header: (text) => out.push({ header: text }),
      row: (line, r) => {
        fast++;
        out.push({
          ok: true,
          path: r.path,
          box: { x: r.x, y: r.y, width: r.width, height: r.height },
          code: r.code,
          valence: r.valence,
          arousal: r.arousal,
          line,
        });
      },
      text: (line, text) => {
        if (text.trim() === '') return;
        out.push(normalise(line, parseRow(text, line)));
      },
    },
    (n) => (bytes += n),
  );
  return { out, fast, bytes };
}

const dir = tempDir();

for (const [name, eol, bom, trailing] of [
  ['LF', '\n', false, true],
  ['CRLF', '\r\n', false, true],
  ['lone CR', '\r', false, true],
  ['BOM, no final newline', '\n', true, false],
] as const) {
  test(`the byte reader gives exactly readline + parseRow's rows (${name})`, async () => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.csv`);
    const text = (bom ? '\uFEFF' : '') + [HEADER, ...LINES].join(eol) + (trailing ? eol : '');
    writeFileSync(file, text);
    const expected = await reference(file);
    const { out, fast, bytes } = await viaReader(file);
    assert.deepEqual(out, expected);
    assert.equal(bytes, Buffer.byteLength(text));
    assert.ok(fast >= 6, `${fast} rows on the fast path`);
  });
}

test('lines across chunk boundaries and a line longer than the read buffer', async () => {
  const file = join(dir, 'long.csv');
  const rows: string[] = [];
  for (let i = 0; i < 12_000; i++)
    rows.push(row({ path: `${i % 97}/${i}.jpg`, code: String(i % 11) }));
  rows.splice(5000, 0, row({ lm: 'x'.repeat(9 << 20) }));
  writeFileSync(file, [HEADER, ...rows].join('\n') + '\n');
  const expected = await reference(file);
  const { out, fast } = await viaReader(file);
  assert.equal(out.length, 12_002);
  assert.deepEqual(out, expected);
  assert.equal(fast, 12_001);
});

test('a FIFO or a device named as a list is refused before a byte is read (no hang)', async () => {
  const fifo = join(tempDir(), 'training.csv');
  execFileSync('mkfifo', [fifo]);
  const visitor = { header: () => undefined, row: () => undefined, text: () => undefined };
  await assert.rejects(
    readFileList(fifo, visitor),
    /training\.csv: cannot read the file list: it is not a regular file/,
  );
  await assert.rejects(readFileList('/dev/zero', visitor), /it is not a regular file/);
  await assert.rejects(async () => {
    for await (const line of readLines(fifo)) void line;
  }, /training\.csv: cannot read list file: it is a FIFO \(named pipe\), not a file/);
  assert.throws(
    () =>
      scorePredictionsFile('/dev/zero', { classPresets: affectnetClassPresets, normalized: true }),
    /\/dev\/zero: cannot read predictions file: it is a character device, not a file/,
  );
});
