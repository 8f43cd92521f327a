import { overrideText, parseOverridePath } from '../config/compose.js';
import type { SweepConfig, SweepDistribution } from '../config/types.js';
import { UserError } from '../errors.js';
import { Random } from '../plugin/services.js';
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

/**
 * The combinations of a sweep, before `repeat`: `grid` is the cartesian product of the lists,
 * `zip` pairs the i-th values (all lists equally long), `random` draws `trials` times from the
 * distributions (a plain list is a choice) with its own seeded generator, so the same seed
 * gives the same trials.
 */
function combinations(sweep: SweepConfig, experimentSeed: number): string[][] {
  const entries = Object.entries(sweep.parameters);
  // Validation checks the keys with their file location; this guards callers that skip it.
  for (const [path, spec] of entries) {
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
  if (sweep.mode === 'random') {
    if (!sweep.trials || sweep.trials < 1)
      throw new UserError('sweep.mode random needs sweep.trials (how many trials to draw)');
    const rng = new Random(sweep.seed ?? experimentSeed);
    return Array.from({ length: sweep.trials }, () =>
      entries.map(([path, spec]) => asOverride(path, draw(rng, spec))),
    );
  }
  const lists = entries as [string, unknown[]][];
  if (sweep.mode === 'zip') {
    const lengths = new Set(lists.map(([, v]) => v.length));
    if (lengths.size > 1) {
      throw new UserError(
        `sweep.mode zip needs lists of one length; got ${lists.map(([k, v]) => `${k}: ${v.length}`).join(', ')}`,
      );
    }
    const n = lists[0]?.[1].length ?? 0;
    return Array.from({ length: n }, (_, i) =>
      lists.map(([path, values]) => asOverride(path, values[i])),
    );
  }
  return lists.reduce<string[][]>(
    (combos, [path, values]) =>
      combos.flatMap((c) => values.map((v) => [...c, asOverride(path, v)])),
    [[]],
  );
}

/**
 * Every run of a sweep: each combination `repeat` times, replica k with `seed=<seed + k>`
 * (replica 0 keeps the experiment's seed, so repeat 1 changes nothing). No sweep: one run.
 */
export function expandTrials(sweep: SweepConfig | undefined, experimentSeed: number): SweepTrial[] {
  if (!sweep) return [{ overrides: [], group: 0, replica: 0 }];
  const repeat = sweep.repeat ?? 1;
  if (repeat > 1 && 'seed' in sweep.parameters)
    throw new UserError(
      'sweep.repeat sets each run\'s seed; drop "seed" from sweep.parameters (or repeat: 1)',
    );
  return combinations(sweep, experimentSeed).flatMap((overrides, group) =>
    Array.from({ length: repeat }, (_, replica) => ({
      overrides: repeat > 1 ? [...overrides, `seed=${experimentSeed + replica}`] : overrides,
      group,
      replica,
    })),
  );
}

/** The `--set` lists of a sweep's runs (see expandTrials). */
export function expandSweep(sweep: SweepConfig | undefined, experimentSeed = 42): string[][] {
  return expandTrials(sweep, experimentSeed).map((t) => t.overrides);
}
