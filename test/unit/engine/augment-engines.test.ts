import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  EagerEngine,
  loadGraphModule,
  type EngineOptions,
  type GraphEngineModule,
  type PixelMix,
  type StepInputs,
  type StepTargets,
  type TrainingEngine,
} from '../../../src/core/engine/index.js';
import { EagerAugment, mixImages } from '../../../src/core/engine/augment.js';
import {
  AUGMENT_PARAMS,
  augmentParams,
  batchAugmentParams,
  erasingNoise,
  type AugmentDraw,
} from '../../../src/core/pipeline/augment.js';
import { drawMix, mixRandom, pixelMix, mixStep } from '../../../src/core/pipeline/mix.js';
import type { AugmentOptions, Task } from '../../../src/sdk/contracts/data.js';
import { Random } from '../../../src/sdk/services.js';
import { activateBackend } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';

/**
 * Augmentation inside the training step: both engines apply the same parameter rows the same
 * way (to 1e-5), each transform matches its definition on a tiny image, 20 augmented and mixed
 * steps agree between the engines, and a resumed augmenting run repeats the uninterrupted one.
 */

let graph: GraphEngineModule;

/** The affectnet default, plus random erasing (random fill) so every stage is compiled. */
const FULL: AugmentOptions = {
  flip: true,
  shift: 0.1,
  rotate: 15,
  brightness: 0.2,
  contrast: 0.3,
  erasing: { probability: 0.7, value: 'random' },
};

const IDENTITY: AugmentDraw = {
  flip: false,
  shiftX: 0,
  shiftY: 0,
  angle: 0,
  brightness: 0,
  contrast: 1,
};

function unitBatch(seed: number, shape: [number, number, number, number]): Float32Array {
  const random = new Random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: size }, () => random.int(256) / 255);
}

/** The eager engine's augmentation (and mix) of a batch. */
function eagerAugment(
  x: Float32Array,
  shape: [number, number, number, number],
  params: Float32Array,
  options: AugmentOptions,
  seed: number,
  mix?: PixelMix,
): Float32Array {
  const [, height, width, channels] = shape;
  const augment = new EagerAugment(options, { height, width, channels }, seed);
  try {
    return tf.tidy(() => {
      let y = augment.apply(tf.tensor4d(x, shape), params);
      if (mix) y = mixImages(y, mix, height, width);
      return y.dataSync() as Float32Array;
    });
  } finally {
    augment.dispose();
  }
}

/** Both engines' augmentation of a batch: [eager, graph]. */
async function both(
  x: Float32Array,
  shape: [number, number, number, number],
  params: Float32Array,
  options: AugmentOptions,
  seed = 5,
  mix?: PixelMix,
): Promise<[Float32Array, Float32Array]> {
  return [
    eagerAugment(x, shape, params, options, seed, mix),
    await graph.augmentInGraph(x, shape, params, options, seed, mix),
  ];
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  return diff;
}

/** Parameter rows of hand-made draws. */
function rows(draws: AugmentDraw[], width: number, height: number): Float32Array {
  const out = new Float32Array(draws.length * AUGMENT_PARAMS);
  draws.forEach((d, r) => augmentParams(d, width, height, out, r * AUGMENT_PARAMS));
  return out;
}

