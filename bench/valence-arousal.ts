/**
 * The long valence/arousal run (7 epochs on 6,000 synthetic faces, about 100 s a seed on 2
 * cores), once per seed: the median RMSE over the seeds must fall well below the mean
 * predictor's. One seed is a single draw of initial weights and dropout masks (at seed 9
 * arousal came out 0.861x, at seeds 1-8 0.68-0.78x), so the bound holds the median. CI runs a
 * short version in test/integration/runner/valence-arousal.test.ts.
 * Usage: npm run bench:va [-- --seeds 5,6,7,8,9] [--execution graph|eager]
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runExperiment, type Runtime } from '../src/index.js';
import { activateBackend, tempDir, testRuntime } from '../test/support/helpers.js';
import { smallSyntheticSet } from '../test/support/synth.js';
import { baselineOf, readVaSplits, vaExperiment } from '../test/support/va-experiment.js';

const { values } = parseArgs({
  options: { seeds: { type: 'string', default: '5,6,7,8,9' }, execution: { type: 'string' } },
});
const seeds = values.seeds.split(',').map(Number);
if (seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0))
  throw new Error(`--seeds: non-negative integers separated by commas, not ${values.seeds}`);
if (values.execution !== undefined && !['graph', 'eager'].includes(values.execution))
  throw new Error(`--execution: graph or eager, not ${values.execution}`);
const execution = values.execution ? `  execution: ${values.execution}\n` : '';
const TARGETS = ['valence', 'arousal'] as const;

const work = tempDir('affectlab-bench-va-');
const synth = await smallSyntheticSet({ count: 6000, size: 48, seed: 21, validationCount: 330 });
await activateBackend();
const runtime = testRuntime();

/** One seed's run: RMSE / mean-predictor RMSE for valence and arousal, and its status. */
async function runSeed(runtime: Runtime, seed: number): Promise<{ ratios: number[]; ok: boolean }> {
  const resolved = await runtime.resolve(
    vaExperiment(
      work,
      synth,
      `va-${seed}`,
      'valence-arousal',
      'epochs: 7\n  batchSize: 32\n  optimizer: { type: adam, learningRate: 0.003 }\n' +
        execution +
        '  learningRate: { schedule: cosine }',
      'sampler: { type: up-sample, perClass: 300 }',
      seed,
    ),
  );
  const t0 = performance.now();
  const result = await runExperiment(runtime, resolved, { cacheDir: join(work, 'cache') });
  const seconds = (performance.now() - t0) / 1000;
  const splits = await readVaSplits(runtime, resolved, join(work, 'cache'));
  const ratios = TARGETS.map(
    (target) => (result.testMetrics?.[`test_${target}_rmse`] ?? NaN) / baselineOf(splits, target),
  );
  process.stdout.write(
    `valence-arousal, 7 epochs (seed ${seed}, ${values.execution ?? 'default'} engine): ` +
      `${seconds.toFixed(1)} s, RMSE / mean-predictor RMSE: ` +
      `valence ${ratios[0].toFixed(3)}, arousal ${ratios[1].toFixed(3)} (status ${result.status})\n`,
  );
  return { ratios, ok: result.status === 'FINISHED' };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const runs: { ratios: number[]; ok: boolean }[] = [];
for (const seed of seeds) runs.push(await runSeed(runtime, seed));
const medians = TARGETS.map((_, t) => median(runs.map((r) => r.ratios[t])));
process.stdout.write(
  `median over seeds ${seeds.join(', ')}: valence ${medians[0].toFixed(3)}, ` +
    `arousal ${medians[1].toFixed(3)} (bound: each < 0.85, their mean < 0.8)\n`,
);
// a model knowing each face's category: 0.27x, 0.38x
const ok =
  runs.every((r) => r.ok) && medians.every((r) => r < 0.85) && (medians[0] + medians[1]) / 2 < 0.8;
process.exitCode = ok ? 0 : 1;
