import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AFFECTNET_EXPRESSIONS,
  AFFECTNET_TABLE1_COUNTS,
  CLASS_PRESETS,
  expressionCode,
  presetNameOf,
  resolveClassPreset,
} from '../../../src/plugins/datasets/affectnet/constants.js';
import { UserError } from '../../../src/sdk/errors.js';

test('expression codes and Table 1 counts line up', () => {
  assert.equal(AFFECTNET_EXPRESSIONS.length, 11);
  assert.equal(AFFECTNET_EXPRESSIONS[6], 'Anger');
  assert.equal(AFFECTNET_EXPRESSIONS[10], 'Non-Face');
  assert.equal(AFFECTNET_TABLE1_COUNTS.length, 11);
  // report Table 2: the six selected categories total 308,570
  const codes: readonly number[] = CLASS_PRESETS.report6;
  const report6 = codes.reduce((sum, code) => sum + AFFECTNET_TABLE1_COUNTS[code], 0);
  assert.equal(report6, 308_570);
});

test('presets resolve to contiguous indices in preset order', () => {
  const report6 = resolveClassPreset('report6');
  assert.deepEqual(
    report6.map((c) => [c.index, c.code, c.name]),
    [
      [0, 0, 'Neutral'],
      [1, 1, 'Happy'],
      [2, 2, 'Sad'],
      [3, 3, 'Surprise'],
      [4, 4, 'Fear'],
      [5, 6, 'Anger'],
    ],
  );
  assert.deepEqual(
    resolveClassPreset('report5').map((c) => c.name),
    ['Neutral', 'Happy', 'Sad', 'Surprise', 'Anger'],
  );
  assert.equal(resolveClassPreset('affectnet8').length, 8);
  assert.equal(resolveClassPreset('basic7').at(-1)?.name, 'Anger');
  assert.equal(resolveClassPreset('affectnet11').length, 11);
});

test('explicit lists mix codes and names; order sets the index', () => {
  const classes = resolveClassPreset(['anger', 1, '0', 'non_face']);
  assert.deepEqual(
    classes.map((c) => [c.index, c.code]),
    [
      [0, 6],
      [1, 1],
      [2, 0],
      [3, 10],
    ],
  );
  assert.equal(presetNameOf(resolveClassPreset([0, 1, 2, 3, 4, 6])), 'report6');
  assert.equal(presetNameOf(classes), undefined);
  assert.equal(expressionCode('Surprise'), 3);
});

test('bad presets and lists are user errors with a hint', () => {
  assert.throws(
    () => resolveClassPreset('report7'),
    (e: unknown) => e instanceof UserError && /did you mean 'report6'/.test(e.message),
  );
  assert.throws(
    () => resolveClassPreset(['Happy', 'Hapy']),
    (e: unknown) => e instanceof UserError && /did you mean 'Happy'/.test(e.message),
  );
  assert.throws(() => resolveClassPreset([11]), /out of range/);
  assert.throws(() => resolveClassPreset([1, 'happy']), /listed twice/);
  assert.throws(() => resolveClassPreset([]), /empty/);
});
