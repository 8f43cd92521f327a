import { Random } from '../../../sdk/index.js';
import type { SplitLimits } from './options.js';

/** What the split needs of a record: its group (class) and a stable order key (CSV line). */
export interface Splittable {
  group: number;
  line: number;
}

export interface BalancedSplit<T> {
  train: T[];
  validation: T[];
  /** Per group: how many went to validation, when fewer than requested were available. */
  shortGroups: { group: number; available: number; taken: number }[];
}

/**
 * The report's Table 3 split of one file list: per group, a seeded draw of `perGroup` records
 * for validation, the rest for training (optionally capped at `maxTrainPerGroup`, also a seeded
 * draw). A group with no more than `perGroup` records gives half of them to validation, so its
 * training side is never emptied. `perGroup` may depend on the group's size (a stratified
 * fraction: the `official` policy's hold-out). Both outputs keep file-list order.
 */
export function balancedSplit<T extends Splittable>(
  records: readonly T[],
  groups: readonly number[],
  perGroup: number | ((available: number) => number),
  seed: number,
  maxTrainPerGroup?: number,
): BalancedSplit<T> {
  // Positions per group, then one role per record and a single pass in input order: no
  // spreading of class-sized arrays into push (a 130k-record class overflows the call stack)
  // and no sort of the whole list when it is already in file order, as read.
  const byGroup = new Map<number, number[]>(groups.map((g) => [g, []]));
  for (let i = 0; i < records.length; i++) byGroup.get(records[i].group)?.push(i);
  const role = new Uint8Array(records.length); // 0: left out, 1: train, 2: validation
  const shortGroups: BalancedSplit<T>['shortGroups'] = [];
  for (const group of groups) {
    const members = byGroup.get(group) ?? [];
    // one stream per group, so adding a class never reshuffles the others
    const rng = Random.fork(seed, 'affectnet-split', group);
    const shuffled = rng.shuffle(members);
    const wanted = typeof perGroup === 'number' ? perGroup : perGroup(members.length);
    const taken = members.length > wanted ? wanted : Math.floor(members.length / 2);
    if (taken < wanted) shortGroups.push({ group, available: members.length, taken });
    const trainEnd =
      maxTrainPerGroup !== undefined
        ? Math.min(shuffled.length, taken + maxTrainPerGroup)
        : shuffled.length;
    for (let k = 0; k < taken; k++) role[shuffled[k]] = 2;
    for (let k = taken; k < trainEnd; k++) role[shuffled[k]] = 1;
  }
  const train: T[] = [];
  const validation: T[] = [];
  for (let i = 0; i < records.length; i++) {
    if (role[i] === 1) train.push(records[i]);
    else if (role[i] === 2) validation.push(records[i]);
  }
  if (!inLineOrder(records)) {
    const byLine = (a: T, b: T): number => a.line - b.line;
    train.sort(byLine);
    validation.sort(byLine);
  }
  return { train, validation, shortGroups };
}

function inLineOrder(records: readonly Splittable[]): boolean {
  for (let i = 1; i < records.length; i++) if (records[i].line < records[i - 1].line) return false;
  return true;
}

/** A seeded subset of at most `limit` items, in the original order (smoke runs). */
export function limitSubset<T>(
  items: readonly T[],
  limit: number | undefined,
  seed: number,
  label: string,
): T[] {
  if (limit === undefined || items.length <= limit) return [...items];
  const positions = Random.fork(seed, 'affectnet-limit', label).shuffle(items.map((_, i) => i));
  return positions
    .slice(0, limit)
    .sort((a, b) => a - b)
    .map((i) => items[i]);
}

export function applyLimits<T>(
  splits: { train: T[]; validation: T[]; test: T[] },
  limits: SplitLimits | undefined,
  seed: number,
): { train: T[]; validation: T[]; test: T[] } {
  return {
    train: limitSubset(splits.train, limits?.train, seed, 'train'),
    validation: limitSubset(splits.validation, limits?.validation, seed, 'validation'),
    test: limitSubset(splits.test, limits?.test, seed, 'test'),
  };
}

/** Records of a group of `available` that a stratified hold-out of `fraction` puts in validation. */
export function heldOutCount(available: number, fraction: number): number {
  return Math.round(available * fraction);
}
