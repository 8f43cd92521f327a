import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../../src/sdk/errors.js';
import { loadModel, saveModel } from '../../../src/core/training/model-io.js';
import { AlexNet, type AlexNetOptions } from '../../../src/plugins/architectures/alexnet.js';
import { LocalResponseNormalization } from '../../../src/plugins/architectures/layers.js';
import { activateBackend, tempDir } from '../../support/helpers.js';
import { TASK_KINDS, expectedOutputShapes, task } from './support.js';

const OPTIONS: AlexNetOptions = {
  localResponseNormalization: true,
  dropout: 0.5,
  fcUnits: 64,
  regressionHead: 'linear',
};
/**
 * The smallest input AlexNet's pooling allows (a 1x1 map before fc6), and narrow fully connected
 * layers: building 4096x4096 weights takes seconds on the pure-JS backend. The parameter counts
 * at 227x227 with fcUnits 4096 are checked through `affectlab summary` (test/integration).
 */
const SMALL: [number, number, number] = [67, 67, 3];

describe('alexnet (the AffectNet baseline)', () => {
  before(async () => {
    await activateBackend();
  });

  for (const kind of TASK_KINDS) {
    it(`outputs the ${kind} heads`, () => {
      const model = new AlexNet(OPTIONS).build({ inputShape: SMALL, task: task(kind, 8) });
      const predicted = model.predict(tf.zeros([1, ...SMALL]));
      const outputs = Array.isArray(predicted) ? predicted : [predicted];
      assert.deepEqual(
        outputs.map((t) => t.shape),
        expectedOutputShapes(kind, 8, 1),
      );
      tf.dispose(outputs);
      model.dispose();
    });
  }

  it('has the single-tower layer sequence, with or without local response normalisation', () => {
    const names = (lrn: boolean) => {
      const model = new AlexNet({ ...OPTIONS, localResponseNormalization: lrn }).build({
        inputShape: SMALL,
        task: task('classification', 8),
      });
      const out = model.layers.map((l) => `${l.name}:${l.getClassName()}`);
      const conv1 = model.getLayer('conv1').getConfig();
      assert.deepEqual([conv1.filters, conv1.kernelSize, conv1.strides], [96, [11, 11], [4, 4]]);
      assert.deepEqual(model.getLayer('pool1').getConfig().poolSize, [3, 3]);
      assert.equal(model.getLayer('conv2').getConfig().padding, 'same');
      assert.equal(model.getLayer('drop6').getConfig().rate, 0.5);
      assert.equal(model.getLayer('fc7').getConfig().units, 64);
      model.dispose();
      return out;
    };
    const trunk = (norm: (n: number) => string[]) => [
      'data:InputLayer',
      'conv1:Conv2D',
      ...norm(1),
      'pool1:MaxPooling2D',
      'conv2:Conv2D',
      ...norm(2),
      'pool2:MaxPooling2D',
      'conv3:Conv2D',
      'conv4:Conv2D',
      'conv5:Conv2D',
      'pool5:MaxPooling2D',
      'flatten:Flatten',
      'fc6:Dense',
      'drop6:Dropout',
      'fc7:Dense',
      'drop7:Dropout',
      'expression_dense:Dense',
      'expression:Activation',
    ];
    assert.deepEqual(
      names(true),
      trunk((n) => [`norm${n}:LocalResponseNormalization`]),
    );
    assert.deepEqual(
      names(false),
      trunk(() => []),
    );
  });

  it('normalises across channels as Caffe does (window 5, alpha 1e-4 / 5, beta 0.75, k 1)', () => {
    const channels = 7;
    const values = Array.from({ length: 2 * channels }, (_, i) => ((i * 37) % 11) * 40 - 200);
    const x = tf.tensor4d(values, [1, 1, 2, channels]);
    const y = new LocalResponseNormalization().apply(x) as tf.Tensor;
    const actual = y.dataSync();
    for (let p = 0; p < 2; p++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let d = Math.max(0, c - 2); d <= Math.min(channels - 1, c + 2); d++)
          sum += values[p * channels + d] ** 2;
        const expected = values[p * channels + c] / (1 + (1e-4 / 5) * sum) ** 0.75;
        assert.ok(
          Math.abs(actual[p * channels + c] - expected) < 1e-3 * Math.max(1, Math.abs(expected)),
        );
      }
    }
  });

  it('saves and loads with its custom layer, predicting the same', async () => {
    const dir = join(tempDir(), 'alexnet');
    const model = new AlexNet(OPTIONS).build({ inputShape: SMALL, task: task('valence-arousal') });
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    assert.equal(loaded.getLayer('norm1').getClassName(), 'LocalResponseNormalization');
    const x = tf.randomUniform([1, ...SMALL], 0, 1, 'float32', 3);
    assert.deepEqual(
      (loaded.predict(x) as tf.Tensor).arraySync(),
      (model.predict(x) as tf.Tensor).arraySync(),
    );
    model.dispose();
    loaded.dispose();
  });

  it('says the input is too small', () => {
    assert.throws(
      () => new AlexNet(OPTIONS).build({ inputShape: [66, 66, 3], task: task('classification') }),
      (e: unknown) =>
        e instanceof UserError && /alexnet needs an input of at least 67x67/.test(e.message),
    );
  });
});
