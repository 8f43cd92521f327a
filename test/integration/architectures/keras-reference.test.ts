import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import { ResNet50 } from '../../../src/plugins/architectures/resnet50.js';
import { summarizeModel } from '../../../src/plugins/architectures/summary.js';
import { VggType, type VggTypeOptions } from '../../../src/plugins/architectures/vgg-type.js';
import { loadWeightsByLayerName } from '../../../src/plugins/architectures/weights.js';
import { activateBackend, repoRoot } from '../../support/helpers.js';

/**
 * Side by side with Keras itself: parameter counts, layer names and order, and predictions with
 * weights written by Keras and loaded here by name. Needs a Python with TensorFlow, named by
 * AFFECTLAB_KERAS_PYTHON (e.g. a venv with `pip install tensorflow-cpu`); skipped without it,
 * since CI has no TensorFlow. The figures it checks are also asserted, as constants, by the
 * unit and summary tests that always run.
 */
const python = process.env.AFFECTLAB_KERAS_PYTHON;
const script = join(repoRoot, 'test/integration/architectures/fixtures/keras_reference.py');

interface Reference {
  vgg: { total: number; nonTrainable: number; layers: string[]; x: number[][][][]; y: number[][] };
  resnetNoTop: { total: number; trainable: number; layers: string[] };
  resnet: {
    total: number;
    layers: string[];
    x: number[][][][];
    features: number[][][][];
    y: number[][];
  };
}

const classes = (n: number): Task => ({
  kind: 'classification',
  classes: Array.from({ length: n }, (_, i) => ({ index: i, code: i, name: `c${i}` })),
});

function maxAbsDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe(
  'against Keras (AFFECTLAB_KERAS_PYTHON)',
  { skip: python ? false : 'set AFFECTLAB_KERAS_PYTHON to a python with TensorFlow' },
  () => {
    let dir = '';
    let reference: Reference;

    before(async () => {
      await activateBackend();
      dir = mkdtempSync(join(tmpdir(), 'affectlab-keras-'));
      const run = spawnSync(python as string, [script, dir], {
        encoding: 'utf8',
        timeout: 600_000,
      });
      assert.equal(run.status, 0, run.stderr);
      reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
    });

    after(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("vgg-type: Keras' parameter counts and layer names for Appendix C, and Keras' predictions from its weights", () => {
      const options: VggTypeOptions = {
        filters: [64, 128, 256, 256],
        dense: [128, 64],
        convDropout: 0.3,
        denseDropout: 0.25,
        batchNormMomentum: 0.99,
        regressionHead: 'linear',
      };
      const report = new VggType(options).build({
        inputShape: [256, 256, 3],
        task: classes(6),
      });
      const summary = summarizeModel(report);
      assert.equal(summary.totalParams, reference.vgg.total);
      assert.equal(summary.nonTrainableParams, reference.vgg.nonTrainable);
      // Keras names the head dense_2 + activation_6; here it is the shared head
      assert.deepEqual(
        report.layers.slice(1, -2).map((l) => l.name),
        reference.vgg.layers.slice(0, -2),
      );
      report.dispose();

      const model = new VggType(options).build({
        inputShape: [64, 64, 3],
        task: classes(6),
      });
      const weightsDir = join(dir, 'vgg');
      const manifest = JSON.parse(
        readFileSync(join(weightsDir, 'weights_manifest.json'), 'utf8'),
      ) as {
        paths: string[];
        weights: { name: string }[];
      }[];
      // the head is the only layer named differently: rename Keras' dense_2 for the loader
      for (const w of manifest[0].weights)
        w.name = w.name.replace(/^dense_2\//, 'expression_dense/');
      const renamed = join(weightsDir, 'renamed.json');
      writeFileSync(renamed, JSON.stringify(manifest));
      const loaded = loadWeightsByLayerName(model.layers, renamed);
      assert.deepEqual(loaded.unused, []);
      const y = model.predict(tf.tensor(reference.vgg.x)) as tf.Tensor;
      assert.ok(maxAbsDifference(y, tf.tensor(reference.vgg.y)) < 1e-5);
      model.dispose();
    });

    it("resnet50: Keras' counts, layer order and frozen split, and Keras' features and predictions from its weights", async () => {
      const logger = new Logger();
      logger.level = 'error';
      const context = new RunContext('keras', 'keras.yaml', 1, dir, dir);
      const build = (
        top: 'none' | 'imagenet',
        weights: string,
        inputShape: [number, number, number],
      ) =>
        new ResNet50(
          {
            weights,
            trainableFraction: 0.2,
            pooling: 'avg',
            top,
            regressionHead: 'linear',
            preprocess: 'none',
          },
          logger,
          context,
        ).build({
          inputShape,
          task: classes(1000),
        });
      const noTop = await build('none', 'none', [32, 32, 3]);
      const noTopSummary = summarizeModel(noTop);
      assert.equal(noTopSummary.totalParams, reference.resnetNoTop.total);
      assert.equal(noTopSummary.trainableParams, reference.resnetNoTop.trainable);
      assert.deepEqual(
        noTop.layers.slice(1).map((l) => l.name),
        reference.resnetNoTop.layers.slice(1),
      );
      noTop.dispose();

      const full = await build('imagenet', 'resnet50', [64, 64, 3]);
      assert.equal(full.countParams(), reference.resnet.total);
      assert.deepEqual(
        full.layers.slice(1).map((l) => l.name),
        reference.resnet.layers.slice(1),
      );
      const x = tf.tensor(reference.resnet.x);
      const features = tf
        .model({ inputs: full.inputs, outputs: full.getLayer('conv5_block3_out').output })
        .predict(x) as tf.Tensor;
      assert.ok(maxAbsDifference(features, tf.tensor(reference.resnet.features)) < 1e-4);
      assert.ok(
        maxAbsDifference(full.predict(x) as tf.Tensor, tf.tensor(reference.resnet.y)) < 1e-6,
      );
      full.dispose();
    });
  },
);
