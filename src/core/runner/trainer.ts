import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../config/types.js';
import type { AugmentOptions, Example, Task } from '../plugin.js';
import { Random, hashSeed } from '../services.js';
import { assertFiniteLoss } from '../loss.js';

/** One batch from the image pipeline: NHWC float32 pixels and the examples they came from. */
export interface ImageBatch {
  x: Float32Array;
  shape: [number, number, number, number];
  /** Indices into the example list given to `batches`. */
  indices: number[];
}

/** What the trainer needs from the image pipeline. */
export interface BatchSource {
  batches(
    examples: readonly Example[],
    order: readonly number[],
    batchSize: number,
    augment?: { options: AugmentOptions; seed: number },
  ): AsyncIterable<ImageBatch>;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  accuracy?: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

/** Targets for one batch: one-hot classes, (valence, arousal), or both. */
export function targetsFor(
  task: Task,
  examples: readonly Example[],
  indices: readonly number[],
): tf.Tensor | tf.Tensor[] {
  const n = indices.length;
  const classes = (): tf.Tensor =>
    tf.tidy(() =>
      tf
        .oneHot(
          tf.tensor1d(
            indices.map((i) => examples[i].label),
            'int32',
          ),
          task.classes.length,
        )
        .toFloat(),
    );
  const va = (): tf.Tensor =>
    tf.tensor2d(
      indices.flatMap((i) => [examples[i].valence ?? 0, examples[i].arousal ?? 0]),
      [n, 2],
    );
  if (task.kind === 'classification') return classes();
  if (task.kind === 'valence-arousal') return va();
  return [classes(), va()];
}

/**
 * Math.random drives tfjs' initialisers and dropout masks. Seeding it per epoch makes a run
 * repeatable and lets a resumed run draw the same masks as an uninterrupted one.
 */
export function seedMathRandom(seed: number, ...labels: (string | number)[]): () => void {
  const original = Math.random;
  const rng = Random.fork(seed, ...labels);
  Math.random = () => rng.next();
  return () => {
    Math.random = original;
  };
}

export interface EpochResult {
  loss: number;
  accuracy?: number;
  images: number;
  seconds: number;
  steps: number;
  interrupted: boolean;
}

/** Train one epoch with trainOnBatch; stops early (after the current step) when `shouldStop()`. */
export async function trainEpoch(args: {
  model: tf.LayersModel;
  task: Task;
  examples: readonly Example[];
  order: readonly number[];
  source: BatchSource;
  training: TrainingConfig;
  epoch: number;
  seed: number;
  augment?: AugmentOptions;
  shouldStop: () => boolean;
  onStep?: (p: StepProgress) => void;
}): Promise<EpochResult> {
  const { model, task, examples, training, epoch } = args;
  const batchSize = training.batchSize;
  let order = args.order;
  if (training.stepsPerEpoch) order = order.slice(0, training.stepsPerEpoch * batchSize);
  const steps = Math.ceil(order.length / batchSize);
  const start = performance.now();
  let lossSum = 0;
  let accSum = 0;
  let hasAcc = false;
  let images = 0;
  let step = 0;
  let interrupted = false;
  const augment = args.augment
    ? { options: args.augment, seed: hashSeed(args.seed, 'augment', epoch) }
    : undefined;
  for await (const batch of args.source.batches(examples, order, batchSize, augment)) {
    const xs = tf.tensor4d(batch.x, batch.shape);
    const ys = targetsFor(task, examples, batch.indices);
    let out: number | number[];
    try {
      out = await model.trainOnBatch(xs, ys);
    } finally {
      xs.dispose();
      tf.dispose(ys);
    }
    const values = Array.isArray(out) ? out : [out];
    const loss = values[0];
    assertFiniteLoss(
      loss,
      `epoch ${epoch + 1}, step ${step + 1} (examples ${batch.indices
        .slice(0, 3)
        .map((i) => examples[i].source ?? examples[i].id)
        .join(', ')}...)`,
    );
    const n = batch.indices.length;
    lossSum += loss * n;
    if (task.kind === 'classification' && values.length > 1) {
      accSum += values[1] * n;
      hasAcc = true;
    }
    images += n;
    step++;
    const seconds = (performance.now() - start) / 1000;
    const rate = images / Math.max(seconds, 1e-9);
    args.onStep?.({
      epoch,
      epochs: training.epochs,
      step,
      steps,
      loss: lossSum / images,
      accuracy: hasAcc ? accSum / images : undefined,
      imagesPerSecond: rate,
      etaSeconds: ((steps - step) * batchSize) / Math.max(rate, 1e-9),
    });
    if (args.shouldStop()) {
      interrupted = step < steps;
      break;
    }
  }
  return {
    loss: images ? lossSum / images : NaN,
    accuracy: hasAcc ? accSum / images : undefined,
    images,
    seconds: (performance.now() - start) / 1000,
    steps: step,
    interrupted,
  };
}

export interface Predictions {
  /** Indices into the examples, in the order predicted. */
  indices: number[];
  /** Class scores per example (classification and multi-task). */
  scores?: Float32Array[];
  /** [valence, arousal] per example (regression and multi-task). */
  valenceArousal?: [number, number][];
  /** Mean loss under the training loss. */
  loss: number;
}

/** Predict a split in order (no augmentation) and compute the mean loss on the way. */
export async function predictSplit(args: {
  model: tf.LayersModel;
  task: Task;
  examples: readonly Example[];
  source: BatchSource;
  batchSize: number;
  maxSteps?: number;
  lossFn: (yTrue: tf.Tensor | tf.Tensor[], yPred: tf.Tensor | tf.Tensor[]) => tf.Scalar;
}): Promise<Predictions> {
  const { model, task, examples } = args;
  let order = examples.map((_, i) => i);
  if (args.maxSteps) order = order.slice(0, args.maxSteps * args.batchSize);
  const indices: number[] = [];
  const scores: Float32Array[] = [];
  const va: [number, number][] = [];
  let lossSum = 0;
  for await (const batch of args.source.batches(examples, order, args.batchSize)) {
    const n = batch.indices.length;
    const [lossValue, outs] = tf.tidy(() => {
      const xs = tf.tensor4d(batch.x, batch.shape);
      const pred = model.predict(xs) as tf.Tensor | tf.Tensor[];
      const ys = targetsFor(task, examples, batch.indices);
      const l = args.lossFn(ys, pred);
      const list = Array.isArray(pred) ? pred : [pred];
      return [l.dataSync()[0], list.map((t) => t.dataSync() as Float32Array)] as const;
    });
    lossSum += lossValue * n;
    indices.push(...batch.indices);
    const classOut = task.kind === 'valence-arousal' ? undefined : outs[0];
    const vaOut =
      task.kind === 'classification' ? undefined : outs[task.kind === 'valence-arousal' ? 0 : 1];
    const k = task.classes.length;
    for (let r = 0; r < n; r++) {
      if (classOut) scores.push(classOut.slice(r * k, (r + 1) * k));
      if (vaOut) va.push([vaOut[r * 2], vaOut[r * 2 + 1]]);
    }
  }
  return {
    indices,
    scores: task.kind === 'valence-arousal' ? undefined : scores,
    valenceArousal: task.kind === 'classification' ? undefined : va,
    loss: indices.length ? lossSum / indices.length : NaN,
  };
}
