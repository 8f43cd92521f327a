import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  EagerEngine,
  loadGraphModule,
  type EngineOptions,
  type GraphEngineModule,
  type TrainingEngine,
} from '../../../src/core/engine/index.js';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { stepSeed } from '../../../src/core/runner/trainer.js';
import { saveModel } from '../../../src/core/training/model-io.js';
import {
  DropoutSeeds,
  initialWeightSeed,
  markPretrained,
  seedInitialWeights,
  unseededNoiseLayers,
} from '../../../src/core/training/seeding.js';
import { loadWeightsByLayerName } from '../../../src/plugins/architectures/weights.js';
import { activateBackend, tempDir } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';

/**
 * Initial weights and dropout masks are drawn from explicit seeds, never from Math.random:
 * whatever else calls Math.random while a model is built or trained (a timer, a callback
 * between steps, a layer of a plugin) changes nothing, the same seed repeats bit for bit, and
 * another seed differs.
 */

const task: Task = {
  kind: 'classification',
  classes: [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` })),
};
const loss = lossSpecOf();

/**
 * Stands for any code that calls Math.random while the model is built and while each step
 * runs (a plugin's layer): `calls` draws in build() and in every call().
 */
class MathRandomCaller extends tf.layers.Layer {
  static readonly className = 'MathRandomCaller';
  constructor(private readonly calls: number) {
    super({ name: 'math_random_caller' });
  }
  override build(): void {
    for (let i = 0; i < this.calls; i++) Math.random();
    this.built = true;
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    for (let i = 0; i < this.calls; i++) Math.random();
    return Array.isArray(inputs) ? inputs[0] : inputs;
  }
}

/**
 * Every kind of random initialiser tfjs has (glorotNormal is tfjs' default for conv and dense
 * kernels), two dropout layers, and with `callerCalls` a layer that calls Math.random that
 * many times.
 */
function model(callerCalls?: number): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 1], name: 'input' });
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) =>
    layer.apply(x) as tf.SymbolicTensor;
  let x = apply(
    tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv_glorot', activation: 'relu' }),
    input,
  );
  if (callerCalls !== undefined) x = apply(new MathRandomCaller(callerCalls), x);
  x = apply(
    tf.layers.conv2d({
      filters: 4,
      kernelSize: 3,
      name: 'conv_he',
      kernelInitializer: 'heNormal',
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1 }),
    }),
    x,
  );
  x = apply(tf.layers.batchNormalization({ name: 'bn' }), x);
  x = apply(tf.layers.dropout({ rate: 0.4, name: 'drop_conv' }), x);
  x = apply(tf.layers.flatten({ name: 'flat' }), x);
  x = apply(
    tf.layers.dense({
      units: 12,
      name: 'fc_orthogonal',
      activation: 'tanh',
      kernelInitializer: 'orthogonal',
      biasInitializer: tf.initializers.truncatedNormal({ stddev: 0.05 }),
    }),
    x,
  );
  x = apply(tf.layers.dropout({ rate: 0.5, name: 'drop_fc' }), x);
  const out = apply(
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      name: 'out',
      kernelInitializer: tf.initializers.randomNormal({ stddev: 0.2 }),
    }),
    x,
  );
  return tf.model({ inputs: input, outputs: out });
}

function batch(step: number) {
  const n = 6;
  const x = Float32Array.from({ length: n * 64 }, (_, i) => Math.sin(i * 0.37 + step));
  return {
    inputs: { x, shape: [n, 8, 8, 1] as [number, number, number, number] },
    targets: { classes: Int32Array.from({ length: n }, (_, i) => (i + step) % 3) },
  };
}

const values = (m: tf.LayersModel): number[][] =>
  m.getWeights().map((w) => Array.from(w.dataSync()));

interface Trained {
  initial: number[][];
  losses: number[];
  weights: number[][];
}

type EngineFactory = (options: EngineOptions) => Promise<TrainingEngine>;

/**
 * Build, seed and train 6 steps while Math.random is called `interference` times: from a timer
 * firing as often as it can while training runs, from an async callback between steps, and
 * with `caller` in a layer of the model itself (when it is built and in every step; the layer
 * is there with `caller` even when `interference` is 0).
 */
async function run(
  create: EngineFactory,
  seed: number,
  { interference = 0, caller = false, runSeed = seed } = {},
): Promise<Trained> {
  const timer = interference
    ? setInterval(() => {
        for (let i = 0; i < interference; i++) Math.random();
      }, 0)
    : undefined;
  try {
    const m = model(caller ? interference : undefined);
    seedInitialWeights(m, seed);
    const initial = values(m);
    const engine = await create({
      model: m,
      task,
      loss,
      optimizer: optimizerOf({ type: 'adam', learningRate: 0.01 }),
      seed,
    });
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      const b = batch(step);
      losses.push((await engine.trainStep(b.inputs, b.targets, stepSeed(runSeed, 0, step))).loss);
      if (interference) {
        await new Promise((resolve) => setImmediate(resolve));
        for (let i = 0; i < interference; i++) Math.random();
      }
    }
    await engine.syncToModel();
    const trained = { initial, losses, weights: values(m) };
    engine.dispose();
    m.dispose();
    return trained;
  } finally {
    clearInterval(timer);
  }
}

/** Math.random calls made while `fn` runs. */
async function mathRandomCalls<T>(fn: () => Promise<T>): Promise<{ calls: number; result: T }> {
  const original = Math.random;
  let calls = 0;
  Math.random = () => {
    calls++;
    return original();
  };
  try {
    const result = await fn();
    return { calls, result };
  } finally {
    Math.random = original;
  }
}

describe('determinism without Math.random', () => {
  before(async () => {
    await activateBackend();
    tf.serialization.registerClass(MathRandomCaller);
  });

  it("initial weights are what each layer's initialiser gives with the seed of (run seed, layer position, weight name)", () => {
    const m = model();
    const seedOf = (weight: string) => {
      const [layer, name] = weight.split('/');
      return initialWeightSeed(
        11,
        m.layers.findIndex((l) => l.name === layer),
        name,
      );
    };
    const report = seedInitialWeights(m, 11);
    // kernels of conv_glorot, conv_he, fc_orthogonal, out; biases of conv_he and fc_orthogonal
    assert.deepEqual(report, { seeded: 6, pretrained: 0, fixed: 6, unseeded: [] });
    const expected: Record<string, ReturnType<typeof tf.initializers.zeros>> = {
      'conv_glorot/kernel': tf.initializers.glorotNormal({
        seed: seedOf('conv_glorot/kernel'),
      }),
      'conv_he/kernel': tf.initializers.heNormal({ seed: seedOf('conv_he/kernel') }),
      'conv_he/bias': tf.initializers.randomUniform({
        minval: -0.1,
        maxval: 0.1,
        seed: seedOf('conv_he/bias'),
      }),
      'fc_orthogonal/kernel': tf.initializers.orthogonal({
        seed: seedOf('fc_orthogonal/kernel'),
      }),
      'fc_orthogonal/bias': tf.initializers.truncatedNormal({
        stddev: 0.05,
        seed: seedOf('fc_orthogonal/bias'),
      }),
      'out/kernel': tf.initializers.randomNormal({
        stddev: 0.2,
        seed: seedOf('out/kernel'),
      }),
    };
    for (const weight of m.weights) {
      const init = expected[weight.originalName];
      const actual = Array.from(weight.read().dataSync());
      if (init) {
        const want = tf.tidy(() => Array.from(init.apply(weight.shape as number[]).dataSync()));
        assert.deepEqual(actual, want, weight.originalName);
      } else {
        // zeros and ones stay as they were built
        const constant = /moving_variance|gamma/.test(weight.originalName) ? 1 : 0;
        assert.ok(
          actual.every((v) => v === constant),
          weight.originalName,
        );
      }
    }
    m.dispose();
  });

  it('seeding draws nothing from Math.random, and same seed repeats while another differs', async () => {
    const a = model();
    const b = model();
    const c = model();
    const seeded = await mathRandomCalls(async () => {
      seedInitialWeights(a, 5);
      seedInitialWeights(b, 5);
      seedInitialWeights(c, 6);
    });
    assert.equal(seeded.calls, 0);
    assert.deepEqual(values(a), values(b));
    const differing = values(a).filter((w, i) => w.some((v, j) => v !== values(c)[i][j]));
    assert.equal(differing.length, 6, 'every randomly initialised weight changes with the seed');
    for (const m of [a, b, c]) m.dispose();
  });

  it('the same architecture with automatic layer names, built again in the same process, gets the same weights', () => {
    // tfjs names these dense_Dense<n> with a counter across the process
    const build = () =>
      tf.sequential({
        layers: [tf.layers.dense({ inputShape: [5], units: 4 }), tf.layers.dense({ units: 2 })],
      });
    const first = build();
    const second = build();
    assert.notEqual(first.layers[0].name, second.layers[0].name);
    seedInitialWeights(first, 8);
    seedInitialWeights(second, 8);
    assert.deepEqual(values(second), values(first));
    first.dispose();
    second.dispose();
  });

  it('weights loaded from a file are kept; the randomly initialised rest is seeded', async () => {
    const dir = join(tempDir(), 'pretrained');
    const source = model();
    seedInitialWeights(source, 99);
    await saveModel(source, dir);
    const m = model();
    const loadedLayers = m.layers.filter((l) => l.name === 'conv_glorot' || l.name === 'conv_he');
    loadWeightsByLayerName(loadedLayers, dir);
    const report = seedInitialWeights(m, 1);
    assert.equal(report.pretrained, 4);
    assert.equal(report.seeded, 3);
    const byName = (x: tf.LayersModel, name: string) =>
      Array.from(
        x.weights
          .find((w) => w.originalName === name)!
          .read()
          .dataSync(),
      );
    for (const name of ['conv_glorot/kernel', 'conv_glorot/bias', 'conv_he/kernel', 'conv_he/bias'])
      assert.deepEqual(byName(m, name), byName(source, name), `${name} as loaded`);
    const fresh = model();
    seedInitialWeights(fresh, 1);
    assert.deepEqual(
      byName(m, 'out/kernel'),
      byName(fresh, 'out/kernel'),
      'out/kernel from seed 1',
    );
    // marking by hand does the same
    const other = model();
    markPretrained(other.layers.find((l) => l.name === 'out')!.weights);
    const before = byName(other, 'out/kernel');
    seedInitialWeights(other, 1);
    assert.deepEqual(byName(other, 'out/kernel'), before);
    for (const x of [source, m, fresh, other]) x.dispose();
  });

  it('layers whose noise takes no seed are named', () => {
    const input = tf.input({ shape: [4] });
    const noisy = tf.layers
      .gaussianNoise({ stddev: 0.1, name: 'noise' })
      .apply(input) as tf.SymbolicTensor;
    const m = tf.model({
      inputs: input,
      outputs: tf.layers.dense({ units: 2, name: 'd' }).apply(noisy) as tf.SymbolicTensor,
    });
    assert.deepEqual(unseededNoiseLayers(m), ['noise (GaussianNoise)']);
    assert.deepEqual(unseededNoiseLayers(model()), []);
  });

  const eager: EngineFactory = async (options) => new EagerEngine(options);

  it('eager: a training step draws nothing from Math.random and restores the dropout seeds', async () => {
    const m = model();
    seedInitialWeights(m, 3);
    const engine = new EagerEngine({
      model: m,
      task,
      loss,
      optimizer: optimizerOf({ type: 'sgd', learningRate: 0.1 }),
      seed: 3,
    });
    const b = batch(0);
    const stepped = await mathRandomCalls(() => engine.trainStep(b.inputs, b.targets, 1234));
    assert.equal(stepped.calls, 0);
    for (const layer of m.layers.filter((l) => l.getClassName() === 'Dropout'))
      assert.equal(
        layer.getConfig().seed,
        undefined,
        `${layer.name}: the seed is the user's again`,
      );
    engine.dispose();
    m.dispose();
  });

  it('eager: dropout masks come from the step seed: same seed same step, another seed another mask', async () => {
    const m = model();
    seedInitialWeights(m, 3);
    // learning rate 0: the weights stay, so only the masks can change the loss
    const engine = new EagerEngine({
      model: m,
      task,
      loss,
      optimizer: optimizerOf({ type: 'sgd', learningRate: 0 }),
      seed: 3,
    });
    const b = batch(1);
    const lossAt = async (seed: number) => (await engine.trainStep(b.inputs, b.targets, seed)).loss;
    const first = await lossAt(stepSeed(3, 0, 0));
    assert.equal(await lossAt(stepSeed(3, 0, 0)), first);
    const others = [await lossAt(stepSeed(3, 0, 1)), await lossAt(stepSeed(3, 1, 0))];
    assert.ok(
      others.every((l) => l !== first),
      `${others.join(', ')} vs ${first}`,
    );
    assert.notEqual(DropoutSeeds.seedOf(7, 0), DropoutSeeds.seedOf(7, 1));
    engine.dispose();
    m.dispose();
  });

  const engines: [string, () => Promise<EngineFactory | undefined>][] = [
    ['eager', async () => eager],
    [
      'graph',
      async () => {
        const graph = await loadGraphModule();
        if (graph instanceof Error || !graph.graphAddonStatus().available) return undefined;
        return (options) => (graph as GraphEngineModule).createGraphEngine(options);
      },
    ],
  ];
  for (const [name, factory] of engines) {
    it(`${name}: Math.random called in a layer, a timer and between steps changes nothing; the same seed repeats, another differs`, async (ctx) => {
      const create = await factory();
      if (!create) {
        ctx.skip('the graph engine needs the native backend and its addon');
        return;
      }
      // the graph compiler does not know the Math.random layer: timer and callback only
      const caller = name === 'eager';
      const quiet = await run(create, 21, { caller });
      const noisy = await run(create, 21, { interference: 50, caller });
      assert.deepEqual(noisy.initial, quiet.initial, 'initial weights');
      assert.deepEqual(noisy.losses, quiet.losses, 'losses');
      assert.deepEqual(noisy.weights, quiet.weights, 'trained weights');
      assert.deepEqual(await run(create, 21, { caller }), quiet, 'the same seed, bit for bit');
      const other = await run(create, 22, { caller });
      assert.notDeepEqual(other.initial, quiet.initial);
      assert.ok(
        other.losses.every((l, i) => l !== quiet.losses[i]),
        'another seed, other losses',
      );
      // the same initial weights with other step seeds: other dropout masks
      const masks = await run(create, 21, { caller, runSeed: 23 });
      assert.deepEqual(masks.initial, quiet.initial);
      assert.ok(
        masks.losses.every((l, i) => l !== quiet.losses[i]),
        'other masks, other losses',
      );
    });
  }
});
