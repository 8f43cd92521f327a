import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-node';
import { loadModel } from '../../../src/core/training/model-io.js';
import { ImagePipeline } from '../../../src/core/pipeline/index.js';
import { kerasPython } from '../../../src/plugins/exporters/python.js';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import {
  disposeMlflowServer,
  mlflowSkipReason,
  startMlflowServer,
  type MlflowServer,
} from '../../support/mlflow-server.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/**
 * The exports that Python loads: the SavedModel (written by Python Keras from the keras export,
 * read back here by tfjs-node) and the MLflow model (mlflow.pyfunc.load_model in .venv-keras,
 * from a folder and from a real MLflow server's run, then registered). Both wrap a .keras file:
 * the keras export format's when one is registered, else Python Keras' conversion of the tfjs
 * model (keras-file.ts). AFFECTLAB_SKIP_KERAS=1 skips them.
 */
const TOLERANCE = 1e-5;
const skip = process.env.AFFECTLAB_SKIP_KERAS === '1' ? 'AFFECTLAB_SKIP_KERAS=1' : false;
const work = tempDir('affectlab-export-py-');

/** Predict in Python with mlflow.pyfunc; returns the outputs and what MLflow read. */
const PYFUNC_SCRIPT = `
import json, sys
import numpy as np
import mlflow
uri, inputs, out = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(open(inputs))
x = np.array(spec["x"], dtype=np.float32).reshape(spec["shape"])
model = mlflow.pyfunc.load_model(uri)
local = mlflow.artifacts.download_artifacts(uri) if ":" in uri else uri
example = mlflow.models.Model.load(local).load_input_example(local)
result = {
    "y": np.asarray(model.predict(x)).tolist(),
    "inputs": model.metadata.signature.inputs.to_dict(),
    "outputs": model.metadata.signature.outputs.to_dict(),
    "example_shape": list(example.shape),
    "example_prediction": np.asarray(model.predict(example)).tolist(),
}
if len(sys.argv) > 4:
    version = mlflow.register_model(uri, sys.argv[4])
    registered = mlflow.pyfunc.load_model(f"models:/{sys.argv[4]}/{version.version}")
    result["registered_version"] = version.version
    result["registered_y"] = np.asarray(registered.predict(x)).tolist()
json.dump(result, open(out, "w"))
`;

interface PyfuncResult {
  y: number[][];
  inputs: { type: string; 'tensor-spec': { dtype: string; shape: number[] } }[];
  outputs: { type: string; 'tensor-spec': { dtype: string; shape: number[] } }[];
  example_shape: number[];
  example_prediction: number[][];
  registered_version?: string;
  registered_y?: number[][];
}

describe('exports that Python loads: SavedModel and MLflow model', { skip }, () => {
  let runDir = '';
  let x: Float32Array;
  let expected: number[][] = [];
  let python = '';
  const shape = [3, 48, 48, 3];

  before(async () => {
    const found = kerasPython();
    if (!found)
      throw new Error(
        'no .venv-keras: run bash scripts/setup-keras.sh (npm test does it in pretest)',
      );
    python = found;
    let synth = '';
    ({ runDir, synth } = await tinyTrainedRun(work, 'export-py', { steps: 10 }));
    // three real images, preprocessed as the run does, and the run's own tfjs predictions
    const images = join(synth, 'Manually_Annotated_Images');
    const folder = readdirSync(images).sort()[0];
    const pipeline = new ImagePipeline({
      image: { height: 48, width: 48, channels: 3 },
      margin: 0,
      workers: 0,
    });
    const pixels = await Promise.all(
      readdirSync(join(images, folder))
        .sort()
        .slice(0, 3)
        .map((name) =>
          pipeline.loadOne({ id: name, imagePath: join(images, folder, name), label: -1 }),
        ),
    );
    await pipeline.close();
    x = new Float32Array(pixels.flatMap((p) => Array.from(p, (v) => v / 255)));
    const model = await loadModel(join(runDir, 'model'));
    expected = tf.tidy(
      () => (model.predict(tf.tensor4d(x, shape as never)) as tf.Tensor).arraySync() as number[][],
    );
    model.dispose();
    writeFileSync(join(work, 'inputs.json'), JSON.stringify({ x: Array.from(x), shape }));
  });

  const maxDiff = (a: number[][], b: number[][]): number =>
    Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));

  function pyfunc(uri: string, env: Record<string, string> = {}, register?: string): PyfuncResult {
    const out = join(work, `pyfunc-${Date.now()}.json`);
    const r = spawnSync(
      python,
      ['-c', PYFUNC_SCRIPT, uri, join(work, 'inputs.json'), out, ...(register ? [register] : [])],
      { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...env } },
    );
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(readFileSync(out, 'utf8')) as PyfuncResult;
  }

  it('savedmodel: tfjs-node loads the SavedModel and predicts what the tfjs model does', async () => {
    const r = affectlab(['export', '--run', runDir, '--format', 'savedmodel']);
    assert.equal(r.code, 0, r.stderr);
    const dir = r.stdout.trim();
    const model = await tf.node.loadSavedModel(dir, ['serve'], 'serve');
    const y = tf.tidy(
      () => (model.predict(tf.tensor4d(x, shape as never)) as tf.Tensor).arraySync() as number[][],
    );
    model.dispose();
    process.stdout.write(`# SavedModel vs tfjs: max difference ${maxDiff(y, expected)}\n`);
    assert.ok(maxDiff(y, expected) < TOLERANCE, `max diff ${maxDiff(y, expected)}`);
  });

  it('mlflow: mlflow.pyfunc.load_model loads the folder, with its signature and input example', () => {
    const out = join(work, 'mlflow-local');
    const r = affectlab(['export', '--run', runDir, '--format', 'mlflow', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /did not report to MLflow: nothing logged/);
    const result = pyfunc(out);
    process.stdout.write(
      `# MLflow pyfunc vs tfjs: max difference ${maxDiff(result.y, expected)}\n`,
    );
    assert.ok(maxDiff(result.y, expected) < TOLERANCE, `max diff ${maxDiff(result.y, expected)}`);
    assert.deepEqual(result.inputs, [
      { type: 'tensor', 'tensor-spec': { dtype: 'float32', shape: [-1, 48, 48, 3] } },
    ]);
    assert.deepEqual(result.outputs[0]['tensor-spec'].shape, [-1, 6]);
    assert.deepEqual(result.example_shape, [1, 48, 48, 3]);
    assert.equal(result.example_prediction[0].length, 6);
  });

  it("mlflow: a multi-task model's two heads come out side by side, as the signature says", async () => {
    const va = await tinyTrainedRun(work, 'export-va', { task: 'expression+valence-arousal' });
    const out = join(work, 'mlflow-va');
    const r = affectlab(['export', '--run', va.runDir, '--format', 'mlflow', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(out, 'MLmodel'), 'utf8'), /output_columns:(\n\s+- \w+){8}/);
    const model = await loadModel(join(va.runDir, 'model'));
    const want = tf.tidy(
      () =>
        tf
          .concat(model.predict(tf.tensor4d(x, shape as never)) as tf.Tensor[], 1)
          .arraySync() as number[][],
    );
    model.dispose();
    const result = pyfunc(out);
    assert.deepEqual(result.outputs[0]['tensor-spec'].shape, [-1, 8]);
    assert.ok(maxDiff(result.y, want) < TOLERANCE, `max diff ${maxDiff(result.y, want)}`);
  });

  describe('logged to a real MLflow server', { skip: mlflowSkipReason() }, () => {
    let server: MlflowServer | undefined;
    before(async () => {
      server = await startMlflowServer();
    });
    after(async () => disposeMlflowServer(server));

    it("goes to the run's MLflow run as runs:/<id>/model, which loads and registers", async () => {
      const srv = server as MlflowServer;
      const logged = await tinyTrainedRun(work, 'export-mlflow', {
        steps: 2,
        reporters: `[{ type: console, progress: none }, { type: mlflow, trackingUri: '${srv.uri}' }]`,
      });
      const state = JSON.parse(readFileSync(join(logged.runDir, 'mlflow.json'), 'utf8')) as {
        runId: string;
      };
      const r = affectlab(['export', '--run', logged.runDir, '--format', 'mlflow']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`logged to MLflow run ${state.runId}`));
      const model = await loadModel(join(logged.runDir, 'model'));
      const want = tf.tidy(
        () =>
          (model.predict(tf.tensor4d(x, shape as never)) as tf.Tensor).arraySync() as number[][],
      );
      model.dispose();
      const result = pyfunc(
        `runs:/${state.runId}/model`,
        { MLFLOW_TRACKING_URI: srv.uri },
        'affectlab-export-test',
      );
      assert.ok(maxDiff(result.y, want) < TOLERANCE, `max diff ${maxDiff(result.y, want)}`);
      assert.equal(result.registered_version, '1');
      assert.ok(maxDiff(result.registered_y ?? [], want) < TOLERANCE);
    });
  });
});
