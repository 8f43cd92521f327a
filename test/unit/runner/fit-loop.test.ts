import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { EagerEngine, taskLoss } from '../../../src/core/engine/index.js';
import type { DatasetSplits, Example } from '../../../src/sdk/contracts/data.js';
import type {
  TrainingCallback,
  TrainingControl,
  EpochEndInfo,
} from '../../../src/sdk/contracts/run.js';
import { Logger } from '../../../src/sdk/services.js';
import { CallbackList } from '../../../src/core/runner/callbacks.js';
import type { PartialEpoch } from '../../../src/core/runner/checkpoint.js';
import {
  FitLoop,
  type FitListener,
  type FitLoopOptions,
} from '../../../src/core/runner/fit-loop.js';
import type { BatchSource, ImageBatch } from '../../../src/core/runner/trainer.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { CheckpointListener } from '../../../src/core/runner/run-listeners.js';
import { activateBackend, tempDir } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';

/**
 * The fit loop on its own: a real eager engine and a two-layer net on 4x4 images held in
 * memory, listeners that write down what they hear.
 */

const classes = [0, 1].map((i) => ({ index: i, code: i, name: `c${i}` }));
const task = { kind: 'classification' as const, classes };
const examples = (n: number, prefix: string): Example[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    imagePath: `${prefix}${i}`,
    label: i % 2,
  }));

const splits: DatasetSplits = {
  task,
  image: { height: 4, width: 4, channels: 1 },
  train: examples(24, 't'),
  validation: examples(8, 'v'),
  test: [],
  badRecords: { total: 0, byReason: {}, examples: [] },
  description: {},
};

/** Each example's pixels: its label's brightness, so there is something to learn. */
const source: BatchSource = {
  async *batches(list, order, batchSize, _augment, from = 0): AsyncIterable<ImageBatch> {
    for (let start = from; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const x = new Float32Array(indices.length * 16);
      indices.forEach((e, k) => x.fill(list[e].label === 1 ? 0.8 : 0.2, k * 16, k * 16 + 16));
      yield { x, shape: [indices.length, 4, 4, 1], indices, end: start + indices.length };
    }
  },
};

function model(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 1] });
  const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(flat);
  return tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
}

/** Keeps epoch 0 as best, stops training after `stopAfter`. */
function callbacks(stopAfter: number): CallbackList {
  const callback: TrainingCallback = {
    onEpochEnd(info: EpochEndInfo, control: TrainingControl) {
      if (info.epoch === 0) control.keepAsBest();
      if (info.epoch === stopAfter) control.stopTraining('enough');
    },
  };
  return new CallbackList([{ ref: { type: 'test' }, callback }]);
}

function recorder(name: string, heard: string[]): FitListener {
  return {
    epochEnded: ({ epoch, metrics, decision }) => {
      heard.push(`${name}.end ${epoch} best=${decision.keepAsBest}`);
      assert.deepEqual(Object.keys(metrics).slice(0, 2), ['loss', 'accuracy']);
      assert.ok('val_loss' in metrics && 'val_accuracy' in metrics, Object.keys(metrics).join());
    },
    interrupted: (epoch: number, partial: PartialEpoch) =>
      void heard.push(`${name}.interrupted ${epoch} after ${partial.steps}`),
    stopped: (epoch, reason) => void heard.push(`${name}.stopped ${epoch} ${reason}`),
  };
}

function eagerEngine(net: tf.LayersModel = model()): EagerEngine {
  return new EagerEngine({
    model: net,
    task,
    loss: lossSpecOf(),
    optimizer: optimizerOf({ type: 'adam', learningRate: 0.05 }),
    seed: 1,
  });
}

function loop(
  listeners: FitListener[],
  stopAfter: number,
  stopSignal: { stop: boolean; reason?: string },
  onStep: (step: number) => void = () => {},
  engine: EagerEngine = eagerEngine(),
  overrides: Partial<FitLoopOptions> = {},
): FitLoop {
  const lossSpec = lossSpecOf();
  const logger = new Logger();
  logger.level = 'error';
  return new FitLoop({
    engine,
    splits,
    source,
    training: { epochs: 4, batchSize: 8 } as never,
    seed: 1,
    order: () => splits.train.map((_, i) => i),
    callbacks: callbacks(stopAfter),
    lossFn: taskLoss(task, lossSpec),
    stopSignal,
    onStep: (p) => onStep(p.step),
    listeners,
    logger,
    ...overrides,
  });
}

