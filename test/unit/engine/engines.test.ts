import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../../../src/core/config/types.js';
import { EagerEngine, decideEngine } from '../../../src/core/engine/index.js';
import { activateBackend } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';
import { tinyModel, tinyTask, trainTiny } from '../../support/tiny-engine.js';

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
      const modelA = tinyModel({ dropout: 0.3 });
      const a = new EagerEngine({
        model: modelA,
        task: tinyTask,
        loss,
        optimizer: optimizerOf(optimizer),
        seed: 1,
      });
      await trainTiny(a, 0, 5);
      const weights = modelA.getWeights().map((w) => w.clone());
      const state = await a.getOptimizerState();
      const continued = await trainTiny(a, 5, 10);

      const modelB = tinyModel({ dropout: 0.3 });
      modelB.setWeights(weights);
      const b = new EagerEngine({
        model: modelB,
        task: tinyTask,
        loss,
        optimizer: optimizerOf(optimizer),
        seed: 1,
      });
      await b.setOptimizerState(state);
      const resumed = await trainTiny(b, 5, 10);
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