describe('augmentation inside the training step', () => {
  before(async () => {
    await activateBackend();
    const m = await loadGraphModule();
    if (m instanceof Error) throw m;
    graph = m;
  });

  it('same seed, same augmented batch from both engines to 1e-5 (every stage, mixup, CutMix)', async () => {
    const shape: [number, number, number, number] = [16, 24, 20, 3];
    const [n, height, width] = shape;
    const x = unitBatch(1, shape);
    const positions = Array.from({ length: n }, (_, i) => 100 + i);
    const params = batchAugmentParams(FULL, 42, positions, width, height);
    const [eager, compiled] = await both(x, shape, params, FULL);
    const difference = maxAbsDifference(eager, compiled);
    assert.ok(difference < 1e-5, `eager vs graph: ${difference}`);
    assert.ok(maxAbsDifference(eager, x) > 0.1, 'the batch is augmented');
    // constant erasing, and each mix kind on top
    const constant = { ...FULL, erasing: { probability: 1, value: 0.3 } };
    const constantParams = batchAugmentParams(constant, 42, positions, width, height);
    for (const kind of ['mixup', 'cutmix'] as const) {
      let draw;
      for (let s = 0; !draw || draw.kind !== kind || draw.lambda === 1; s++)
        draw = drawMix({ mixup: { probability: 0.5 }, cutmix: {} }, n, height, width, mixRandom(s));
      const mix = pixelMix(draw);
      const [e, g] = await both(x, shape, constantParams, constant, 5, mix);
      const d = maxAbsDifference(e, g);
      assert.ok(d < 1e-5, `${kind}: eager vs graph ${d}`);
    }
  });

  it('each transform as defined, on a tiny image (both engines)', async () => {
    const H = 5;
    const W = 5;
    const shape: [number, number, number, number] = [1, H, W, 1];
    const x = Float32Array.from({ length: H * W }, (_, i) => (i + 1) / 32);
    const at = (img: ArrayLike<number>, y: number, c: number) => img[y * W + c];
    const check = async (
      name: string,
      draw: AugmentDraw,
      options: AugmentOptions,
      expected: (y: number, c: number) => number,
    ) => {
      for (const out of await both(x, shape, rows([draw], W, H), options)) {
        for (let y = 0; y < H; y++)
          for (let c = 0; c < W; c++)
            assert.ok(
              Math.abs(at(out, y, c) - expected(y, c)) < 1e-6,
              `${name} at (${y}, ${c}): ${at(out, y, c)} vs ${expected(y, c)}`,
            );
      }
    };
    const geometry = { flip: true, shift: 0.5, rotate: 90 };
    await check('flip', { ...IDENTITY, flip: true }, geometry, (y, c) => at(x, y, W - 1 - c));
    // a shift right by 2 and down by 1: the border is replicated
    await check('shift', { ...IDENTITY, shiftX: 2, shiftY: 1 }, geometry, (y, c) =>
      at(x, Math.max(0, y - 1), Math.max(0, c - 2)),
    );
    // 90 degrees about the centre: the output's column c, row y reads source row c, column W-1-y
    await check('rotation', { ...IDENTITY, angle: Math.PI / 2 }, geometry, (y, c) =>
      at(x, c, W - 1 - y),
    );
    await check('half-pixel shift', { ...IDENTITY, shiftX: 0.5 }, geometry, (y, c) =>
      c === 0 ? at(x, y, 0) : (at(x, y, c - 1) + at(x, y, c)) / 2,
    );
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    await check(
      'contrast and brightness',
      { ...IDENTITY, contrast: 1.5, brightness: 0.1 },
      { brightness: 0.2, contrast: 0.5 },
      (y, c) => Math.min(1, Math.max(0, (at(x, y, c) - mean) * 1.5 + mean + 0.1)),
    );
    const box = { top: 1, left: 2, height: 3, width: 2 };
    const inBox = (y: number, c: number) =>
      y >= box.top && y < box.top + box.height && c >= box.left && c < box.left + box.width;
    await check(
      'erasing with a value',
      { ...IDENTITY, erase: { ...box, value: 0.25 } },
      { erasing: { probability: 1 } },
      (y, c) => (inBox(y, c) ? 0.25 : at(x, y, c)),
    );
    // value: random fills from the noise table's window at (seed % H, floor(seed / H) % W)
    const noise = erasingNoise(5, H, W, 1);
    const randomSeed = 3 + 4 * H;
    await check(
      'erasing with random values',
      { ...IDENTITY, erase: { ...box, value: 0, randomSeed } },
      { erasing: { probability: 1, value: 'random' } },
      (y, c) => (inBox(y, c) ? noise[(y + 3) * 2 * W + (c + 4)] : at(x, y, c)),
    );
  });

  it("the eager form on tfjs' CPU backend (one image at a time) equals the native one", async () => {
    const shape: [number, number, number, number] = [6, 12, 10, 3];
    const x = unitBatch(3, shape);
    const params = batchAugmentParams(FULL, 42, [0, 1, 2, 3, 4, 5], 10, 12);
    const native = eagerAugment(x, shape, params, FULL, 5);
    const backend = tf.getBackend();
    await tf.setBackend('cpu');
    try {
      const cpu = eagerAugment(x, shape, params, FULL, 5);
      const difference = maxAbsDifference(cpu, native);
      assert.ok(difference < 1e-5, `cpu vs tensorflow backend: ${difference}`);
    } finally {
      await tf.setBackend(backend);
    }
  });

  it('an identity draw changes nothing, bit for bit (an image the draws leave alone)', async () => {
    const shape: [number, number, number, number] = [3, 9, 7, 3];
    const x = unitBatch(2, shape);
    const params = rows([IDENTITY, IDENTITY, IDENTITY], 7, 9);
    for (const out of await both(x, shape, params, { ...FULL, erasing: { probability: 1 } }))
      assert.deepEqual(out, x);
  });
});

