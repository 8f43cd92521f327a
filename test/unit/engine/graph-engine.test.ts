import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../../../src/core/config/types.js';
import {
  EagerEngine,
  decideEngine,
  loadGraphModule,
  type EngineOptions,
  type GraphEngineModule,
  type LossSpec,
  type StepTargets,
  type TrainingEngine,
} from '../../../src/core/engine/index.js';
import type { Task } from '../../../src/core/plugin.js';
import { activateBackend } from '../../support/helpers.js';

/**
 * The graph engine against the eager one (tfjs' own trainOnBatch, the reference): same initial
 * weights, no dropout, 20 steps; then what only the graph engine has to get right on its own
 * (exact resume from its state, stateless dropout, frozen layers).
 */

const classes = [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` }));
const classification: Task = { kind: 'classification', classes };
const valenceArousal: Task = { kind: 'valence-arousal', classes: [] };
const multiTask: Task = { kind: 'expression+valence-arousal', classes };

const SIZE = 12;

/**
 * Every built-in layer the compiler knows, in a small residual net. No bias in front of batch
 * normalisation: its gradient is zero up to rounding, and Adam turns rounding-sized gradients
 * into learning-rate-sized steps, so that one weight would differ by chance between any two
 * correct implementations.
 */
function residualNet(task: Task, dropout = 0): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 2] });
  let x = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'conv_a' })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn_a' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: 'relu_a' }).apply(x) as tf.SymbolicTensor;
  const shortcut = x;
  let y = tf.layers.zeroPadding2d({ padding: 1, name: 'pad_b' }).apply(x) as tf.SymbolicTensor;
  y = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, activation: 'tanh', name: 'conv_b' })
    .apply(y) as tf.SymbolicTensor;
  x = tf.layers.add({ name: 'add' }).apply([shortcut, y]) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2, name: 'max' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.averagePooling2d({ poolSize: 2, name: 'avg' }).apply(x) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  let f = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
  f = tf.layers.dense({ units: 8, activation: 'relu', useBias: false, name: 'fc' }).apply(f) as tf.SymbolicTensor;
  f = tf.layers.batchNormalization({ name: 'bn_fc' }).apply(f) as tf.SymbolicTensor;
  f = tf.layers.dropout({ rate: dropout, name: 'drop' }).apply(f) as tf.SymbolicTensor;
  f = tf.layers.concatenate({ name: 'features' }).apply([f, pooled]) as tf.SymbolicTensor;
  const heads: tf.SymbolicTensor[] = [];
  if (task.kind !== 'valence-arousal') {
    const logits = tf.layers.dense({ units: 3, name: 'logits' }).apply(f) as tf.SymbolicTensor;
    heads.push(
      tf.layers
        .activation({ activation: 'softmax', name: 'expression' })
        .apply(logits) as tf.SymbolicTensor,
    );
  }
  if (task.kind !== 'classification')
    heads.push(
      tf.layers.dense({ units: 2, name: 'valence_arousal' }).apply(f) as tf.SymbolicTensor,
    );
  return tf.model({ inputs: input, outputs: heads });
}

function batch(step: number): {
  x: Float32Array;
  shape: [number, number, number, number];
  targets: StepTargets;
} {
  const n = 16;
  const x = Float32Array.from({ length: n * SIZE * SIZE * 2 }, (_, i) =>
    Math.sin(i * 0.37 + step * 1.3),
  );
  return {
    x,
    shape: [n, SIZE, SIZE, 2],
    targets: {
      classes: Int32Array.from({ length: n }, (_, i) => (i + step) % 3),
      valenceArousal: Float32Array.from({ length: 2 * n }, (_, i) => Math.cos(i + step) * 0.8),
    },
  };
}

async function train(engine: TrainingEngine, from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < to; s++) {
    const b = batch(s);
    losses.push((await engine.trainStep({ x: b.x, shape: b.shape }, b.targets, 1000 + s)).loss);
  }
  return losses;
}

const lossSpec = (o: Partial<LossSpec> = {}): LossSpec => ({
  regression: 'mse',
  expressionWeight: 1,
  regressionWeight: 1,
  ...o,
});

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return diff;
}

/** Largest |a - b| relative to the largest |b|, over all values. */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

let graph: GraphEngineModule;

async function twins(
  build: () => tf.LayersModel,
  options: Omit<EngineOptions, 'model'>,
): Promise<{
  eager: EagerEngine;
  graph: TrainingEngine;
  eagerModel: tf.LayersModel;
  graphModel: tf.LayersModel;
}> {
  const eagerModel = build();
  const graphModel = build();
  graphModel.setWeights(eagerModel.getWeights());
  return {
    eager: new EagerEngine({ ...options, model: eagerModel }),
    graph: await graph.createGraphEngine({ ...options, model: graphModel }),
    eagerModel,
    graphModel,
  };
}

const cases: {
  name: string;
  task: Task;
  loss: LossSpec;
  optimizer: TrainingConfig['optimizer'];
}[] = [
  {
    name: 'classification, class-weighted cross-entropy, adam',
    task: classification,
    loss: lossSpec({ classWeights: [0.5, 1.25, 1.25] }),
    optimizer: { type: 'adam', learningRate: 0.01 },
  },
  {
    name: 'classification, sgd',
    task: classification,
    loss: lossSpec(),
    optimizer: { type: 'sgd', learningRate: 0.05 },
  },
  {
    name: 'classification, sgd with momentum',
    task: classification,
    loss: lossSpec(),
    optimizer: { type: 'sgd', learningRate: 0.05, momentum: 0.9 },
  },
  {
    name: 'classification, rmsprop with momentum',
    task: classification,
    loss: lossSpec(),
    optimizer: { type: 'rmsprop', learningRate: 0.005, momentum: 0.5 },
  },
  {
    name: 'valence/arousal, 1 - CCC, adam',
    task: valenceArousal,
    loss: lossSpec({ regression: 'ccc' }),
    optimizer: { type: 'adam', learningRate: 0.01 },
  },
  {
    name: 'multi-task, weighted heads, mse, adam',
    task: multiTask,
    loss: lossSpec({ classWeights: [1, 2, 0.5], expressionWeight: 0.7, regressionWeight: 1.6 }),
    optimizer: { type: 'adam', learningRate: 0.01, beta1: 0.8, beta2: 0.99 },
  },
];

describe('graph engine', () => {
  before(async () => {
    await activateBackend();
    const m = await loadGraphModule();
    if (m instanceof Error) throw m;
    graph = m;
    assert.ok(graph.graphAddonStatus().available, JSON.stringify(graph.graphAddonStatus()));
  });

  for (const c of cases) {
    it(`agrees with eager for 20 steps: ${c.name}`, async () => {
      const t = await twins(() => residualNet(c.task), {
        task: c.task,
        loss: c.loss,
        optimizer: c.optimizer,
        seed: 3,
      });
      try {
        const eagerLosses = await train(t.eager, 0, 20);
        const graphLosses = await train(t.graph, 0, 20);
        assert.ok(
          relativeDifference(graphLosses, eagerLosses) < 1e-4,
          `${graphLosses}\n${eagerLosses}`,
        );
        // the losses must move, or agreeing proves nothing
        assert.ok(Math.abs(eagerLosses[19] - eagerLosses[0]) > 1e-3, `${eagerLosses}`);
        await t.graph.syncToModel();
        // relative to the model's weight scale: a bias in front of batch normalisation has a
        // gradient of zero up to rounding, so its own scale is rounding noise
        const ew = t.eagerModel.weights.map((w) => w.read().dataSync() as Float32Array);
        const gw = t.graphModel.weights.map((w) => w.read().dataSync() as Float32Array);
        const scale = Math.max(...ew.map((w) => w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
        ew.forEach((w, i) => {
          const d = maxAbsDifference(gw[i], w) / scale;
          assert.ok(d < 1e-4, `${t.eagerModel.weights[i].name}: relative difference ${d}`);
        });
        const x = batch(99);
        const [pe, pg] = [await t.eager.predict(x), await t.graph.predict(x)];
        pe.forEach((p, i) => assert.ok(relativeDifference(pg[i], p) < 1e-4, `prediction ${i}`));
      } finally {
        t.eager.dispose();
        t.graph.dispose();
      }
    });
  }
});
