import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../../../src/core/config/types.js';
import { EagerEngine, decideEngine } from '../../../src/core/engine/index.js';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { activateBackend } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';

const task: Task = {
  kind: 'classification',
  classes: [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` })),
};

function tinyModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, seed: 1 } as never));
  m.add(tf.layers.dropout({ rate: 0.3 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

function batch(step: number) {
  const n = 4;
  const x = Float32Array.from({ length: n * 64 }, (_, i) => Math.sin(i * 0.37 + step));
  return {
    inputs: { x, shape: [n, 8, 8, 1] as [number, number, number, number] },
    targets: { classes: Int32Array.from([0, 1, 2, (step % 3) as number]) },
  };
}

async function train(engine: EagerEngine, from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < to; s++) {
    const b = batch(s);
    losses.push((await engine.trainStep(b.inputs, b.targets, 1000 + s)).loss);
  }
  return losses;
}

const optimizers: TrainingConfig['optimizer'][] = [
  { type: 'adam', learningRate: 0.01 },
  { type: 'sgd', learningRate: 0.05, momentum: 0.9 },
  { type: 'rmsprop', learningRate: 0.01, momentum: 0.5 },
  { type: 'sgd', learningRate: 0.05 },
];

describe('execution engines', () => {
  before(async () => {
    await activateBackend();
  });

  for (const optimizer of optimizers) {
    it(`eager ${optimizer.type}${optimizer.momentum ? '+momentum' : ''}: state restored into a fresh engine continues bit for bit`, async () => {
      const loss = lossSpecOf();
      const modelA = tinyModel();
      const a = new EagerEngine({
        model: modelA,
        task,
        loss,
        optimizer: optimizerOf(optimizer),
        seed: 1,
      });
      await train(a, 0, 5);
      const weights = modelA.getWeights().map((w) => w.clone());
      const state = await a.getOptimizerState();
      const continued = await train(a, 5, 10);

      const modelB = tinyModel();
      modelB.setWeights(weights);
      const b = new EagerEngine({
        model: modelB,
        task,
        loss,
        optimizer: optimizerOf(optimizer),
        seed: 1,
      });
      await b.setOptimizerState(state);
      const resumed = await train(b, 5, 10);
      assert.deepEqual(resumed, continued, 'losses after the restore');
      const wa = modelA.getWeights().map((w) => Array.from(w.dataSync()));
      const wb = modelB.getWeights().map((w) => Array.from(w.dataSync()));
      assert.deepEqual(wb, wa, 'weights after the restore');
      tf.dispose([...weights, ...state.map((s) => s.tensor)]);
      a.dispose();
      b.dispose();
    });
  }

  it('execution: graph needs a native backend; auto picks graph on it and eager elsewhere', async () => {
    await assert.rejects(decideEngine('graph', 'cpu'), /cpu backend cannot run a compiled graph/);
    const onCpu = await decideEngine('auto', 'cpu');
    assert.equal(onCpu.kind, 'eager');
    assert.match(onCpu.reason, /cpu backend/);
    const native = await decideEngine('auto', 'tensorflow');
    assert.equal(native.kind, 'graph', native.reason);
    assert.equal((await decideEngine('graph', 'tensorflow')).kind, 'graph');
    assert.equal((await decideEngine('eager', 'tensorflow')).kind, 'eager');
  });
});
