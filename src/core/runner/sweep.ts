import { overrideText, parseOverridePath } from '../config/compose.js';
import type { SweepConfig } from '../config/types.js';
import { UserError } from '../errors.js';

function asOverride(path: string, value: unknown): string {
  return overrideText(path, value);
}

/**
 * The `--set` lists of a sweep: `grid` is the cartesian product of the parameter lists, `zip`
 * pairs the i-th values (all lists must be equally long). No sweep: one run with no overrides.
 */
export function expandSweep(sweep: SweepConfig | undefined): string[][] {
  if (!sweep) return [[]];
  const entries = Object.entries(sweep.parameters);
  // Validation checks the keys with their file location; this guards callers that skip it.
  for (const [path] of entries) {
    try {
      parseOverridePath(path);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      throw new UserError(`sweep parameter '${path}': ${error.message}`);
    }
  }
  if (sweep.mode === 'zip') {
    const lengths = new Set(entries.map(([, v]) => v.length));
    if (lengths.size > 1) {
      throw new UserError(
        `sweep.mode zip needs lists of one length; got ${entries.map(([k, v]) => `${k}: ${v.length}`).join(', ')}`,
      );
    }
    const n = entries[0]?.[1].length ?? 0;
    return Array.from({ length: n }, (_, i) =>
      entries.map(([path, values]) => asOverride(path, values[i])),
    );
  }
  return entries.reduce<string[][]>(
    (combos, [path, values]) =>
      combos.flatMap((c) => values.map((v) => [...c, asOverride(path, v)])),
    [[]],
  );
}