const classes = [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` }));
const classification: Task = { kind: 'classification', classes };
const SIZE = 10;
const N = 12;

/** A small net without batch norm or dropout. */
function net(): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 3] });
  let x = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, activation: 'relu', name: 'conv' })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'expression' }).apply(x);
  const model = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  const random = new Random(23);
  model.setWeights(
    model.getWeights().map((w) =>
      tf.tensor(
        Float32Array.from({ length: w.size }, () => random.next() - 0.5),
        w.shape,
      ),
    ),
  );
  return model;
}

const AUGMENT: AugmentOptions = {
  ...FULL,
  mixup: { alpha: 0.4, probability: 0.4 },
  cutmix: { probability: 0.4 },
};

const engineOptions = (model = net()): EngineOptions => ({
  model,
  task: classification,
  loss: lossSpecOf(),
  optimizer: optimizerOf({ type: 'adam', learningRate: 0.01 }),
  seed: 3,
  mixing: true,
  augment: AUGMENT,
});

/** Step `step`'s uint8 batch with its augmentation parameters and mix, as the trainer makes it. */
function augmentedStep(step: number): { inputs: StepInputs; targets: StepTargets } {
  const random = new Random(300 + step);
  const positions = Array.from({ length: N }, (_, i) => step * N + i);
  const inputs: StepInputs = {
    x: Uint8Array.from({ length: N * SIZE * SIZE * 3 }, () => random.int(256)),
    shape: [N, SIZE, SIZE, 3],
    augment: batchAugmentParams(AUGMENT, 77, positions, SIZE, SIZE),
  };
  const targets = { classes: Int32Array.from({ length: N }, () => random.int(3)) };
  return mixStep(AUGMENT, inputs, targets, 9000 + step);
}

async function train(engine: TrainingEngine, from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < to; s++) {
    const { inputs, targets } = augmentedStep(s);
    losses.push((await engine.trainStep(inputs, targets, 100 + s)).loss);
  }
  return losses;
}

describe('training steps with augmentation on', () => {
  before(async () => {
    await activateBackend();
    const m = await loadGraphModule();
    if (m instanceof Error) throw m;
    graph = m;
  });

  it('graph agrees with eager for 20 augmented, mixed steps (within the rounding floor)', async (ctx) => {
    const base = net();
    const eager = new EagerEngine(engineOptions(base));
    const compiledModel = net();
    compiledModel.setWeights(base.getWeights());
    const compiled = await graph.createGraphEngine(engineOptions(compiledModel));
    // the floor: eager against itself from weights one rounding step apart
    const nudgedModel = net();
    nudgedModel.setWeights(base.getWeights().map((w) => tf.tidy(() => w.mul(1 + 2 ** -23))));
    const nudged = new EagerEngine(engineOptions(nudgedModel));
    try {
      const e = await train(eager, 0, 20);
      const g = await train(compiled, 0, 20);
      const r = await train(nudged, 0, 20);
      const scale = Math.max(...e.map(Math.abs));
      const floor = maxAbsDifference(r, e) / scale;
      const worst = maxAbsDifference(g, e) / scale;
      ctx.diagnostic(
        `largest loss difference ${worst.toExponential(2)} (floor ${floor.toExponential(2)})`,
      );
      assert.ok(worst < Math.max(1e-4, 10 * floor), `${g}\n${e}`);
      assert.ok(Math.abs(e[19] - e[0]) > 1e-3, 'the losses move');
      // the augmentation matters: the same steps without it train differently
      const plain = new EagerEngine({ ...engineOptions(), augment: undefined });
      const unaugmented: number[] = [];
      for (let s = 0; s < 3; s++) {
        const { inputs, targets } = augmentedStep(s);
        unaugmented.push(
          (await plain.trainStep({ ...inputs, augment: undefined }, targets, s)).loss,
        );
      }
      plain.dispose();
      assert.notDeepEqual(unaugmented, e.slice(0, 3));
    } finally {
      eager.dispose();
      compiled.dispose();
      nudged.dispose();
    }
  });

  it('an augmented, mixed eager step leaves no tensor behind', async () => {
    const eager = new EagerEngine(engineOptions());
    try {
      await train(eager, 0, 1);
      const before = tf.memory().numTensors;
      await train(eager, 1, 4);
      assert.equal(tf.memory().numTensors, before);
    } finally {
      eager.dispose();
    }
  });

  for (const kind of ['graph', 'eager'] as const) {
    it(`resumes exactly with augmentation on (${kind}): 6 steps, state restored, 6 more = 12 uninterrupted`, async () => {
      const create = async (model: tf.LayersModel) =>
        kind === 'graph'
          ? graph.createGraphEngine(engineOptions(model))
          : new EagerEngine(engineOptions(model));
      const base = net();
      const first = net();
      first.setWeights(base.getWeights());
      const a = await create(first);
      const uninterrupted = await train(a, 0, 12);
      a.dispose();
      const second = net();
      second.setWeights(base.getWeights());
      const b = await create(second);
      const before = await train(b, 0, 6);
      await b.syncToModel();
      const state = await b.getOptimizerState();
      const third = net();
      third.setWeights(second.getWeights());
      const c = await create(third);
      await c.setOptimizerState(state);
      b.dispose();
      tf.dispose(state.map((s) => s.tensor));
      const after = await train(c, 6, 12);
      c.dispose();
      assert.deepEqual([...before, ...after], uninterrupted);
    });
  }
});
