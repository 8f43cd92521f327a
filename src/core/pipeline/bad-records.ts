import { UserError } from '../../sdk/errors.js';
import type { BadRecord, BadRecordSummary } from '../../sdk/contracts/data.js';

export type BadRecordPolicy = 'skip' | 'fail';

/** How many examples of each reason a summary keeps: enough to find the problem, never the whole list. */
const EXAMPLES_PER_REASON = 5;

/**
 * Images of a split that must have been seen before its bad fraction can fail a run early: about
 * the first batch or two. Fewer than this (and not the whole split) is too small a sample.
 */
export const MIN_BAD_FRACTION_SAMPLE = 100;

/**
 * Standard errors by which the seen fraction must exceed the bound to fail before the whole
 * split has been seen (a one-sided Wilson bound, ~99.9 %): a split that is within the bound is
 * never failed by the luck of its first images, while one that is far over (the 89 % of a broken
 * copy) fails at the first sample.
 */
const BAD_FRACTION_Z = 3;

/** Lower end of the Wilson score interval for `bad` of `seen`. */
function wilsonLowerBound(bad: number, seen: number, z = BAD_FRACTION_Z): number {
  const p = bad / seen;
  const z2 = z * z;
  const centre = p + z2 / (2 * seen);
  const spread = z * Math.sqrt((p * (1 - p)) / seen + z2 / (4 * seen * seen));
  return (centre - spread) / (1 + z2 / seen);
}

/**
 * Whether `bad` of `seen` (out of `total`) is more than `maxBadFraction` allows. Once all of
 * `total` is seen the fraction is exact and is compared as it is; before that, only after
 * MIN_BAD_FRACTION_SAMPLE and only when the fraction is over the bound beyond sampling noise.
 * A bound of 0 fails at the first bad one.
 */
export function exceedsBadFraction(
  bad: number,
  seen: number,
  total: number,
  maxBadFraction: number,
): boolean {
  if (bad === 0 || seen === 0) return false;
  if (maxBadFraction <= 0) return true;
  if (seen >= total) return bad / seen > maxBadFraction;
  if (seen < MIN_BAD_FRACTION_SAMPLE) return false;
  return wilsonLowerBound(bad, seen) > maxBadFraction;
}

export interface BadFractionCount {
  /** What was counted, for the message: a split or a file list. */
  what: string;
  /** `records` or `images`. */
  unit: string;
  bad: number;
  seen: number;
  total: number;
  maxBadFraction: number;
  /** The first bad ones, named in the message. */
  examples: readonly BadRecord[];
}

const percent = (value: number): string => `${(100 * value).toFixed(1)} %`;

/** Throw a UserError with the counts when `count` exceeds its bound (see exceedsBadFraction). */
export function checkBadFraction(count: BadFractionCount): void {
  const { what, unit, bad, seen, total, maxBadFraction } = count;
  if (!exceedsBadFraction(bad, seen, total, maxBadFraction)) return;
  const sofar = seen < total ? ` seen so far (of ${total})` : '';
  const first = count.examples
    .slice(0, EXAMPLES_PER_REASON)
    .map((e) => `\n  ${e.source}: ${e.reason}`)
    .join('');
  throw new UserError(
    `${what}: ${bad} of ${seen} ${unit}${sofar} are bad (${percent(bad / seen)}), more than the ` +
      `dataset's maxBadFraction ${maxBadFraction} (${percent(maxBadFraction)}) allows; first bad ${unit}:${first}\n` +
      `fix or remove them, or raise the dataset's maxBadFraction (1 never fails)`,
  );
}

/**
 * Counts bad records by reason and keeps the first few of each. Under `fail` the first one
 * throws a UserError naming its `file:line`.
 */
export class BadRecordLog {
  private total = 0;
  private readonly byReason: Record<string, number> = {};
  private readonly examples: BadRecord[] = [];

  constructor(readonly policy: BadRecordPolicy = 'skip') {}

  /** Record one bad record. `reason` is the category counted; `detail` only goes to the example. */
  add(source: string, reason: string, detail?: string): void {
    const described = detail ? `${reason}: ${detail}` : reason;
    if (this.policy === 'fail') {
      throw new UserError(
        `${source}: ${described} (set dataset.onBadRecord: skip to count and skip bad records)`,
      );
    }
    this.total++;
    const seen = this.byReason[reason] ?? 0;
    this.byReason[reason] = seen + 1;
    if (seen < EXAMPLES_PER_REASON) this.examples.push({ source, reason: described });
  }

  get count(): number {
    return this.total;
  }

  summary(): BadRecordSummary {
    return { total: this.total, byReason: { ...this.byReason }, examples: [...this.examples] };
  }
}

export function emptyBadRecordSummary(): BadRecordSummary {
  return { total: 0, byReason: {}, examples: [] };
}

/** One summary of several (the dataset's file lists plus the pipeline's decode errors). */
export function mergeBadRecordSummaries(...summaries: BadRecordSummary[]): BadRecordSummary {
  const merged = emptyBadRecordSummary();
  for (const s of summaries) {
    merged.total += s.total;
    for (const [reason, n] of Object.entries(s.byReason)) {
      merged.byReason[reason] = (merged.byReason[reason] ?? 0) + n;
    }
    for (const example of s.examples) {
      const reason = example.reason.split(':')[0];
      const kept = merged.examples.filter((e) => e.reason.split(':')[0] === reason).length;
      if (kept < EXAMPLES_PER_REASON) merged.examples.push(example);
    }
  }
  return merged;
}

/** A human-readable multi-line summary for logs. */
export function formatBadRecordSummary(summary: BadRecordSummary): string {
  if (summary.total === 0) return 'no bad records';
  const reasons = Object.entries(summary.byReason)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  const examples = summary.examples.map((e) => `  ${e.source}: ${e.reason}`).join('\n');
  return `${summary.total} bad record(s) skipped (${reasons}); first ones:\n${examples}`;
}
