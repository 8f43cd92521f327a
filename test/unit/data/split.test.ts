import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { balancedSplit, limitSubset } from '../../../src/plugins/datasets/affectnet/split.js';

const records = (counts: number[]): { group: number; line: number }[] => {
  const out: { group: number; line: number }[] = [];
  let line = 2;
  counts.forEach((n, group) => {
    for (let i = 0; i < n; i++) out.push({ group, line: line++ });
  });
  // interleave the groups, as in a real file list
  return out
    .sort((a, b) => ((a.line * 7919) % 101) - ((b.line * 7919) % 101))
    .map((r, i) => ({ ...r, line: i + 2 }));
};

test('Table 3 split: perGroup per class in validation, the rest in training', () => {
  const all = records([40, 100, 12, 5]);
  const split = balancedSplit(all, [0, 1, 2, 3], 10, 1);
  const count = (list: { group: number }[], g: number): number =>
    list.filter((r) => r.group === g).length;
  assert.deepEqual(
    [0, 1, 2, 3].map((g) => count(split.validation, g)),
    [10, 10, 10, 2],
  );
  assert.deepEqual(
    [0, 1, 2, 3].map((g) => count(split.train, g)),
    [30, 90, 2, 3],
  );
  assert.deepEqual(split.shortGroups, [{ group: 3, available: 5, taken: 2 }]);
  // disjoint and complete
  const lines = new Set([...split.train, ...split.validation].map((r) => r.line));
  assert.equal(lines.size, all.length);
  // kept in file order
  assert.deepEqual(
    split.train.map((r) => r.line),
    [...split.train.map((r) => r.line)].sort((a, b) => a - b),
  );
});

test('the split depends on the seed only, and a class does not disturb the others', () => {
  const all = records([40, 100, 12]);
  const a = balancedSplit(all, [0, 1, 2], 10, 5);
  const b = balancedSplit(all, [0, 1, 2], 10, 5);
  const c = balancedSplit(all, [0, 1, 2], 10, 6);
  assert.deepEqual(a.validation, b.validation);
  assert.notDeepEqual(a.validation, c.validation);
  const without2 = balancedSplit(all, [0, 1], 10, 5);
  assert.deepEqual(
    without2.validation,
    a.validation.filter((r) => r.group !== 2),
  );
});

test('maxTrainPerGroup caps training per class', () => {
  const split = balancedSplit(records([40, 100]), [0, 1], 10, 1, 25);
  assert.equal(split.train.filter((r) => r.group === 0).length, 25);
  assert.equal(split.train.filter((r) => r.group === 1).length, 25);
});

test('limitSubset keeps order and size', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const subset = limitSubset(items, 7, 3, 'train');
  assert.equal(subset.length, 7);
  assert.deepEqual(
    subset,
    [...subset].sort((a, b) => a - b),
  );
  assert.deepEqual(limitSubset(items, 7, 3, 'train'), subset);
  assert.deepEqual(limitSubset(items, 100, 3, 'train'), items);
});
