import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../../src/sdk/errors.js';
import {
  LayerNames,
  buildTaskModel,
  requireInputSide,
  taskOutputNames,
} from '../../../src/plugins/architectures/heads.js';
import { activateBackend } from '../../support/helpers.js';
import { TASK_KINDS, expectedOutputShapes, task } from './support.js';

/** A one-layer backbone: input [4] → Dense(8) features. */
function tinyModel(
  kind: (typeof TASK_KINDS)[number],
  regressionHead: 'linear' | 'tanh' = 'linear',
): tf.LayersModel {
  const input = tf.input({ shape: [4] });
  const features = tf.layers
    .dense({ units: 8, name: 'features' })
    .apply(input) as tf.SymbolicTensor;
  return buildTaskModel(
    input,
    features,
    { inputShape: [1, 1, 4], task: task(kind, 5) },
    { regressionHead, name: 't' },
  );
}

describe('task heads', () => {
  before(async () => {
    await activateBackend();
  });

  for (const kind of TASK_KINDS) {
    it(`builds the ${kind} outputs with their names, in order, and their shapes`, () => {
      const model = tinyModel(kind);
      assert.deepEqual(model.outputNames, taskOutputNames(task(kind)));
      const predicted = model.predict(tf.ones([3, 4]));
      const outputs = Array.isArray(predicted) ? predicted : [predicted];
      assert.deepEqual(
        outputs.map((t) => t.shape),
        expectedOutputShapes(kind, 5, 3),
      );
      if (kind !== 'valence-arousal') {
        // softmax rows sum to one
        const sums = outputs[0].sum(1).arraySync() as number[];
        for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-5);
      }
      tf.dispose(outputs);
      model.dispose();
    });
  }

  it('names the outputs expression and valence_arousal, expression first', () => {
    assert.deepEqual(taskOutputNames(task('expression+valence-arousal')), [
      'expression',
      'valence_arousal',
    ]);
  });

  it('bounds the regression head with tanh when asked, and leaves it linear by default', () => {
    const linear = tinyModel('valence-arousal');
    const bounded = tinyModel('valence-arousal', 'tanh');
    const head = (m: tf.LayersModel) => m.getLayer('valence_arousal').getConfig().activation;
    assert.equal(head(linear), 'linear');
    assert.equal(head(bounded), 'tanh');
    // large inputs push a linear head outside [-1, 1]; tanh never leaves it
    bounded.getLayer('valence_arousal_dense').setWeights([tf.fill([8, 2], 10), tf.zeros([2])]);
    const y = bounded.predict(tf.fill([1, 4], 100)) as tf.Tensor;
    assert.ok((y.abs().max().arraySync() as number) <= 1);
    linear.dispose();
    bounded.dispose();
  });

  it('refuses a classification head with fewer than two classes', () => {
    const input = tf.input({ shape: [4] });
    assert.throws(
      () =>
        buildTaskModel(
          input,
          input,
          { inputShape: [1, 1, 4], task: task('classification', 1) },
          { name: 'x' },
        ),
      (e: unknown) =>
        e instanceof UserError && /at least 2 expression classes.*has 1/.test(e.message),
    );
  });

  it('refuses unflattened features', () => {
    const input = tf.input({ shape: [2, 2, 4] });
    assert.throws(
      () =>
        buildTaskModel(
          input,
          input,
          { inputShape: [2, 2, 4], task: task('classification') },
          { name: 'x' },
        ),
      /flat features/,
    );
  });

  it('names layers per model the way Keras does', () => {
    const names = new LayerNames();
    assert.deepEqual(
      ['conv2d', 'conv2d', 'dense', 'conv2d'].map((b) => names.next(b)),
      ['conv2d', 'conv2d_1', 'dense', 'conv2d_2'],
    );
  });

  it('says which architecture needs a larger input', () => {
    assert.throws(
      () => requireInputSide('vgg-type', [32, 48, 3], 46),
      /vgg-type needs an input of at least 46x46.*32x48/,
    );
    assert.doesNotThrow(() => requireInputSide('vgg-type', [46, 46, 3], 46));
  });
});
