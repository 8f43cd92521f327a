import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSyntheticAffectNet } from '../../src/plugins/datasets/affectnet/synth.js';

/**
 * A small synthetic AffectNet-format set shared by the test files (kept in the OS temp dir and
 * reused while its generator options are unchanged).
 */
export async function smallSyntheticSet(
  options: { count?: number; size?: number; seed?: number; validationCount?: number } = {},
): Promise<string> {
  const count = options.count ?? 360;
  const size = options.size ?? 64;
  const seed = options.seed ?? 11;
  const validationCount = options.validationCount ?? 60;
  const out = join(tmpdir(), `affectlab-test-synth-${count}-${size}-${seed}-${validationCount}`);
  await ensureSyntheticAffectNet({ out, count, size, seed, validationCount });
  return out;
}
