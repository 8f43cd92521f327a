import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import {
  EfficientNetB0,
  type EfficientNetB0Options,
} from '../../../src/plugins/architectures/efficientnet-b0.js';
import {
  MobileNetV2,
  type MobileNetV2Options,
} from '../../../src/plugins/architectures/mobilenet-v2.js';
import { kerasPython } from '../../../src/plugins/exporters/python.js';
import { activateBackend, repoRoot, tempDir } from '../../support/helpers.js';

/**
 * MobileNetV2 and EfficientNet-B0 side by side with Python Keras (.venv-keras,
 * scripts/setup-keras.sh): Keras' parameter counts and layer names, and Keras' features from
 * weights Keras wrote (random, with moved batch-norm and input-normalisation statistics) as a
 * legacy .h5, the layout of its ImageNet downloads, loaded here by layer name. For EfficientNet
 * also the model Keras builds for weights="imagenet" (its extra rescaling_1), from a file whose
 * normalisation variance holds ImageNet's standard deviations as Keras' own file does.
 */
const SIZE = 48;
const skipPython = process.env.AFFECTLAB_SKIP_KERAS === '1' ? 'AFFECTLAB_SKIP_KERAS=1' : false;
const script = join(repoRoot, 'test/integration/architectures/fixtures/keras_backbones.py');
const work = tempDir('affectlab-keras-backbones-');
const logger = new Logger();
logger.level = 'error';
const context = new RunContext('keras-backbones', join(work, 'x.yaml'), 1, work, work);
const task: Task = {
  kind: 'classification',
  classes: [0, 1].map((i) => ({ index: i, code: i, name: `c${i}` })),
};

interface KerasBackbone {
  noTop: number;
  noTopTrainable: number;
  top: number;
  layers: string[];
  h5: string;
  features: number[];
}
interface Reference {
  x: number[];
  shape: [number, number, number, number];
  mobilenetV2: KerasBackbone;
  efficientnetB0: KerasBackbone & {
    imagenet: { h5: string; layers: string[]; features: number[] };
  };
}

/** Run the fixture without blocking the event loop (it takes minutes on a loaded machine). */
function runFixture(python: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script, work, String(SIZE)], {
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${script} exited ${code}:\n${stderr}`)),
    );
  });
}

/** max |ours - Keras| relative to the largest |Keras feature| (at least 1). */
function difference(model: tf.LayersModel, x: tf.Tensor, expected: number[]): number {
  const got = (model.predict(x) as tf.Tensor).dataSync();
  assert.equal(got.length, expected.length);
  let worst = 0;
  let scale = 1;
  expected.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(got[i] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return worst / scale;
}

const mobileNet = (o: Partial<MobileNetV2Options>, size = SIZE) =>
  new MobileNetV2(
    {
      weights: 'none',
      alpha: 1,
      trainableFraction: 1,
      pooling: 'avg',
      top: 'none',
      preprocess: 'tf',
      regressionHead: 'linear',
      ...o,
    },
    logger,
    context,
  ).build({ inputShape: [size, size, 3], task });

const efficientNet = (o: Partial<EfficientNetB0Options>, size = SIZE) =>
  new EfficientNetB0(
    {
      weights: 'none',
      trainableFraction: 1,
      pooling: 'avg',
      top: 'none',
      dropout: 0.2,
      dropConnectRate: 0.2,
      regressionHead: 'linear',
      ...o,
    },
    logger,
    context,
  ).build({ inputShape: [size, size, 3], task });

const trainableCount = (model: tf.LayersModel) =>
  model.trainableWeights.reduce((n, w) => n + w.shape.reduce((p: number, d) => p * (d ?? 1), 1), 0);

/** Layer names without the input layer (Keras numbers its input layers per session). */
const names = (layers: readonly (string | { name: string })[]) =>
  layers.slice(1).map((l) => (typeof l === 'string' ? l : l.name));

describe('mobilenet-v2 and efficientnet-b0 against Python Keras', { skip: skipPython }, () => {
  let reference: Reference;
  let x: tf.Tensor;

  before(async () => {
    await activateBackend();
    const python = kerasPython();
    assert.ok(
      python,
      'no .venv-keras: run bash scripts/setup-keras.sh (npm test does it in pretest)',
    );
    await runFixture(python);
    reference = JSON.parse(readFileSync(join(work, 'reference.json'), 'utf8')) as Reference;
    x = tf.tensor(reference.x, reference.shape);
  });

  it("mobilenet-v2: Keras' parameter counts and layers; Keras' features from its .h5, loaded by name", async () => {
    const keras = reference.mobilenetV2;
    assert.equal(keras.noTop, 2_257_984);
    const noTop = await mobileNet({ preprocess: 'none' }, 224);
    assert.equal(noTop.countParams(), keras.noTop);
    assert.equal(trainableCount(noTop), keras.noTopTrainable);
    assert.deepEqual(names(noTop.layers), names(keras.layers));
    const top = await mobileNet({ top: 'imagenet' }, 224);
    assert.equal(top.countParams(), keras.top);
    tf.dispose([noTop, top].flatMap((m) => m.weights.map((w) => w.read())));

    const loaded = await mobileNet({ weights: keras.h5 });
    const d = difference(loaded, x, keras.features);
    assert.ok(d <= 1e-4, `features differ from Keras' by ${d} of their scale`);
    // the same weights left out: the features are not Keras' (the comparison can fail)
    assert.ok(difference(await mobileNet({}), x, keras.features) > 1e-2);
  });

  it("efficientnet-b0: Keras' parameter counts and layers; Keras' features from its .h5, loaded by name", async () => {
    const keras = reference.efficientnetB0;
    assert.equal(keras.noTop, 4_049_571);
    const noTop = await efficientNet({}, 224);
    assert.equal(noTop.countParams(), keras.noTop);
    assert.equal(trainableCount(noTop), keras.noTopTrainable);
    assert.deepEqual(names(noTop.layers), names(keras.layers));
    const top = await efficientNet({ top: 'imagenet' }, 224);
    assert.equal(top.countParams(), keras.top);

    // Keras' model takes 0-255 pixels (its rescaling divides by 255), this one the pipeline's [0, 1]
    const loaded = await efficientNet({ weights: keras.h5 });
    assert.equal(
      loaded.layers.some((l) => l.name === 'rescaling_1'),
      false,
      'no ImageNet variance fix for other weights',
    );
    const d = difference(loaded, x, keras.features);
    assert.ok(d <= 1e-4, `features differ from Keras' by ${d} of their scale`);
    assert.ok(difference(await efficientNet({}), x, keras.features) > 1e-2);
  });

  it("efficientnet-b0: a file with Keras' ImageNet normalisation gets Keras' weights='imagenet' model, rescaling_1 included", async () => {
    const keras = reference.efficientnetB0.imagenet;
    const model = await efficientNet({ weights: keras.h5 });
    assert.deepEqual(names(model.layers).slice(0, 4), [
      'rescaling',
      'normalization',
      'rescaling_1',
      'stem_conv_pad',
    ]);
    assert.equal(model.layers.length, keras.layers.length);
    const d = difference(model, x, keras.features);
    assert.ok(d <= 1e-4, `features differ from Keras' by ${d} of their scale`);
  });
});
