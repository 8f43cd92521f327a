import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../../src/sdk/errors.js';
import { saveModel } from '../../../src/core/training/model-io.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import {
  ResNet50,
  freezeLowerLayers,
  type ResNet50Options,
} from '../../../src/plugins/architectures/resnet50.js';
import { activateBackend, tempDir } from '../../support/helpers.js';
import { expectedOutputShapes, task } from './support.js';

const DEFAULTS: ResNet50Options = {
  weights: 'none',
  trainableFraction: 0.2,
  pooling: 'avg',
  top: 'task',
  regressionHead: 'linear',
  preprocess: 'none',
};
/** ResNet-50 downsamples 32x: 32x32 input leaves a 1x1 map and keeps the pure-JS backend quick. */
const INPUT: [number, number, number] = [32, 32, 3];

function resnet(options: Partial<ResNet50Options> = {}, baseDir = '/nonexistent'): ResNet50 {
  const logger = new Logger();
  logger.level = 'error';
  return new ResNet50(
    { ...DEFAULTS, ...options },
    logger,
    new RunContext('test', 'test.yaml', 1, baseDir, baseDir),
  );
}

const values = (layer: tf.layers.Layer) =>
  layer.getWeights().map((w) => Float32Array.from(w.dataSync()));
const same = (a: Float32Array[], b: Float32Array[]) =>
  a.length === b.length && a.every((w, i) => tf.util.arraysEqual(w, b[i]));

