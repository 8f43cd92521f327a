import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  EagerEngine,
  loadGraphModule,
  type EngineOptions,
  type GraphEngineModule,
  type Named,
  type OptimizerStateEntry,
  type TrainingEngine,
} from '../../../src/core/engine/index.js';
import { createRuntime } from '../../../src/main.js';
import {
  Options,
  PLUGIN_OPTIONS,
  Type,
  definePlugin,
  type GraphOptimizerUpdate,
  type GraphUpdateContext,
  type OptimizerExtraState,
  type OptimizerPlugin,
  type Static,
} from '../../../src/sdk/index.js';
import { activateBackend, repoRoot } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';
import { tinyModel, tinyTask, trainTiny } from '../../support/tiny-engine.js';

/**
 * Exact state an optimizer keeps beyond tfjs' per-weight slots is the optimizer plugin's to
 * declare (`extraState`): the engines save and restore whatever it declares and name no
 * optimizer themselves. Checked with Adam (its accumulated powers) and with an optimizer this
 * file defines: SGD whose step shrinks by `decay` after every step, the running factor kept
 * in a variable the tfjs optimizer's getWeights does not return.
 */

const SCALE = 'test/decaying-sgd/scale';

/** tfjs SGD with the step scaled by a factor that starts at 1 and is multiplied by `decay`. */
class DecayingSgdOptimizer extends tf.Optimizer {
  static className = 'DecayingSgd';
  readonly scale: tf.Variable = tf.variable(tf.scalar(1), false);
  constructor(
    private readonly learningRate: number,
    private readonly decay: number,
  ) {
    super();
  }

  applyGradients(gradients: Parameters<tf.Optimizer['applyGradients']>[0]): void {
    const list = Array.isArray(gradients)
      ? gradients
      : Object.entries(gradients).map(([name, tensor]) => ({ name, tensor }));
    tf.tidy(() => {
      const step = tf.mul(this.scale, -this.learningRate);
      for (const { name, tensor } of list) {
        const variable = tf.engine().registeredVariables[name];
        if (tensor) variable.assign(tf.add(variable, tf.mul(tensor, step)));
      }
      this.scale.assign(tf.mul(this.scale, this.decay));
    });
    this.incrementIterations();
  }

  /** Like tfjs' SGD: the iteration count only (the factor is the plugin's extra state). */
  override async getWeights(): ReturnType<tf.Optimizer['getWeights']> {
    return [await this.saveIterations()];
  }

  override async setWeights(weights: Parameters<tf.Optimizer['setWeights']>[0]): Promise<void> {
    await this.extractIterations(weights);
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, decay: this.decay };
  }

  override dispose(): void {
    super.dispose();
    this.scale.dispose();
  }
}

const decayingOptions = Options({
  learningRate: Type.Number({ minimum: 0, default: 0.05 }),
  decay: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.9 }),
});

class DecayingSgd implements OptimizerPlugin {
  readonly learningRate: number;
  readonly extraState: OptimizerExtraState;
  constructor(private readonly options: Static<typeof decayingOptions>) {
    this.learningRate = options.learningRate;
    const scaleOf = (o: tf.Optimizer) => (o as DecayingSgdOptimizer).scale;
    this.extraState = {
      entries: [
        {
          name: SCALE,
          shape: [],
          valueAfter: (iterations) => Float32Array.of(options.decay ** iterations),
        },
      ],
      readTfjs: (o) => [scaleOf(o).clone()],
      writeTfjs: (o, [value]) => scaleOf(o).assign(value),
    };
  }

  createTfjsOptimizer(): tf.Optimizer {
    return new DecayingSgdOptimizer(this.learningRate, this.options.decay);
  }

