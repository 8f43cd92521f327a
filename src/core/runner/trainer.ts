import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../config/types.js';
import type { AugmentOptions, Example, Task } from '../../sdk/contracts/data.js';
import type { StepInputs, StepTargets, TrainingEngine } from '../engine/engine.js';
import { targetTensors, type TaskLoss } from '../engine/eager.js';
import { NonFiniteLossError } from '../training/loss.js';
import { hashSeed, type Logger } from '../../sdk/services.js';
import { seedInitialWeights, unseededNoiseLayers } from '../training/seeding.js';
import type { PartialEpoch } from './checkpoint.js';
import { isMixActive, mixStep } from '../pipeline/mix.js';

/**
 * One batch from the image pipeline: NHWC pixels (float32 in [0,1], or uint8 0-255 from
 * `uint8Batches`) and the examples they came from.
 */
export interface ImageBatch {
  x: Float32Array | Uint8Array;
  shape: [number, number, number, number];
  /** Indices into the example list given to `batches`. */
  indices: number[];
  /** The position in `order` after this batch's last example (skipped images included). */
  end?: number;
  /** Each image's augmentation parameters (training with augmentation; the step applies them). */
  augment?: Float32Array;
}

/** What the trainer needs from the image pipeline. */
export interface BatchSource {
  /**
   * Batches of `examples[order[i]]` for i from `from` (default 0), with the augmentation
   * parameters of image i drawn by i.
   */
  batches(
    examples: readonly Example[],
    order: readonly number[],
    batchSize: number,
    augment?: { options: AugmentOptions; seed: number },
    from?: number,
  ): AsyncIterable<ImageBatch>;
  /** The same batches as uint8 pixels, where the source can. */
  uint8Batches?(
    examples: readonly Example[],
    order: readonly number[],
    batchSize: number,
    augment?: { options: AugmentOptions; seed: number },
    from?: number,
  ): AsyncIterable<ImageBatch>;
}

/**
 * The batches for an engine: uint8 ones where the engine normalises itself (the same values,
 * without the JS conversion: the cache's bytes go straight into the batch), float32 otherwise or
 * when `floatBatches` says so. Augmentation happens in the engine's step either way.
 */
