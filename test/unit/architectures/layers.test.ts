import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../../../src/core/training/model-io.js';
import { freezableBatchNormalization } from '../../../src/plugins/architectures/layers.js';
import { activateBackend, tempDir } from '../../support/helpers.js';

/** input [4] → FreezableBatchNormalization → Dense(1) */
function model(): tf.LayersModel {
  const input = tf.input({ shape: [4] });
  const normalized = freezableBatchNormalization({ name: 'bn' }).apply(input);
  const output = tf.layers.dense({ units: 1, name: 'out' }).apply(normalized) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

async function trainStep(m: tf.LayersModel): Promise<void> {
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const x = tf.tensor2d([
    [5, 1, -3, 8],
    [7, -1, -5, 2],
  ]);
  await m.fit(x, tf.ones([2, 1]), { epochs: 1, batchSize: 2, verbose: 0 });
}

const movingStatistics = (m: tf.LayersModel) =>
  m
    .getLayer('bn')
    .getWeights()
    .slice(2)
    .map((w) => Array.from(w.dataSync()));

describe('FreezableBatchNormalization', () => {
  before(async () => {
    await activateBackend();
  });

  it('updates its moving statistics while trainable, like BatchNormalization', async () => {
    const m = model();
    const before = movingStatistics(m);
    await trainStep(m);
    assert.notDeepEqual(movingStatistics(m), before);
  });

  it('runs in inference mode while frozen: statistics and output as if not training', async () => {
    const m = model();
    m.getLayer('bn').trainable = false;
    const before = movingStatistics(m);
    await trainStep(m);
    assert.deepEqual(movingStatistics(m), before);
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const layer = m.getLayer('bn');
    const training = layer.apply(x, { training: true }) as tf.Tensor;
    const inference = layer.apply(x, { training: false }) as tf.Tensor;
    assert.deepEqual(training.arraySync(), inference.arraySync());
  });

  it('saves and loads under its own class name, frozen state included', async () => {
    const dir = join(tempDir(), 'bn');
    const m = model();
    m.getLayer('bn').trainable = false;
    await saveModel(m, dir);
    const loaded = await loadModel(dir);
    assert.equal(loaded.getLayer('bn').getClassName(), 'FreezableBatchNormalization');
    assert.equal(loaded.getLayer('bn').trainable, false);
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    assert.deepEqual(
      (loaded.predict(x) as tf.Tensor).arraySync(),
      (m.predict(x) as tf.Tensor).arraySync(),
    );
  });
});