  graphUpdate({ b, weights, learningRate, control }: GraphUpdateContext): GraphOptimizerUpdate {
    const scale = b.variable('optimizer/scale', []);
    const step = b.mul(scale.read, b.neg(learningRate));
    const updates = weights.map((w) =>
      b.assignVariable(w.variable.handle, b.add(w.read, b.mul(w.gradient, step)), control),
    );
    const after = [...updates];
    updates.push(
      b.assignVariable(scale.handle, b.mul(scale.read, b.constF32(this.options.decay)), after),
    );
    return { slotNames: [], slots: [], extraVariables: [scale], updates };
  }
}

const decayingSgdPlugin = definePlugin({
  kind: 'optimizer',
  type: 'decaying-sgd',
  description: 'SGD whose step shrinks geometrically (a test of optimizer extra state)',
  options: decayingOptions,
  implementation: DecayingSgd,
  inject: [PLUGIN_OPTIONS],
});

function decayingSgd(decay: number): Named<OptimizerPlugin> {
  const runtime = createRuntime();
  runtime.registry.register(decayingSgdPlugin);
  const ref = { type: 'decaying-sgd', learningRate: 0.05, decay };
  return { type: ref.type, plugin: runtime.instantiate(runtime.container, 'optimizer', ref) };
}

/** Names and float32 bits of each state entry. */
const bits = (state: OptimizerStateEntry[]) =>
  state.map((e) => ({
    name: e.name,
    bits: Array.from(new Uint32Array(Float32Array.from(e.tensor.dataSync()).buffer)),
  }));

const entry = (state: OptimizerStateEntry[], name: string): number => {
  const found = state.find((e) => e.name === name);
  assert.ok(found, `${name} in ${state.map((e) => e.name).join(', ')}`);
  return found.tensor.dataSync()[0];
};

type Build = (o: EngineOptions) => Promise<TrainingEngine>;

/**
 * Train 5 steps with one engine, save its state and weights; train 5 more. A fresh engine of
 * the other kind built from the saved weights and state must report the same state; a fresh one
 * of the first kind must continue bit for bit.
 */
async function resumeAndCross(
  optimizer: () => Named<OptimizerPlugin>,
  build: Build,
  other: Build,
): Promise<{ state: OptimizerStateEntry[]; crossed: OptimizerStateEntry[] }> {
  const options = { task: tinyTask, loss: lossSpecOf(), seed: 1 };
  const modelA = tinyModel();
  const a = await build({ ...options, model: modelA, optimizer: optimizer() });
  await trainTiny(a, 0, 5);
  await a.syncToModel();
  const weights = modelA.getWeights().map((w) => w.clone());
  const state = await a.getOptimizerState();
  const continued = await trainTiny(a, 5, 10);
  a.dispose();

  const fresh = async (kind: Build) => {
    const model = tinyModel();
    model.setWeights(weights);
    const engine = await kind({ ...options, model, optimizer: optimizer() });
    await engine.setOptimizerState(state);
    return engine;
  };
  const b = await fresh(build);
  assert.deepEqual(await trainTiny(b, 5, 10), continued, 'losses after the restore');
  b.dispose();
  const c = await fresh(other);
  const crossed = await c.getOptimizerState();
  c.dispose();
  tf.dispose(weights);
  return { state, crossed };
}

