import { overrideText, parseOverridePath } from '../config/compose.js';
import type { SweepConfig, SweepDistribution } from '../config/types.js';
import { UserError } from '../../sdk/errors.js';
import { Random } from '../../sdk/services.js';
import { distributionProblem, isDistribution } from '../config/sweep-spec.js';

function asOverride(path: string, value: unknown): string {
  return overrideText(path, value);
}

/** One run of a sweep: its `--set` overrides, its combination and which of `repeat` seeds. */
export interface SweepTrial {
  overrides: string[];
  /** The combination (grid cell, zip row or random draw) the run repeats. */
  group: number;
  /** 0..repeat-1; replica k runs with the experiment's seed + k. */
  replica: number;
}

/** Six significant digits: a drawn float that reads well in labels and is what the run gets. */
function round6(x: number): number {
  return Number(x.toPrecision(6));
}

function draw(rng: Random, spec: unknown[] | SweepDistribution): unknown {
  if (Array.isArray(spec)) return spec[rng.int(spec.length)];
  if ('choice' in spec) return spec.choice[rng.int(spec.choice.length)];
  if ('uniform' in spec) return round6(rng.uniform(spec.uniform[0], spec.uniform[1]));
  if ('loguniform' in spec) {
    const [lo, hi] = spec.loguniform;
    return round6(Math.exp(rng.uniform(Math.log(lo), Math.log(hi))));
  }
  const [lo, hi] = spec.int;
  return lo + rng.int(hi - lo + 1);
}

/** Checks of the parameters that validation makes with file locations; guards callers that skip it. */
function checkParameters(sweep: SweepConfig): void {
  for (const [path, spec] of Object.entries(sweep.parameters)) {
    try {
      parseOverridePath(path);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      throw new UserError(`sweep parameter '${path}': ${error.message}`);
    }
    const problem = distributionProblem(spec);
    if (problem) throw new UserError(`sweep parameter '${path}': ${problem}`);
    if (isDistribution(spec) && sweep.mode !== 'random')
      throw new UserError(
        `sweep parameter '${path}': a distribution needs sweep.mode random (${sweep.mode} takes a list of values)`,
      );
  }
  if (sweep.mode === 'random' && (!sweep.trials || sweep.trials < 1))
    throw new UserError('sweep.mode random needs sweep.trials (how many trials to draw)');
  if (sweep.mode === 'zip') {
    const lists = Object.entries(sweep.parameters) as [string, unknown[]][];
    const lengths = new Set(lists.map(([, v]) => v.length));
    if (lengths.size > 1) {
      throw new UserError(
        `sweep.mode zip needs lists of one length; got ${lists.map(([k, v]) => `${k}: ${v.length}`).join(', ')}`,
      );
    }
  }
}

/**
 * How many runs a sweep makes (combinations times `repeat`), computed from the list lengths
 * without expanding anything: a grid of ten lists of 100 values is 10^20, counted at once.
 * A count above 2^53 is approximate (it is only compared with a limit).
 */
export function countTrials(sweep: SweepConfig | undefined): number {
  if (!sweep) return 1;
  const repeat = sweep.repeat ?? 1;
  const lengths = Object.values(sweep.parameters).map((v) => (Array.isArray(v) ? v.length : 1));
  if (sweep.mode === 'random') return (sweep.trials ?? 0) * repeat;
  if (sweep.mode === 'zip') return (lengths[0] ?? 0) * repeat;
  return lengths.reduce((n, k) => n * k, 1) * repeat;
}

/**
 * The combinations of a sweep, before `repeat`, one at a time (nothing is built ahead):
 * `grid` is the cartesian product of the lists (the last parameter varies fastest), `zip`
 * pairs the i-th values (all lists equally long), `random` draws `trials` times from the
 * distributions (a plain list is a choice) with its own seeded generator, so the same seed
 * gives the same trials.
 */
function* combinations(sweep: SweepConfig, experimentSeed: number): Generator<string[]> {
  checkParameters(sweep);
  const entries = Object.entries(sweep.parameters);
  if (sweep.mode === 'random') {
    const rng = new Random(sweep.seed ?? experimentSeed);
    for (let t = 0; t < (sweep.trials ?? 0); t++)
      yield entries.map(([path, spec]) => asOverride(path, draw(rng, spec)));
    return;
  }
  const lists = entries as [string, unknown[]][];
  if (sweep.mode === 'zip') {
    const n = lists[0]?.[1].length ?? 0;
    for (let i = 0; i < n; i++) yield lists.map(([path, values]) => asOverride(path, values[i]));
    return;
  }
  if (lists.some(([, values]) => values.length === 0)) return;
  // an odometer over the lists' indices
  const index = lists.map(() => 0);
  for (;;) {
    yield lists.map(([path, values], k) => asOverride(path, values[index[k]]));
    let k = lists.length - 1;
    while (k >= 0 && ++index[k] === lists[k][1].length) index[k--] = 0;
    if (k < 0) return;
  }
}

/**
 * Every run of a sweep, lazily: each combination `repeat` times, replica k with
 * `seed=<seed + k>` (replica 0 keeps the experiment's seed, so repeat 1 changes nothing).
 * No sweep: one run.
 */
export function* iterateTrials(
  sweep: SweepConfig | undefined,
  experimentSeed: number,
): Generator<SweepTrial> {
  if (!sweep) {
    yield { overrides: [], group: 0, replica: 0 };
    return;
  }
  const repeat = sweep.repeat ?? 1;
  if (repeat > 1 && 'seed' in sweep.parameters)
    throw new UserError(
      'sweep.repeat sets each run\'s seed; drop "seed" from sweep.parameters (or repeat: 1)',
    );
  let group = 0;
  for (const overrides of combinations(sweep, experimentSeed)) {
    for (let replica = 0; replica < repeat; replica++)
      yield {
        overrides: repeat > 1 ? [...overrides, `seed=${experimentSeed + replica}`] : overrides,
        group,
        replica,
      };
    group++;
  }
}

/** Every run of a sweep as a list (see iterateTrials; validation bounds the count). */
export function expandTrials(sweep: SweepConfig | undefined, experimentSeed: number): SweepTrial[] {
  return [...iterateTrials(sweep, experimentSeed)];
}

/** The `--set` lists of a sweep's runs (see expandTrials). */
export function expandSweep(sweep: SweepConfig | undefined, experimentSeed = 42): string[][] {
  return expandTrials(sweep, experimentSeed).map((t) => t.overrides);
}
