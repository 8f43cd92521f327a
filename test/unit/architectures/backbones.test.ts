import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import { loadModel, saveModel } from '../../../src/core/training/model-io.js';
import {
  EfficientNetB0,
  buildEfficientNetB0Base,
} from '../../../src/plugins/architectures/efficientnet-b0.js';
import { MobileNetV2, makeDivisible } from '../../../src/plugins/architectures/mobilenet-v2.js';
import { activateBackend, tempDir } from '../../support/helpers.js';

const logger = new Logger();
logger.level = 'error';
const context = new RunContext('t', 't.yaml', 1, '/nonexistent', '/nonexistent');
const task: Task = {
  kind: 'classification',
  classes: [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` })),
};

describe('mobilenet-v2 and efficientnet-b0', () => {
  before(async () => {
    await activateBackend();
  });

  it("rounds widths as Keras' _make_divisible", () => {
    assert.deepEqual(
      [32 * 0.35, 16 * 0.5, 24 * 0.75, 1280 * 1.3, 320 * 1.4, 96].map((v) => makeDivisible(v)),
      [16, 8, 24, 1664, 448, 96],
    );
  });

  it('freezes all but the last trainableFraction of the base, counted over Keras\u2019 layers', async () => {
    const model = await new MobileNetV2(
      {
        weights: 'none',
        alpha: 0.35,
        trainableFraction: 0.2,
        pooling: 'avg',
        top: 'task',
        preprocess: 'tf',
        regressionHead: 'linear',
      },
      logger,
      context,
    ).build({ inputShape: [32, 32, 3], task });
    // Keras' 154 layers (input included): round(0.2 * 154) = 31 trainable, 123 frozen; the
    // preprocess_input layer and the head are not base layers
    const frozen = model.layers.filter((l) => !l.trainable).map((l) => l.name);
    assert.equal(frozen.length, 123);
    assert.equal(frozen[0], 'input_layer');
    assert.ok(!frozen.includes('preprocess_input'));
    assert.ok(model.getLayer('out_relu').trainable);
    assert.ok(!model.getLayer('block_12_project_BN').trainable);
  });

  it('saves and loads as a tfjs model: Normalization, per-channel Rescaling, drop-connect', async () => {
    const input = tf.input({ shape: [32, 32, 3] });
    const base = buildEfficientNetB0Base(input, {
      dropConnectRate: 0.2,
      imagenetVarianceFix: true,
    });
    const model = tf.model({ inputs: input, outputs: base.output });
    assert.equal(model.getLayer('rescaling_1').getClassName(), 'Rescaling');
    const dir = tempDir();
    await saveModel(model, dir);
    const back = await loadModel(dir);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 1, 'float32', 3);
    const [a, b] = [model.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor];
    assert.deepEqual(b.dataSync(), a.dataSync());
    assert.deepEqual(
      back.getLayer('normalization').weights.map((w) => w.read().dataSync()[0]),
      [0.485, 0.229 * 0.229, 0].map(Math.fround),
    );
  });

  it('names the architecture when the input is too small', async () => {
    await assert.rejects(
      new EfficientNetB0(
        {
          weights: 'none',
          trainableFraction: 1,
          pooling: 'avg',
          top: 'task',
          dropout: 0.2,
          dropConnectRate: 0.2,
          regressionHead: 'linear',
        },
        logger,
        context,
      ).build({ inputShape: [24, 24, 3], task }),
      /efficientnet-b0 needs an input of at least 32x32 pixels, but the dataset gives 24x24/,
    );
  });
});
