import type { SweepDistribution } from './types.js';

export const DISTRIBUTIONS = ['choice', 'uniform', 'loguniform', 'int'] as const;

export function isDistribution(value: unknown): value is SweepDistribution {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Why a distribution cannot be drawn from, or undefined. The schema checks the shapes; this
 * adds what it cannot say (low <= high) and guards callers that skip validation.
 */
export function distributionProblem(value: unknown): string | undefined {
  if (!isDistribution(value)) return undefined;
  const keys = Object.keys(value);
  const kind = keys[0] as (typeof DISTRIBUTIONS)[number];
  if (keys.length !== 1 || !DISTRIBUTIONS.includes(kind))
    return `a distribution is one of ${DISTRIBUTIONS.map((d) => `{ ${d}: ... }`).join(', ')}; got keys ${keys.join(', ') || '(none)'}`;
  const v = (value as Record<string, unknown>)[kind];
  if (kind === 'choice')
    return Array.isArray(v) && v.length > 0 ? undefined : 'choice needs a non-empty list';
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number'))
    return `${kind} needs [low, high]`;
  const [lo, hi] = v as number[];
  if (!(lo <= hi)) return `${kind}: low ${lo} is above high ${hi}`;
  if (kind === 'loguniform' && lo <= 0) return `loguniform needs low > 0, got ${lo}`;
  if (kind === 'int' && !(Number.isInteger(lo) && Number.isInteger(hi)))
    return `int needs integer bounds, got [${lo}, ${hi}]`;
  return undefined;
}