describe('resnet50 (the report, transfer learning)', () => {
  before(async () => {
    await activateBackend();
  });

  const outputShapes = (model: tf.LayersModel) => model.outputs.map((o) => o.shape);

  it('classification: a softmax head on global average pooling, the last 20% of the base trainable (35 of 175 layers)', async () => {
    const model = await resnet().build({ inputShape: INPUT, task: task('classification', 5) });
    assert.equal(model.getLayer('avg_pool').getClassName(), 'GlobalAveragePooling2D');
    const predicted = model.predict(tf.zeros([1, ...INPUT])) as tf.Tensor;
    assert.deepEqual(predicted.shape, expectedOutputShapes('classification', 5, 1)[0]);
    const base = model.layers.slice(0, 175);
    assert.equal(base.at(-1)?.name, 'conv5_block3_out');
    const trainable = base.filter((l) => l.trainable).map((l) => l.name);
    assert.equal(trainable.length, 35);
    // the same 35 as `base.layers[:140]` frozen in Keras (checked against Keras: 14,978,048 trainable base parameters)
    assert.deepEqual(trainable.slice(0, 3), [
      'conv4_block6_3_bn',
      'conv4_block6_add',
      'conv4_block6_out',
    ]);
    assert.ok(
      model.layers.slice(175).every((l) => l.trainable),
      'pooling and head are trainable',
    );
    const baseTrainableParams = base
      .filter((l) => l.trainable)
      .flatMap((l) => l.trainableWeights)
      .reduce((sum, w) => sum + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
    assert.equal(baseTrainableParams, 14_978_048);

    // the same rule at the extremes, on the same layers
    const reset = () => base.forEach((l) => (l.trainable = true));
    reset();
    assert.equal(freezeLowerLayers(base, 1), 0);
    reset();
    assert.equal(freezeLowerLayers(base, 0), 175);
    assert.deepEqual(
      model.trainableWeights.map((w) => w.originalName),
      ['expression_dense/kernel', 'expression_dense/bias'],
    );
    tf.dispose(predicted);
    model.dispose();
  });

  it("preprocess: caffe applies Keras' preprocess_input inside the model, adding no parameters", async () => {
    const plain = await resnet({ top: 'none' }).build({
      inputShape: INPUT,
      task: task('classification', 6),
    });
    const caffe = await resnet({ top: 'none', preprocess: 'caffe' }).build({
      inputShape: INPUT,
      task: task('classification', 6),
    });
    assert.equal(caffe.countParams(), plain.countParams());
    assert.equal(caffe.layers.length, plain.layers.length + 1);
    const layer = caffe.getLayer('preprocess_input');
    // one RGB pixel (1.0, 0.5, 0.0) -> BGR * 255 - means
    const out = tf.tidy(() =>
      (layer.apply(tf.tensor4d([1, 0.5, 0], [1, 1, 1, 3])) as tf.Tensor).dataSync(),
    );
    const expected = [0 - 103.939, 127.5 - 116.779, 255 - 123.68];
    expected.forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-3, `${out[i]} vs ${v}`));
    plain.dispose();
    caffe.dispose();
  });

  it('valence-arousal: a two-unit regression head', async () => {
    const model = await resnet({ pooling: 'max', regressionHead: 'tanh' }).build({
      inputShape: INPUT,
      task: task('valence-arousal'),
    });
    assert.deepEqual(outputShapes(model), [[null, 2]]);
    assert.equal(model.getLayer('max_pool').getClassName(), 'GlobalMaxPooling2D');
    assert.equal(model.getLayer('valence_arousal').getConfig().activation, 'tanh');
    model.dispose();
  });

  it('expression+valence-arousal: a training step leaves frozen layers (batch-norm statistics included) unchanged while both heads learn', async () => {
    // A small trainable top keeps the step cheap on the pure-JS backend (the default 0.2 makes
    // it back-propagate into 15M conv5 weights); the freezing rule is the same.
    const model = await resnet({ trainableFraction: 0.03 }).build({
      inputShape: INPUT,
      task: task('expression+valence-arousal', 3),
    });
    assert.deepEqual(
      outputShapes(model),
      expectedOutputShapes('expression+valence-arousal', 3, 1).map(([, n]) => [null, n]),
    );
    const frozen = model.layers.filter((l) => !l.trainable && l.weights.length > 0);
    assert.equal(frozen.at(-1)?.name, 'conv5_block3_2_bn');
    const before = new Map(model.layers.map((l) => [l.name, values(l)]));
    model.compile({
      optimizer: tf.train.sgd(0.1),
      loss: ['categoricalCrossentropy', 'meanSquaredError'],
    });
    const x = tf.randomUniform([2, ...INPUT], 0, 1, 'float32', 11);
    const y = [
      tf.oneHot(tf.tensor1d([0, 2], 'int32'), 3),
      tf.tensor2d([
        [0.5, -0.5],
        [-0.2, 0.8],
      ]),
    ];
    await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0 });
    for (const layer of frozen) {
      assert.ok(same(values(layer), before.get(layer.name) ?? []), `frozen ${layer.name} changed`);
    }
    const changed = (name: string) => !same(values(model.getLayer(name)), before.get(name) ?? []);
    assert.ok(changed('expression_dense'), 'the expression head learns');
    assert.ok(changed('valence_arousal_dense'), 'the regression head learns');
    assert.ok(changed('conv5_block3_3_conv'), 'the unfrozen top of the base learns');
    assert.ok(changed('conv5_block3_3_bn'), 'unfrozen batch norm updates its statistics');
    tf.dispose([x, ...y]);
    model.dispose();
  });

  it("has Keras' ResNet50 topology, and its weights load back by layer name from a local directory", async () => {
    const source = await resnet({ top: 'imagenet' }).build({
      inputShape: INPUT,
      task: task('classification'),
    });
    const names = source.layers.map((l) => l.name);
    assert.equal(names.length, 177, 'Keras: len(ResNet50().layers) == 177');
    assert.deepEqual(names.slice(0, 14), [
      'input_1',
      'conv1_pad',
      'conv1_conv',
      'conv1_bn',
      'conv1_relu',
      'pool1_pad',
      'pool1_pool',
      'conv2_block1_1_conv',
      'conv2_block1_1_bn',
      'conv2_block1_1_relu',
      'conv2_block1_2_conv',
      'conv2_block1_2_bn',
      'conv2_block1_2_relu',
      'conv2_block1_0_conv',
    ]);
    assert.deepEqual(names.slice(-6), [
      'conv5_block3_3_conv',
      'conv5_block3_3_bn',
      'conv5_block3_add',
      'conv5_block3_out',
      'avg_pool',
      'predictions',
    ]);
    const count = (className: string) =>
      source.layers.filter((l) => l.getClassName() === className).length;
    assert.equal(count('Conv2D'), 53);
    assert.equal(count('FreezableBatchNormalization'), 53);
    assert.equal(count('Add'), 16, 'blocks 3 + 4 + 6 + 3');
    for (const [stage, blocks] of [
      [2, 3],
      [3, 4],
      [4, 6],
      [5, 3],
    ]) {
      assert.equal(
        new Set(names.filter((n) => n.startsWith(`conv${stage}_block`)).map((n) => n.split('_')[1]))
          .size,
        blocks,
      );
    }
    assert.deepEqual(source.getLayer('conv3_block1_0_conv').getConfig().strides, [2, 2]);
    assert.deepEqual(source.getLayer('conv2_block1_0_conv').getConfig().strides, [1, 1]);
    assert.equal(source.getLayer('conv4_block2_2_bn').getConfig().epsilon, 1.001e-5);
    assert.equal(source.getLayer('predictions').getConfig().units, 1000);

    // a full checkpoint (with the ImageNet classifier) into a task model: the base loads, the top is ignored
    const root = tempDir();
    await saveModel(source, join(root, 'weights', 'resnet50'));
    const model = await resnet({ weights: 'weights/resnet50' }, root).build({
      inputShape: INPUT,
      task: task('classification', 5),
    });
    for (const name of ['conv1_conv', 'conv3_block2_2_bn', 'conv5_block3_3_conv']) {
      assert.ok(
        same(values(model.getLayer(name)), values(source.getLayer(name))),
        `${name} loaded`,
      );
    }
    const x = tf.randomUniform([1, ...INPUT], 0, 1, 'float32', 5);
    const features = (m: tf.LayersModel) =>
      tf
        .model({ inputs: m.inputs, outputs: m.getLayer('avg_pool').output })
        .predict(x) as tf.Tensor;
    assert.deepEqual(features(model).arraySync(), features(source).arraySync());
    tf.dispose(x);
    source.dispose();
    model.dispose();

    // ImageNet weights need RGB input; a wrong path fails before anything is built
    await assert.rejects(
      resnet({ weights: join(root, 'weights', 'resnet50'), top: 'none' }).build({
        inputShape: [32, 32, 1],
        task: task('classification'),
      }),
      (e: unknown) =>
        e instanceof UserError &&
        /conv1_conv\/kernel has shape \[7, 7, 3, 64\].*\[7, 7, 1, 64\].*3-channel/.test(e.message),
    );
    await assert.rejects(
      resnet({ weights: 'missing' }, root).build({
        inputShape: INPUT,
        task: task('classification'),
      }),
      (e: unknown) =>
        e instanceof UserError && /weights path .*missing does not exist/.test(e.message),
    );
  });
});
