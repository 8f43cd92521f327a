import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../../../src/core/training/model-io.js';
import { UserError } from '../../../src/sdk/errors.js';
import {
  VGG_TYPE_REPORT_PARAMS,
  VggType,
  type VggTypeOptions,
} from '../../../src/plugins/architectures/vgg-type.js';
import { summarizeModel } from '../../../src/plugins/architectures/summary.js';
import { activateBackend, tempDir } from '../../support/helpers.js';
import { TASK_KINDS, expectedOutputShapes, task } from './support.js';

const REPORT_OPTIONS: VggTypeOptions = {
  filters: [64, 128, 256, 256],
  dense: [128, 64],
  convDropout: 0.3,
  denseDropout: 0.25,
  batchNormMomentum: 0.99,
  regressionHead: 'linear',
};
const SMALL_OPTIONS: VggTypeOptions = {
  ...REPORT_OPTIONS,
  filters: [8, 8, 16, 16],
  dense: [16, 8],
};

describe('vgg-type (the report, Appendix C)', () => {
  before(async () => {
    await activateBackend();
  });

  it('has the parameters Keras counts for Appendix C at 256x256x3 and 6 classes, layer by layer', () => {
    const model = new VggType(REPORT_OPTIONS).build({
      inputShape: [256, 256, 3],
      task: task('classification', 6),
    });
    const conv = (k: number, cin: number, cout: number) => k * k * cin * cout + cout;
    const dense = (cin: number, cout: number) => cin * cout + cout;
    const bn = (c: number) => 4 * c;
    // Feature map after the four conv+pool blocks: 256 → 254/2=127 → 125/2=62 → 60/2=30 → 28/2=14.
    const expected: Record<string, number> = {
      conv2d: conv(3, 3, 64),
      batch_normalization: bn(64),
      conv2d_1: conv(3, 64, 128),
      batch_normalization_1: bn(128),
      conv2d_2: conv(3, 128, 256),
      batch_normalization_2: bn(256),
      conv2d_3: conv(3, 256, 256),
      batch_normalization_3: bn(256),
      dense: dense(14 * 14 * 256, 128),
      batch_normalization_4: bn(128),
      dense_1: dense(128, 64),
      batch_normalization_5: bn(64),
      expression_dense: dense(64, 6),
    };
    const summary = summarizeModel(model);
    const withParams = Object.fromEntries(
      summary.layers.filter((l) => l.params > 0).map((l) => [l.name, l.params]),
    );
    assert.deepEqual(withParams, expected);
    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    assert.equal(total, 7_395_782);
    assert.equal(summary.totalParams, 7_395_782);
    assert.equal(summary.nonTrainableParams, 2 * (64 + 128 + 256 + 256 + 128 + 64));
    assert.equal(summary.trainableParams, 7_393_990);
    // the exported constant (shown by `summary`) against the report's numbers, written here
    assert.deepEqual(VGG_TYPE_REPORT_PARAMS, {
      total: 7_395_782,
      trainable: 7_393_990,
      nonTrainable: 1_792,
    });
    assert.equal(model.countParams(), 7_395_782);
    model.dispose();
  });

  it("has Appendix C's layers in the listing's order, with Keras' names", () => {
    const model = new VggType(SMALL_OPTIONS).build({
      inputShape: [48, 48, 3],
      task: task('classification', 6),
    });
    const layers = model.layers.slice(1); // without the input layer, as Sequential.summary() shows them
    const describe = (l: tf.layers.Layer): string => {
      const config = l.getConfig();
      if (l.getClassName() === 'Activation') return `Activation(${config.activation})`;
      if (l.getClassName() === 'Dropout') return `Dropout(${config.rate})`;
      return l.getClassName();
    };
    const block = (dropout?: string) => [
      'Conv2D',
      ...(dropout ? [dropout] : []),
      'Activation(relu)',
      'BatchNormalization',
      'MaxPooling2D',
    ];
    assert.deepEqual(layers.map(describe), [
      ...block(),
      ...block('Dropout(0.3)'),
      ...block(),
      ...block(),
      'Flatten',
      'Dense',
      'Activation(relu)',
      'BatchNormalization',
      'Dropout(0.25)',
      'Dense',
      'Activation(relu)',
      'BatchNormalization',
      'Dense',
      'Activation(softmax)',
    ]);
    assert.deepEqual(
      layers.slice(0, 7).map((l) => l.name),
      [
        'conv2d',
        'activation',
        'batch_normalization',
        'max_pooling2d',
        'conv2d_1',
        'dropout',
        'activation_1',
      ],
    );
    for (const l of layers.filter((x) => x.getClassName() === 'Conv2D')) {
      assert.equal(l.getConfig().padding, 'valid');
      assert.deepEqual(l.getConfig().kernelSize, [3, 3]);
    }
    // the options reach the layers
    assert.deepEqual(
      layers.filter((l) => l.getClassName() === 'Conv2D').map((l) => l.getConfig().filters),
      [8, 8, 16, 16],
    );
    assert.deepEqual(
      layers.filter((l) => l.getClassName() === 'Dense').map((l) => l.getConfig().units),
      [16, 8, 6],
    );
    model.dispose();
  });

  for (const kind of TASK_KINDS) {
    it(`outputs the ${kind} heads at 48x48x3`, () => {
      const model = new VggType(SMALL_OPTIONS).build({
        inputShape: [48, 48, 3],
        task: task(kind, 7),
      });
      const predicted = model.predict(tf.zeros([2, 48, 48, 3]));
      const outputs = Array.isArray(predicted) ? predicted : [predicted];
      assert.deepEqual(
        outputs.map((t) => t.shape),
        expectedOutputShapes(kind, 7, 2),
      );
      tf.dispose(outputs);
      model.dispose();
    });
  }

  it('takes single-channel input', () => {
    const model = new VggType(SMALL_OPTIONS).build({
      inputShape: [46, 46, 1],
      task: task('classification', 3),
    });
    assert.deepEqual(model.outputs[0].shape, [null, 3]);
    model.dispose();
  });

  it('says the input is too small instead of failing inside tfjs', () => {
    assert.throws(
      () =>
        new VggType(SMALL_OPTIONS).build({ inputShape: [45, 45, 3], task: task('classification') }),
      (e: unknown) =>
        e instanceof UserError && /vgg-type needs an input of at least 46x46/.test(e.message),
    );
  });

  it('saved to a local directory and loaded again, predicts the same', async () => {
    const dir = join(tempDir(), 'vgg');
    const model = new VggType(SMALL_OPTIONS).build({
      inputShape: [48, 48, 3],
      task: task('expression+valence-arousal', 6),
    });
    // move the batch-norm statistics away from their initial values so they are really compared
    model.compile({ optimizer: 'sgd', loss: ['categoricalCrossentropy', 'meanSquaredError'] });
    const x = tf.randomUniform([4, 48, 48, 3], 0, 1, 'float32', 7);
    await model.fit(
      x,
      [tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 6), tf.randomUniform([4, 2], -1, 1)],
      {
        epochs: 1,
        batchSize: 4,
        verbose: 0,
      },
    );
    await saveModel(model, dir);
    assert.ok(existsSync(join(dir, 'model.json')) && existsSync(join(dir, 'weights.bin')));
    const loaded = await loadModel(dir);
    assert.deepEqual(loaded.outputNames, ['expression', 'valence_arousal']);
    const before = model.predict(x) as tf.Tensor[];
    const after = loaded.predict(x) as tf.Tensor[];
    for (let i = 0; i < 2; i++) assert.deepEqual(after[i].arraySync(), before[i].arraySync());
    const moving = (m: tf.LayersModel) =>
      m.getLayer('batch_normalization').getWeights()[2].arraySync();
    assert.deepEqual(moving(loaded), moving(model));
    assert.notDeepEqual(moving(model), new Array(8).fill(0), 'training moved the statistics');
    tf.dispose([x, ...before, ...after]);
    model.dispose();
    loaded.dispose();
  });
});
