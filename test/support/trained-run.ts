import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExperiment } from '../../src/core/runner/experiment-run.js';
import { activateBackend, testRuntime } from './helpers.js';
import { smallSyntheticSet } from './synth.js';

/**
 * A tiny trained run for the commands that use one (predict, evaluate, export): a small
 * VGG-type net on the shared synthetic set, one epoch of `steps` steps, in `work`/runs.
 */
export async function tinyTrainedRun(
  work: string,
  name: string,
  options: {
    task?: string;
    imageSize?: number;
    channels?: 1 | 3;
    steps?: number;
    learningRate?: number;
    /** The architecture, YAML (default: a tiny VGG-type net). */
    architecture?: string;
    /** The reporters: list, YAML (default: the console without progress). */
    reporters?: string;
    /** `dataset.crop` (default: the dataset's, face-box). */
    crop?: 'face-box' | 'aligned' | 'full';
  } = {},
): Promise<{ runDir: string; synth: string; file: string; testMetrics: Record<string, number> }> {
  const synth = await smallSyntheticSet();
  await activateBackend();
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 5
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: report6
  task: ${options.task ?? 'classification'}
  imageSize: ${options.imageSize ?? 48}
  channels: ${options.channels ?? 3}${options.crop ? `\n  crop: ${options.crop}` : ''}
  split: { validationPerClass: 4, limit: { test: 36 } }
architecture: ${options.architecture ?? '{ type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }'}
training:
  epochs: 1
  batchSize: 8
  stepsPerEpoch: ${options.steps ?? 1}
  # the inference tests compare a run's own scores and tfjs predictions closely; with the graph
  # engine the run scores through TensorFlow's inference graph (differences ~1e-4 that move a
  # 36-image test set's AUC-PR by 1e-3; the browser page then differed from predict by 6e-4 -
  # not understood yet, see the stop 23 note)
  execution: eager
  optimizer: { type: adam, learningRate: ${options.learningRate ?? 0.003} }
reporters: ${options.reporters ?? '[{ type: console, progress: none }]'}
`,
  );
  const runtime = testRuntime();
  const resolved = await runtime.resolve(file);
  const result = await runExperiment(runtime, resolved, { cacheDir: join(work, 'cache') });
  if (result.status !== 'FINISHED') throw new Error(`tiny run ${name} ended ${result.status}`);
  return { runDir: result.runDir, synth, file, testMetrics: result.testMetrics ?? {} };
}
