import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitCsvLine } from '../../../src/core/pipeline/csv.js';
import {
  BAD_ROW,
  checkHeader,
  isContainedPath,
  parseRow,
} from '../../../src/plugins/datasets/affectnet/records.js';

const LANDMARKS = Array.from({ length: 136 }, (_, i) => (10 + i / 4).toFixed(2)).join(';');
const row = (fields: Partial<Record<string, string>> = {}): string =>
  [
    fields.path ?? '12/abc.jpg',
    fields.x ?? '10',
    fields.y ?? '12',
    fields.w ?? '80',
    fields.h ?? '80',
    fields.landmarks ?? LANDMARKS,
    fields.expression ?? '3',
    fields.valence ?? '0.25',
    fields.arousal ?? '-0.5',
  ].join(',');

test('splitCsvLine handles quoted and unquoted fields', () => {
  assert.deepEqual(splitCsvLine('a,b,c'), ['a', 'b', 'c']);
  assert.deepEqual(splitCsvLine('a,"1;2;3",c'), ['a', '1;2;3', 'c']);
  assert.deepEqual(splitCsvLine('"a,b",c'), ['a,b', 'c']);
  assert.deepEqual(splitCsvLine('"say ""hi""",x'), ['say "hi"', 'x']);
  assert.deepEqual(splitCsvLine('a,,c'), ['a', '', 'c']);
  assert.equal(splitCsvLine('a,"open'), undefined);
});

test('a valid row parses, landmarks quoted or not', () => {
  const plain = parseRow(row(), 2);
  assert.ok(plain.ok);
  assert.deepEqual(plain.record.box, { x: 10, y: 12, width: 80, height: 80 });
  assert.equal(plain.record.code, 3);
  assert.equal(plain.record.valence, 0.25);
  assert.equal(plain.record.line, 2);
  const quoted = parseRow(row({ landmarks: `"${LANDMARKS}"` }), 3);
  assert.ok(quoted.ok);
  assert.equal(quoted.record.landmarks, LANDMARKS);
});

test('each kind of bad row is classified', () => {
  const cases: [string, string][] = [
    [row().split(',').slice(0, 7).join(','), BAD_ROW.missingField],
    [row() + ',extra', BAD_ROW.extraField],
    [row({ expression: '' }), BAD_ROW.missingField],
    [row({ x: 'ten' }), BAD_ROW.notNumeric],
    [row({ valence: 'NaN' }), BAD_ROW.notNumeric],
    [row({ expression: '11' }), BAD_ROW.codeOutOfRange],
    [row({ expression: '-1' }), BAD_ROW.codeOutOfRange],
    [row({ expression: '2.5' }), BAD_ROW.codeOutOfRange],
    [row({ w: '0' }), BAD_ROW.invalidBox],
    [row({ x: '-80' }), BAD_ROW.invalidBox],
    [row({ h: '-3' }), BAD_ROW.invalidBox],
    [row({ path: '../outside.jpg' }), BAD_ROW.pathEscapes],
    [row({ path: '12/../../outside.jpg' }), BAD_ROW.pathEscapes],
    [row({ path: '/etc/passwd' }), BAD_ROW.pathEscapes],
    [row({ path: 'C:\\images\\a.jpg' }), BAD_ROW.pathEscapes],
    [row({ path: '12\\..\\..\\a.jpg' }), BAD_ROW.pathEscapes],
    [row({ landmarks: '"1;2' }), BAD_ROW.badQuoting],
    [row({ valence: '5.0' }), BAD_ROW.valenceArousalOutOfRange],
    [row({ arousal: '-1.5' }), BAD_ROW.valenceArousalOutOfRange],
    [row({ valence: '-3' }), BAD_ROW.valenceArousalOutOfRange],
  ];
  for (const [text, reason] of cases) {
    const parsed = parseRow(text, 9);
    assert.equal(parsed.ok, false, text.slice(0, 60));
    if (!parsed.ok) assert.equal(parsed.reason, reason, text.slice(0, 60));
  }
});

test('valence/arousal: -1..1 and -2 (none) are values; 5.0 is a bad row naming it', () => {
  for (const [valence, arousal] of [
    ['-1', '1'],
    ['-2', '-2'],
    ['0', '-2'],
  ]) {
    const parsed = parseRow(row({ valence, arousal }), 4);
    assert.ok(parsed.ok, `${valence}, ${arousal}`);
  }
  const bad = parseRow(row({ valence: '5.0' }), 4);
  assert.ok(!bad.ok);
  assert.match(bad.detail, /valence=5\.0 \(valid: -1\.\.1, or -2 for none\)/);
});

test('contained paths', () => {
  assert.ok(isContainedPath('689/737db2483489148d783ef278f43f486c0a97e140fc4b6b61b84363ca.jpg'));
  assert.ok(isContainedPath('a..b/c.jpg'));
  assert.ok(!isContainedPath('..'));
  assert.ok(!isContainedPath('\\\\server\\share\\a.jpg'));
  assert.ok(!isContainedPath('a\0b.jpg'));
});

test('the header must be AffectNet’s', () => {
  assert.equal(
    checkHeader(
      'subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal',
    ),
    undefined,
  );
  assert.match(checkHeader('path,x,y,w,h,lm,expr,val,ar') ?? '', /unexpected header/);
});
