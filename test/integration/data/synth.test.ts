import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import {
  AFFECTNET_CSV_COLUMNS,
  AFFECTNET_IMAGES_DIR,
} from '../../../src/plugins/datasets/affectnet/constants.js';
import {
  ensureSyntheticAffectNet,
  generateSyntheticAffectNet,
  table1Allocation,
  type SynthResult,
} from '../../../src/plugins/datasets/affectnet/synth.js';
import { repoRoot, tempDir } from '../../support/helpers.js';
import { readList } from './fixtures.js';

const SIZE = 48;
const root = join(tempDir('affectlab-synth-'), 'set');
let result: SynthResult;

before(async () => {
  result = await generateSyntheticAffectNet({
    out: root,
    count: 330,
    validationCount: 66,
    seed: 3,
    size: SIZE,
  });
});

test('synth writes both file lists in AffectNet’s exact format', () => {
  for (const file of ['training.csv', 'validation.csv'] as const) {
    const { header, rows } = readList(root, file);
    assert.equal(header, AFFECTNET_CSV_COLUMNS.join(','));
    assert.equal(rows.length, file === 'training.csv' ? 330 : 66);
    for (const r of rows) {
      const where = `${file}:${r.line}`;
      assert.match(r.path, /^\d+\/[0-9a-f]{40}\.jpg$/, where);
      assert.ok(Number.isInteger(r.code) && r.code >= 0 && r.code <= 10, where);
      const [x, y, w, h] = r.box;
      assert.ok([x, y, w, h].every(Number.isInteger), where);
      assert.ok(
        x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= SIZE && y + h <= SIZE,
        `${where}: box ${r.box}`,
      );
      assert.equal(r.landmarks.length, 136, where);
      assert.ok(
        r.landmarks.every((v) => Number.isFinite(v) && v >= 0 && v <= SIZE - 1),
        `${where}: landmark outside`,
      );
      if (r.code >= 8) {
        assert.deepEqual([r.valence, r.arousal], [-2, -2], where);
      } else {
        assert.ok(r.valence >= -1 && r.valence <= 1 && r.arousal >= -1 && r.arousal <= 1, where);
      }
    }
  }
});

test('synth images are JPEGs of the requested size, in numbered folders', async () => {
  const { rows } = readList(root, 'training.csv');
  for (const r of rows.slice(0, 40)) {
    const meta = await sharp(join(root, AFFECTNET_IMAGES_DIR, r.path)).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, SIZE);
    assert.equal(meta.height, SIZE);
    assert.equal(meta.channels, 3);
  }
  assert.equal(readdirSync(join(root, AFFECTNET_IMAGES_DIR)).length, 1); // 396 images, 500 per folder
});

test('class frequencies follow Table 1; valence/arousal follow the category', () => {
  const { rows } = readList(root, 'training.csv');
  const counts = Array.from(
    { length: 11 },
    (_, code) => rows.filter((r) => r.code === code).length,
  );
  assert.deepEqual(counts, Object.values(result.training));
  // every class present even when rare; Happy the largest, then Neutral and Non-Face
  assert.ok(
    counts.every((n) => n >= 5),
    `counts ${counts}`,
  );
  assert.ok(
    counts[1] > counts[0] && counts[0] > counts[8] && counts[10] > counts[2],
    `counts ${counts}`,
  );
  const planned = [...table1Allocation([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 330).values()];
  assert.equal(
    planned.reduce((a, b) => a + b, 0),
    330,
  );
  const meanValence = (code: number): number => {
    const of = rows.filter((r) => r.code === code);
    return of.reduce((s, r) => s + r.valence, 0) / of.length;
  };
  assert.ok(meanValence(1) > 0.3, 'Happy is positive');
  assert.ok(meanValence(2) < -0.2, 'Sad is negative');
  // validation.csv is balanced, like AffectNet's
  const validation = readList(root, 'validation.csv').rows;
  const perClass = Array.from(
    { length: 11 },
    (_, code) => validation.filter((r) => r.code === code).length,
  );
  assert.ok(Math.max(...perClass) - Math.min(...perClass) <= 3, `validation ${perClass}`);
});

test('the same seed gives the same bytes; another seed does not', async () => {
  const dir = tempDir('affectlab-synth-det-');
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const c = join(dir, 'c');
  await generateSyntheticAffectNet({
    out: a,
    count: 24,
    validationCount: 11,
    seed: 9,
    size: 40,
    concurrency: 1,
  });
  await generateSyntheticAffectNet({
    out: b,
    count: 24,
    validationCount: 11,
    seed: 9,
    size: 40,
    concurrency: 8,
  });
  await generateSyntheticAffectNet({ out: c, count: 24, validationCount: 11, seed: 10, size: 40 });
  const list = (root: string): string =>
    readFileSync(join(root, 'Manually_Annotated_file_lists', 'training.csv'), 'utf8');
  assert.equal(list(a), list(b));
  assert.notEqual(list(a), list(c));
  for (const r of readList(a, 'training.csv').rows) {
    const bytesA = readFileSync(join(a, AFFECTNET_IMAGES_DIR, r.path));
    const bytesB = readFileSync(join(b, AFFECTNET_IMAGES_DIR, r.path));
    assert.ok(bytesA.equals(bytesB), r.path);
  }
});

test('ensureSyntheticAffectNet reuses a matching set and regenerates otherwise', async () => {
  const out = join(tempDir('affectlab-synth-ensure-'), 'set');
  const first = await ensureSyntheticAffectNet({ out, count: 22, size: 40, seed: 1 });
  assert.equal(first.reused, false);
  const again = await ensureSyntheticAffectNet({ out, count: 22, size: 40, seed: 1 });
  assert.equal(again.reused, true);
  const other = await ensureSyntheticAffectNet({ out, count: 23, size: 40, seed: 1 });
  assert.equal(other.reused, false);
  assert.equal(readList(out, 'training.csv').rows.length, 23);
});

test('affectlab synth writes a set and refuses to overwrite real AffectNet folders', () => {
  const dir = tempDir('affectlab-synth-cli-');
  const out = join(dir, 'set');
  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
    spawnSync(process.execPath, [join(repoRoot, 'bin', 'affectlab.js'), 'synth', ...args], {
      encoding: 'utf8',
    });
  const ok = cli('--out', out, '--count', '30', '--size', '40', '--seed', '2', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  // validation.csv defaults to max(count / 10, 2 per class) rows
  assert.equal((JSON.parse(ok.stdout) as SynthResult).images, 30 + 22);
  assert.equal(readList(out, 'training.csv').rows.length, 30);
  const real = join(dir, 'real');
  mkdirSync(join(real, 'Manually_Annotated_file_lists'), { recursive: true });
  const refused = cli('--out', real, '--count', '30', '--size', '40');
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /did not generate/);
  const bad = cli('--out', out, '--count', 'many');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--count must be an integer/);
});
