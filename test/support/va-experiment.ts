import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedExperiment, Runtime } from '../../src/index.js';

/**
 * The valence/arousal experiments of the test and of bench/valence-arousal.ts. A small VGG-type net on 48 px faces. Regression learns from far fewer bits per image than
 * classification, so the run needs more images than the classification tests: 6,000 rows,
 * the expression categories up-sampled (rare, high-arousal ones would otherwise be drowned by
 * Happy and Neutral), no dense dropout, a cosine learning-rate decay.
 */
export function vaExperiment(
  work: string,
  synth: string,
  name: string,
  task: string,
  training: string,
  sampler = '',
  seed = 9,
): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: ${seed}
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: affectnet11
  task: ${task}
  imageSize: 48
  split: { validationPerClass: 10 }
  augment: { flip: true, shift: 0, rotate: 0, brightness: 0, contrast: 0 }
${sampler}
architecture:
  type: vgg-type
  filters: [32, 64, 64, 64]
  dense: [64, 32]
  convDropout: 0.1
  denseDropout: 0
  regressionHead: tanh
  batchNormMomentum: 0.9
training:
  ${training}
reporters: [{ type: console, progress: none }]
`,
  );
  return file;
}

/** RMSE of always predicting the training set's mean: the bar a model must clear. */
export function meanBaselineRmse(train: number[], test: number[]): number {
  const mean = train.reduce((a, b) => a + b, 0) / train.length;
  return Math.sqrt(test.reduce((a, b) => a + (b - mean) ** 2, 0) / test.length);
}

type Labelled = { valence?: number; arousal?: number };
type LabelledSplits = { train: Labelled[]; test: Labelled[] };

/** The splits of a resolved experiment, read back through its dataset plugin. */
export async function readVaSplits(
  runtime: Runtime,
  resolved: ResolvedExperiment,
  cacheDir: string,
): Promise<LabelledSplits> {
  const scope = runtime.createRunContainer(resolved, cacheDir);
  return runtime
    .instantiate<{ prepare(): Promise<LabelledSplits> }>(scope, 'dataset', resolved.config.dataset)
    .prepare();
}

/** The mean predictor's test RMSE of one target (the mean taken over the training split). */
export const baselineOf = (splits: LabelledSplits, target: 'valence' | 'arousal'): number =>
  meanBaselineRmse(
    splits.train.map((e) => e[target] ?? 0),
    splits.test.map((e) => e[target] ?? 0),
  );