describe('optimizer extra state: declared by the optimizer plugin, kept by both engines', () => {
  let graph: GraphEngineModule;
  before(async () => {
    await activateBackend();
    const m = await loadGraphModule();
    if (m instanceof Error) throw m;
    graph = m;
  });
  const eager: Build = async (o) => new EagerEngine(o);
  const compiled: Build = (o) => graph.createGraphEngine(o);

  it('a plugin-defined extra state: each engine resumes bit for bit and reads the other engine’s state exactly', async () => {
    const decay = 0.9;
    for (const [first, second] of [
      [eager, compiled],
      [compiled, eager],
    ]) {
      const { state, crossed } = await resumeAndCross(() => decayingSgd(decay), first, second);
      assert.deepEqual(
        state.map((e) => e.name),
        ['iter', SCALE],
      );
      // the factor after 5 steps, multiplied step by step in float32
      let scale = 1;
      for (let s = 0; s < 5; s++) scale = Math.fround(scale * Math.fround(decay));
      assert.equal(entry(state, SCALE), scale);
      assert.deepEqual(bits(crossed), bits(state));
      tf.dispose([...state, ...crossed].map((e) => e.tensor));
    }
  });

  it('a checkpoint without the extra state restores the plugin’s rule for its iteration count (graph)', async () => {
    const decay = 0.7;
    const model = tinyModel();
    const engine = await compiled({
      task: tinyTask,
      loss: lossSpecOf(),
      seed: 1,
      model,
      optimizer: decayingSgd(decay),
    });
    try {
      await engine.setOptimizerState([{ name: 'iter', tensor: tf.scalar(7, 'int32') }]);
      const state = await engine.getOptimizerState();
      assert.deepEqual(
        state.map((e) => e.name),
        ['iter', SCALE],
      );
      assert.equal(entry(state, 'iter'), 7);
      assert.equal(entry(state, SCALE), Math.fround(decay ** 7));
      tf.dispose(state.map((e) => e.tensor));
    } finally {
      engine.dispose();
    }
  });

  it('adam: an older checkpoint without the powers resumes with beta^(iterations + 1) (graph)', async () => {
    const optimizer = () => optimizerOf({ type: 'adam', learningRate: 0.01, beta1: 0.8 });
    const { state } = await resumeAndCross(optimizer, eager, compiled);
    const older = state.slice(0, -2);
    const engine = await compiled({
      task: tinyTask,
      loss: lossSpecOf(),
      seed: 1,
      model: tinyModel(),
      optimizer: optimizer(),
    });
    try {
      await engine.setOptimizerState(older);
      const restored = await engine.getOptimizerState();
      // the same moments and count (slot names are each model's own)
      const values = (st: OptimizerStateEntry[]) => bits(st).map((e) => e.bits);
      assert.deepEqual(values(restored.slice(0, -2)), values(older));
      assert.equal(entry(restored, 'affectlab/adam/accBeta1'), Math.fround(0.8 ** 6));
      assert.equal(entry(restored, 'affectlab/adam/accBeta2'), Math.fround(0.999 ** 6));
      tf.dispose([...state, ...restored].map((e) => e.tensor));
    } finally {
      engine.dispose();
    }
  });

  for (const type of ['adam', 'adamw'])
    it(`${type}: accumulated powers saved under Adam's names, after the slots; both engines resume exactly and read each other’s state`, async () => {
      for (const [first, second] of [
        [eager, compiled],
        [compiled, eager],
      ]) {
        const { state, crossed } = await resumeAndCross(
          () => optimizerOf({ type, learningRate: 0.01 }),
          first,
          second,
        );
        const names = state.map((e) => e.name);
        assert.equal(names[0], 'iter');
        assert.deepEqual(names.slice(-2), ['affectlab/adam/accBeta1', 'affectlab/adam/accBeta2']);
        assert.equal(names.length, 1 + 2 * tinyModel().trainableWeights.length + 2);
        assert.deepEqual(bits(crossed).slice(-2), bits(state).slice(-2));
        assert.deepEqual(
          bits(crossed).map((e) => e.bits),
          bits(state).map((e) => e.bits),
        );
        tf.dispose([...state, ...crossed].map((e) => e.tensor));
      }
    });

  it('src/core/engine names no optimizer: Adam and its state are the optimizer plugin’s', () => {
    const dir = join(repoRoot, 'src', 'core', 'engine');
    const files = (d: string): string[] =>
      readdirSync(d).flatMap((n) => {
        const p = join(d, n);
        return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
      });
    const named = files(dir).filter((f) => /adam|accBeta/i.test(readFileSync(f, 'utf8')));
    assert.deepEqual(
      named.map((f) => relative(repoRoot, f)),
      [],
    );
  });
});
