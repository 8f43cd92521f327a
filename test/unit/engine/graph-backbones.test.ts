import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  EagerEngine,
  decideEngine,
  loadGraphModule,
  type GraphEngineModule,
  type StepTargets,
  type TrainingEngine,
} from '../../../src/core/engine/index.js';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { Logger, Random, RunContext } from '../../../src/sdk/services.js';
import { EfficientNetB0 } from '../../../src/plugins/architectures/efficientnet-b0.js';
import { MobileNetV2 } from '../../../src/plugins/architectures/mobilenet-v2.js';
import { activateBackend } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';

/**
 * MobileNetV2 and EfficientNet-B0 compiled by the graph engine against the eager engine (tfjs'
 * own layers, the reference): same initial weights, 20 SGD steps on noise (batch 8), then the
 * weights and predictions. As in the residual net's test (graph-engine.test.ts), later steps
 * are held to what rounding alone does: eager against itself from weights one rounding step
 * apart. Dropout is off (its masks come from other generators in the two engines); the lower
 * half of each base is frozen, so frozen batch normalisation runs in both modes.
 */

const BATCH = 8;
const STEPS = 20;
const classes = [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` }));
const task: Task = { kind: 'classification', classes };
const logger = new Logger();
logger.level = 'error';
const context = new RunContext('test', 'test.yaml', 1, '/nonexistent', '/nonexistent');
const options = {
  task,
  loss: lossSpecOf(),
  optimizer: optimizerOf({ type: 'sgd', learningRate: 0.002, momentum: 0.5 }),
  seed: 3,
};

const backbones: {
  name: string;
  size: number;
  /** The largest rounding floor at which the run still says something (else: chaotic). */
  chaosLimit: number;
  build: () => Promise<tf.LayersModel>;
}[] = [
  {
    name: 'mobilenet-v2',
    // at 32 px its last maps are 1x1, and batch statistics over 8 values make the run chaotic;
    // at 64 (2x2) a weight nudged by one rounding step already moves step 1's loss by ~1e-2
    // (0.013-0.024 measured, varying with TensorFlow's thread split under load; at 96 px too),
    // so its bounds stay 10x that floor and only a floor beyond 0.05 counts as chaotic
    size: 64,
    chaosLimit: 0.05,
    build: () =>
      new MobileNetV2(
        {
          weights: 'none',
          alpha: 1,
          trainableFraction: 0.5,
          pooling: 'avg',
          top: 'task',
          preprocess: 'tf',
          regressionHead: 'linear',
        },
        logger,
        context,
      ).build({ inputShape: [64, 64, 3], task }),
  },
  {
    name: 'efficientnet-b0',
    size: 32,
    chaosLimit: 0.02,
    build: () =>
      new EfficientNetB0(
        {
          weights: 'none',
          trainableFraction: 0.5,
          pooling: 'avg',
          top: 'task',
          dropout: 0,
          dropConnectRate: 0,
          regressionHead: 'linear',
        },
        logger,
        context,
      ).build({ inputShape: [32, 32, 3], task }),
  },
];

function batch(
  step: number,
  size: number,
): {
  x: Float32Array;
  shape: [number, number, number, number];
  targets: StepTargets;
} {
  const random = new Random(300 + step);
  return {
    x: Float32Array.from({ length: BATCH * size * size * 3 }, () => random.next()),
    shape: [BATCH, size, size, 3],
    targets: { classes: Int32Array.from({ length: BATCH }, (_, i) => (i + step) % 3) },
  };
}

async function train(engine: TrainingEngine, size: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const b = batch(s, size);
    losses.push((await engine.trainStep({ x: b.x, shape: b.shape }, b.targets, 1000 + s)).loss);
  }
  return losses;
}

/**
 * Fixed initial kernels: uniform within each kernel's random initial range, from a seeded
 * generator (tfjs' initialisers draw from Math.random). Constants and statistics stay.
 */
function seedWeights(model: tf.LayersModel, seed: number): void {
  const random = new Random(seed);
  model.setWeights(
    model.getWeights().map((w, i) => {
      const values = w.dataSync() as Float32Array;
      // statistics (batch and input normalisation) and constant initial values stay
      const statistic = /(mean|variance|count)$/.test(model.weights[i].originalName);
      if (statistic || values.every((v) => v === values[0])) return w.clone();
      const limit = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      return tf.tensor(
        Float32Array.from(values, () => (2 * random.next() - 1) * limit),
        w.shape,
      );
    }),
  );
}

const weightsOf = (m: tf.LayersModel) => m.weights.map((w) => w.read().dataSync() as Float32Array);

/** ||a - b|| / ||b|| over all weights. */
function relativeDistance(a: Float32Array[], b: Float32Array[]): number {
  let diff = 0;
  let norm = 0;
  b.forEach((w, i) =>
    w.forEach((v, k) => {
      diff += (a[i][k] - v) ** 2;
      norm += v * v;
    }),
  );
  return Math.sqrt(diff / norm);
}

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

let graph: GraphEngineModule;

describe('graph engine on the Keras Applications backbones', () => {
  before(async () => {
    await activateBackend();
    const m = await loadGraphModule();
    if (m instanceof Error) throw m;
    graph = m;
  });

  for (const backbone of backbones) {
    it(`${backbone.name}: execution auto picks the graph engine, which agrees with eager for ${STEPS} steps`, async (ctx) => {
      const [eagerModel, graphModel, nudgedModel] = [
        await backbone.build(),
        await backbone.build(),
        await backbone.build(),
      ];
      seedWeights(eagerModel, 21);
      graphModel.setWeights(eagerModel.getWeights());
      nudgedModel.setWeights(
        eagerModel.getWeights().map((w) => tf.tidy(() => w.mul(1 + 2 ** -23))),
      );
      const initial = weightsOf(eagerModel).map((w) => w.slice());

      const decision = await decideEngine('auto', 'tensorflow', graphModel, task, {
        optimizer: options.optimizer,
        losses: [options.loss.classification],
      });
      assert.equal(decision.kind, 'graph', decision.reason);

      const eager = new EagerEngine({ ...options, model: eagerModel });
      const nudged = new EagerEngine({ ...options, model: nudgedModel });
      const compiled = await graph.createGraphEngine({ ...options, model: graphModel });
      try {
        const eagerLosses = await train(eager, backbone.size);
        const graphLosses = await train(compiled, backbone.size);
        const nudgedLosses = await train(nudged, backbone.size);
        const scale = Math.max(...eagerLosses.map(Math.abs));
        const floorUpTo = (s: number) =>
          Math.max(...nudgedLosses.slice(0, s + 1).map((l, i) => Math.abs(l - eagerLosses[i]))) /
          scale;
        // a run that rounding alone sends elsewhere would prove nothing: the floor stays small
        assert.ok(
          floorUpTo(STEPS - 1) < backbone.chaosLimit,
          `rounding floor ${floorUpTo(STEPS - 1)}: chaotic`,
        );
        graphLosses.forEach((g, s) => {
          const d = Math.abs(g - eagerLosses[s]) / scale;
          // (deep batch-normalised nets part by 1e-5..1e-4 in the first forward pass already:
          // FusedBatchNormV3's variance against tfjs' moments)
          const bound = Math.max(1e-3, 10 * floorUpTo(s));
          assert.ok(
            d < bound,
            `step ${s}: ${d} > ${bound}\ngraph ${graphLosses}\neager ${eagerLosses}`,
          );
        });
        ctx.diagnostic(
          `losses ${eagerLosses[0].toFixed(4)} -> ${eagerLosses[STEPS - 1].toFixed(4)}; graph-eager ` +
            `${(Math.max(...graphLosses.map((g, s) => Math.abs(g - eagerLosses[s]))) / scale).toExponential(2)}, ` +
            `rounding floor ${floorUpTo(STEPS - 1).toExponential(2)}`,
        );
        // the losses must move, or agreeing proves nothing
        assert.ok(Math.abs(eagerLosses[STEPS - 1] - eagerLosses[0]) > 1e-3, `${eagerLosses}`);

        await compiled.syncToModel();
        await nudged.syncToModel();
        const [ew, gw, nw] = [weightsOf(eagerModel), weightsOf(graphModel), weightsOf(nudgedModel)];
        const relative = relativeDistance(gw, ew);
        const floor = relativeDistance(nw, ew);
        ctx.diagnostic(
          `weights: relative distance ${relative.toExponential(2)} (rounding floor ${floor.toExponential(2)})`,
        );
        assert.ok(floor < backbone.chaosLimit, `weights rounding floor ${floor}: chaotic`);
        assert.ok(relative < Math.max(1e-3, 10 * floor), `weights differ by ${relative}`);
        // frozen layers stay as they were in both engines; trained ones moved
        let moved = 0;
        graphModel.weights.forEach((w, i) => {
          const layer = graphModel.layers.find((l) => l.weights.includes(w));
          const change = maxRelative(gw[i], initial[i]);
          if (layer && !layer.trainable) assert.equal(change, 0, `${w.name} is frozen`);
          else if (change > 0) moved++;
        });
        assert.ok(moved > 10, `${moved} weights moved`);

        const x = batch(99, backbone.size);
        const [pe, pg, pn] = [
          await eager.predict(x),
          await compiled.predict(x),
          await nudged.predict(x),
        ];
        const bound = Math.max(1e-4, 10 * maxRelative(pn[0], pe[0]));
        assert.ok(maxRelative(pg[0], pe[0]) < bound, 'predictions');
      } finally {
        eager.dispose();
        nudged.dispose();
        compiled.dispose();
      }
    });
  }
});