export function engineBatches(
  source: BatchSource,
  engine: TrainingEngine,
  examples: readonly Example[],
  order: readonly number[],
  batchSize: number,
  augment: { options: AugmentOptions; seed: number } | undefined,
  from: number,
  floatBatches = false,
): AsyncIterable<ImageBatch> {
  return engine.acceptsUint8 && source.uint8Batches && !floatBatches
    ? source.uint8Batches(examples, order, batchSize, augment, from)
    : source.batches(examples, order, batchSize, augment, from);
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

/** Targets of one batch from its examples: class indices, (valence, arousal), or both. */
export function targetsOf(
  task: Task,
  examples: readonly Example[],
  indices: readonly number[],
): StepTargets {
  const out: StepTargets = {};
  if (task.kind !== 'valence-arousal')
    out.classes = Int32Array.from(indices, (i) => examples[i].label);
  if (task.kind !== 'classification') {
    const va = new Float32Array(indices.length * 2);
    indices.forEach((i, r) => {
      va[2 * r] = examples[i].valence ?? 0;
      va[2 * r + 1] = examples[i].arousal ?? 0;
    });
    out.valenceArousal = va;
  }
  return out;
}

/**
 * Give a freshly built model its seeded initial weights (all but those loaded from files) and
 * say what stays unseeded; the engines seed dropout per step themselves (from `stepSeed`).
 */
export function seedModel(model: tf.LayersModel, seed: number, logger: Logger): void {
  const report = seedInitialWeights(model, seed);
  logger.debug(
    `initial weights: ${report.seeded} drawn from seed ${seed}, ${report.pretrained} loaded, ${report.fixed} constant`,
  );
  if (report.unseeded.length > 0)
    logger.warn(
      `initial weights: ${report.unseeded.length} weight(s) have an initialiser that takes no seed ` +
        `(${report.unseeded.slice(0, 3).join(', ')}): their initial values differ from run to run`,
    );
  const noise = unseededNoiseLayers(model);
  if (noise.length > 0)
    logger.warn(
      `layer(s) ${noise.join(', ')} draw noise without a seed: training with them does not repeat exactly, nor resume exactly`,
    );
}

/** The seed of one training step: a function of its position only, so a resume repeats it. */
export function stepSeed(seed: number, epoch: number, step: number): number {
  return hashSeed(seed, 'step', epoch, step);
}

export interface EpochResult {
  loss: number;
  accuracy?: number;
  images: number;
  seconds: number;
  steps: number;
  interrupted: boolean;
  /** Where a cut-short epoch stopped, for checkpoints/interrupted. */
  partial: PartialEpoch;
}

/**
 * A step's promise resolves as a microtask when the next batch is already prefetched, so a
 * loop of steps never lets the event loop run: SIGINT/SIGTERM handlers (and timers) would wait
 * for the end of the epoch. One macrotask turn per step lets them run between steps.
 */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Train one epoch on the engine; stops after the current step when `shouldStop()`. `resumeFrom`
 * continues an epoch that was cut short, from the order position and running sums it saved.
 */
export async function trainEpoch(args: {
  engine: TrainingEngine;
  task: Task;
  examples: readonly Example[];
  order: readonly number[];
  source: BatchSource;
  training: TrainingConfig;
  epoch: number;
  seed: number;
  augment?: AugmentOptions;
  resumeFrom?: PartialEpoch;
  /** Feed float32 batches even where the engine takes uint8 (to compare the two paths). */
  floatBatches?: boolean;
  shouldStop: () => boolean;
  onStep?: (p: StepProgress) => void;
}): Promise<EpochResult> {
  const { engine, task, examples, training, epoch } = args;
  const batchSize = training.batchSize;
  let order = args.order;
  if (training.stepsPerEpoch) order = order.slice(0, training.stepsPerEpoch * batchSize);
  const steps = Math.ceil(order.length / batchSize);
  const resumed = args.resumeFrom;
  const start = performance.now() - (resumed?.seconds ?? 0) * 1000;
  let lossSum = resumed?.lossSum ?? 0;
  let accSum = resumed?.accuracySum ?? 0;
  let hasAcc = resumed?.hasAccuracy ?? false;
  let images = resumed?.images ?? 0;
  let step = resumed?.steps ?? 0;
  let position = resumed?.position ?? 0;
  let interrupted = false;
  const augment = args.augment
    ? { options: args.augment, seed: hashSeed(args.seed, 'augment', epoch) }
    : undefined;
  // mixing draws its pairs and lambda from each step's seed; the engine mixes the pixels
  const mixing = args.augment && isMixActive(args.augment) ? args.augment : undefined;
  const partial = (): PartialEpoch => ({
    epoch,
    steps: step,
    position,
    lossSum,
    accuracySum: accSum,
    hasAccuracy: hasAcc,
    images,
    seconds: (performance.now() - start) / 1000,
  });
  if (!args.shouldStop() && position < order.length) {
    const batches = engineBatches(
      args.source,
      engine,
      examples,
      order,
      batchSize,
      augment,
      position,
      args.floatBatches,
    );
    for await (const batch of batches) {
      const seedOfStep = stepSeed(args.seed, epoch, step);
      let inputs: StepInputs = {
        x: batch.x,
        shape: batch.shape,
        ...(batch.augment ? { augment: batch.augment } : {}),
      };
      let targets = targetsOf(task, examples, batch.indices);
      if (mixing) ({ inputs, targets } = mixStep(mixing, inputs, targets, seedOfStep));
      const result = await engine.trainStep(inputs, targets, seedOfStep);
      if (!Number.isFinite(result.loss)) {
        throw new NonFiniteLossError(
          result.loss,
          `epoch ${epoch + 1}, step ${step + 1} of ${steps} (examples ${batch.indices
            .slice(0, 3)
            .map((i) => examples[i].source ?? examples[i].id)
            .join(', ')}...)`,
          step === 0 && epoch === 0
            ? 'the first step'
            : `the update of the step before (the weights diverged)`,
        );
      }
      const n = batch.indices.length;
      lossSum += result.loss * n;
      if (result.accuracy !== undefined) {
        accSum += result.accuracy * n;
        hasAcc = true;
      }
      images += n;
      step++;
      position = batch.end ?? position + n;
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
      await yieldToEventLoop();
      if (args.shouldStop()) {
        interrupted = step < steps;
        break;
      }
    }
  } else if (args.shouldStop()) {
    interrupted = position < order.length;
  }
  return {
    loss: images ? lossSum / images : NaN,
    accuracy: hasAcc ? accSum / images : undefined,
    images,
    seconds: (performance.now() - start) / 1000,
    steps: step,
    interrupted,
    partial: partial(),
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
  /** `shouldStop` said stop before every batch was predicted. */
  interrupted?: boolean;
}

/** Predict a split in order (no augmentation) and compute the mean loss on the way. */
export async function predictSplit(args: {
  engine: TrainingEngine;
  task: Task;
  examples: readonly Example[];
  source: BatchSource;
  batchSize: number;
  maxSteps?: number;
  floatBatches?: boolean;
  lossFn: TaskLoss;
  /** Checked after each batch (the event loop gets a turn first, for signal handlers). */
  shouldStop?: () => boolean;
}): Promise<Predictions> {
  const { engine, task, examples } = args;
  let order = examples.map((_, i) => i);
  if (args.maxSteps) order = order.slice(0, args.maxSteps * args.batchSize);
  const indices: number[] = [];
  const scores: Float32Array[] = [];
  const va: [number, number][] = [];
  let lossSum = 0;
  let interrupted = false;
  const k = task.classes.length;
  const batches = engineBatches(
    args.source,
    engine,
    examples,
    order,
    args.batchSize,
    undefined,
    0,
    args.floatBatches,
  );
  for await (const batch of batches) {
    const n = batch.indices.length;
    const outs = await engine.predict({ x: batch.x, shape: batch.shape });
    const lossValue = tf.tidy(() => {
      const pred = outs.map((o) => tf.tensor2d(o, [n, o.length / n]));
      const ys = targetTensors(task, targetsOf(task, examples, batch.indices), n);
      return args.lossFn(ys, pred.length === 1 ? pred[0] : pred).dataSync()[0];
    });
    lossSum += lossValue * n;
    for (const i of batch.indices) indices.push(i);
    const classOut = task.kind === 'valence-arousal' ? undefined : outs[0];
    const vaOut =
      task.kind === 'classification' ? undefined : outs[task.kind === 'valence-arousal' ? 0 : 1];
    for (let r = 0; r < n; r++) {
      if (classOut) scores.push(classOut.slice(r * k, (r + 1) * k));
      if (vaOut) va.push([vaOut[r * 2], vaOut[r * 2 + 1]]);
    }
    if (args.shouldStop) {
      await yieldToEventLoop();
      if (args.shouldStop() && indices.length < order.length) {
        interrupted = true;
        break;
      }
    }
  }
  return {
    indices,
    scores: task.kind === 'valence-arousal' ? undefined : scores,
    valenceArousal: task.kind === 'classification' ? undefined : va,
    loss: indices.length ? lossSum / indices.length : NaN,
    ...(interrupted ? { interrupted } : {}),
  };
}