describe('fit loop', () => {
  before(async () => {
    await activateBackend();
  });

  it('calls its listeners in order after each epoch, and once more when a callback stops it', async () => {
    const heard: string[] = [];
    const result = await loop([recorder('a', heard), recorder('b', heard)], 1, {
      stop: false,
    }).fit(0);
    assert.deepEqual(result, { status: 'FINISHED' });
    assert.deepEqual(heard, [
      'a.end 0 best=true',
      'b.end 0 best=true',
      'a.end 1 best=false',
      'b.end 1 best=false',
      'a.stopped 1 enough',
      'b.stopped 1 enough',
    ]);
  });

  it('a stop signal mid-epoch ends the loop KILLED; listeners hear where it was cut', async () => {
    const heard: string[] = [];
    const signal = { stop: false as boolean, reason: undefined as string | undefined };
    const result = await loop([recorder('a', heard)], 9, signal, (step) => {
      if (step === 2) Object.assign(signal, { stop: true, reason: 'SIGINT' });
    }).fit(1);
    assert.equal(result.status, 'KILLED');
    assert.equal(result.failure, 'stopped by SIGINT in epoch 2 after step 2');
    assert.deepEqual(heard, ['a.interrupted 1 after 2']);
  });

  it("a stop signal during validation ends the loop KILLED with the epoch's training whole; resuming validates it", async () => {
    const seeded = (): tf.LayersModel => {
      const input = tf.input({ shape: [4, 4, 1] });
      const flat = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
      const dense = tf.layers.dense({
        units: 2,
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }),
      });
      return tf.model({ inputs: input, outputs: dense.apply(flat) as tf.SymbolicTensor });
    };
    const epochMetrics = (into: Record<number, Record<string, number>>): FitListener => ({
      epochEnded: ({ epoch, metrics }) => void (into[epoch] = metrics),
    });
    // batches of 4: validation takes two, so a signal after the first cuts it short
    const training = { epochs: 4, batchSize: 4 } as never;
    const straight: Record<number, Record<string, number>> = {};
    await loop([epochMetrics(straight)], 1, { stop: false }, () => {}, eagerEngine(seeded()), {
      training,
    }).fit(0);

    // the signal arrives while epoch 1's validation reads its first batch
    const signal = { stop: false as boolean, reason: undefined as string | undefined };
    let epoch = 0;
    let cutAt: PartialEpoch | undefined;
    const heard: string[] = [];
    const cut: Record<number, Record<string, number>> = {};
    const stopping: BatchSource = {
      async *batches(list, order, batchSize, augment, from): AsyncIterable<ImageBatch> {
        for await (const batch of source.batches(list, order, batchSize, augment, from)) {
          if (list === splits.validation && epoch === 1)
            Object.assign(signal, { stop: true, reason: 'SIGINT' });
          yield batch;
        }
      },
    };
    const engine = eagerEngine(seeded());
    const listeners: FitListener[] = [
      recorder('a', heard),
      epochMetrics(cut),
      {
        epochEnded: () => void epoch++,
        interrupted: (_e, partial) => void (cutAt = partial),
      },
    ];
    const result = await loop(listeners, 1, signal, () => {}, engine, {
      training,
      source: stopping,
    }).fit(0);
    assert.equal(result.status, 'KILLED');
    assert.equal(result.failure, "stopped by SIGINT in epoch 2's validation");
    assert.deepEqual(heard, ['a.end 0 best=true', 'a.interrupted 1 after 6']);
    assert.equal(cutAt?.position, splits.train.length, 'the whole epoch was trained');

    // --resume: the same weights, epoch 1 from the partial: no step, only the validation
    let steps = 0;
    await loop([epochMetrics(cut)], 1, { stop: false }, () => steps++, engine, { training }).fit(
      1,
      cutAt,
    );
    assert.equal(steps, 0);
    assert.deepEqual(cut[1], straight[1]);
  });

  it("the checkpoint listener restores the best epoch's weights for evaluation, and copies its model", async () => {
    const net = model();
    const engine = eagerEngine(net);
    const store = new RunStore(tempDir());
    const checkpoints = new CheckpointListener(store, net, engine, callbacks(9));
    const weights = (): number[] => net.getWeights().flatMap((w) => [...w.dataSync()]);
    let atBest: number[] = [];
    const snapshot: FitListener = {
      epochEnded: ({ epoch }) => void (epoch === 0 && (atBest = weights())),
    };
    // epoch 0 kept as best, training goes on to epoch 2
    await loop([checkpoints, snapshot], 2, { stop: false }, () => {}, engine).fit(0);
    assert.equal(checkpoints.bestEpoch, 0);
    const trained = weights();
    assert.notDeepEqual(trained, atBest, 'training moved the weights after the best epoch');
    assert.equal(await checkpoints.restoreForEvaluation(), 0);
    assert.deepEqual(weights(), atBest);
    const modelFiles = (dir: string): Buffer[] =>
      readdirSync(dir)
        .sort()
        .map((f) => readFileSync(join(dir, f)));
    checkpoints.copyEvaluatedModel(store.path('model'));
    assert.deepEqual(
      modelFiles(store.path('model')),
      modelFiles(store.path('checkpoints/best/model')),
    );

    // no best checkpoint (no model-checkpoint callback): the weights in hand are evaluated, the
    // last checkpoint's model kept
    rmSync(store.path('checkpoints/best'), { recursive: true });
    rmSync(store.path('model'), { recursive: true });
    assert.equal(await checkpoints.restoreForEvaluation(), undefined);
    assert.deepEqual(weights(), atBest);
    checkpoints.copyEvaluatedModel(store.path('model'));
    assert.deepEqual(
      modelFiles(store.path('model')),
      modelFiles(store.path('checkpoints/last/model')),
    );
  });
});
