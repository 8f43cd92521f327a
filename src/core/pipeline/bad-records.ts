import { UserError } from '../errors.js';
import type { BadRecord, BadRecordSummary } from '../plugin.js';

export type BadRecordPolicy = 'skip' | 'fail';

/** How many examples of each reason a summary keeps: enough to find the problem, never the whole list. */
const EXAMPLES_PER_REASON = 5;

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
