import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-node';
import puppeteer from 'puppeteer-core';
import { ImagePipeline } from '../../../src/core/pipeline/index.js';
import { loadModel } from '../../../src/core/training/model-io.js';
import { MlflowClient } from '../../../src/plugins/reporters/mlflow/client.js';
import { kerasPython } from '../../../src/plugins/exporters/python.js';
import { affectlabAsync } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import {
  disposeMlflowServer,
  mlflowSkipReason,
  startMlflowServer,
  type MlflowServer,
} from '../../support/mlflow-server.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/**
 * Every finished run reported to MLflow logs its model as an MLflow 3 LoggedModel (reporter
 * option logModel, on by default): a tiny AlexNet run (local response normalisation, a layer
 * Keras has no class for) against a real MLflow server leaves one READY LoggedModel with the
 * run as its source and output, the evaluation's metrics, classes and preprocessing; Python's
 * mlflow.pyfunc loads `models:/<id>` and predicts what the run's model does to 1e-5, and it
 * registers. A run with `logModel: false` leaves none.
 */
const TOLERANCE = 1e-5;
const skip =
  mlflowSkipReason() ??
  (process.env.AFFECTLAB_SKIP_KERAS === '1' ? 'AFFECTLAB_SKIP_KERAS=1' : false);
const work = tempDir('affectlab-logged-model-');
const SIZE = 67;

const PYFUNC_SCRIPT = `
import json, sys
import numpy as np
import mlflow
uri, inputs, out, name = sys.argv[1:5]
spec = json.load(open(inputs))
x = np.array(spec["x"], dtype=np.float32).reshape(spec["shape"])
model = mlflow.pyfunc.load_model(uri)
version = mlflow.register_model(uri, name)
registered = mlflow.pyfunc.load_model(f"models:/{name}/{version.version}")
json.dump({
    "y": np.asarray(model.predict(x)).tolist(),
    "registered_y": np.asarray(registered.predict(x)).tolist(),
    "version": version.version,
    "inputs": model.metadata.signature.inputs.to_dict(),
    "metadata": model.metadata.metadata,
}, open(out, "w"))
`;

interface PyfuncResult {
  y: number[][];
  registered_y: number[][];
  version: string;
  inputs: { 'tensor-spec': { shape: number[] } }[];
  metadata: { classes: string[]; preprocessing: string };
}

const maxDiff = (a: number[][], b: number[][]): number =>
  Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));

const reporters = (uri: string, extra = ''): string =>
  `[{ type: console, progress: none }, { type: mlflow, trackingUri: '${uri}', systemMetricsIntervalSeconds: 0${extra} }]`;

describe('every run reported to MLflow logs its model as an MLflow 3 LoggedModel', { skip }, () => {
  let server: MlflowServer | undefined;
  before(async () => {
    server = await startMlflowServer();
  });
  after(async () => disposeMlflowServer(server));

  it('a tiny AlexNet run: a READY LoggedModel of the run, with its metrics, that pyfunc loads and predicts to 1e-5, and registers', async () => {
    const srv = server as MlflowServer;
    const python = kerasPython();
    assert.ok(python, 'no .venv-keras: run bash scripts/setup-keras.sh');
    const { runDir, synth } = await tinyTrainedRun(work, 'logged-alexnet', {
      architecture: '{ type: alexnet, fcUnits: 16 }',
      imageSize: SIZE,
      reporters: reporters(srv.uri),
    });
    const state = JSON.parse(readFileSync(join(runDir, 'mlflow.json'), 'utf8')) as {
      runId: string;
      experimentId: string;
    };
    const client = new MlflowClient({ trackingUri: srv.uri, credentials: {} });
    const models = await client.searchLoggedModels([state.experimentId]);
    assert.equal(models.length, 1, JSON.stringify(models));
    const [model] = models;
    assert.equal(model.status, 'LOGGED_MODEL_READY');
    assert.equal(model.sourceRunId, state.runId);
    assert.equal(model.name, 'model');
    // the evaluation's metrics, as the run has them
    const run = await client.getRun(state.runId);
    const accuracy = run.metrics.find((m) => m.key === 'test/accuracy');
    assert.ok(accuracy, 'the run has test/accuracy');
    assert.equal(model.metrics.find((m) => m.key === 'test/accuracy')?.value, accuracy.value);
    assert.equal(run.tags['affectlab.mlflow_model'], `models:/${model.modelId}`);
    assert.equal(run.info.status, 'FINISHED');
    // the run lists the model as its output
    const raw = (await (
      await fetch(`${srv.uri}/api/2.0/mlflow/runs/get?run_id=${state.runId}`)
    ).json()) as { run: { outputs?: { model_outputs?: { model_id: string }[] } } };
    assert.deepEqual(
      raw.run.outputs?.model_outputs?.map((o) => o.model_id),
      [model.modelId],
    );

    // three real images as the run's pipeline prepares them, and the run's own predictions
    const images = join(synth, 'Manually_Annotated_Images');
    const folder = readdirSync(images).sort()[0];
    const pipeline = new ImagePipeline({
      image: { height: SIZE, width: SIZE, channels: 3 },
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
    const shape = [3, SIZE, SIZE, 3];
    const x = pixels.flatMap((p) => Array.from(p, (v) => v / 255));
    const tfjsModel = await loadModel(join(runDir, 'model'));
    const want = tf.tidy(
      () =>
        (tfjsModel.predict(tf.tensor4d(x, shape as never)) as tf.Tensor).arraySync() as number[][],
    );
    tfjsModel.dispose();
    const inputs = join(work, 'inputs.json');
    writeFileSync(inputs, JSON.stringify({ x, shape }));
    const out = join(work, 'pyfunc.json');
    const r = spawnSync(
      python,
      ['-c', PYFUNC_SCRIPT, `models:/${model.modelId}`, inputs, out, 'affectlab-alexnet'],
      {
        encoding: 'utf8',
        env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', MLFLOW_TRACKING_URI: srv.uri },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(readFileSync(out, 'utf8')) as PyfuncResult;
    const d = maxDiff(result.y, want);
    process.stdout.write(`# LoggedModel pyfunc vs tfjs: max difference ${d}\n`);
    assert.ok(d < TOLERANCE, `max diff ${d}`);
    assert.ok(maxDiff(result.registered_y, want) < TOLERANCE);
    assert.equal(result.version, '1');
    assert.deepEqual(result.inputs[0]['tensor-spec'].shape, [-1, SIZE, SIZE, 3]);
    assert.equal(result.metadata.classes.length, 6);
    assert.match(result.metadata.preprocessing, /pixel \/ 255/);
  });

  it('logModel: false leaves no LoggedModel', async () => {
    const srv = server as MlflowServer;
    const { runDir } = await tinyTrainedRun(work, 'no-logged-model', {
      reporters: reporters(srv.uri, ', logModel: false'),
    });
    const state = JSON.parse(readFileSync(join(runDir, 'mlflow.json'), 'utf8')) as {
      experimentId: string;
    };
    const client = new MlflowClient({ trackingUri: srv.uri, credentials: {} });
    assert.deepEqual(await client.searchLoggedModels([state.experimentId]), []);
  });
});

/** Every folder under `dir` (depth 3) holding an mlflow.json: MLflow run id -> run folder. */
function reportedRuns(dir: string, depth = 3): Map<string, string> {
  const found = new Map<string, string>();
  const state = join(dir, 'mlflow.json');
  if (existsSync(state))
    found.set((JSON.parse(readFileSync(state, 'utf8')) as { runId: string }).runId, dir);
  if (depth > 0)
    for (const name of readdirSync(dir))
      if (statSync(join(dir, name)).isDirectory())
        for (const [k, v] of reportedRuns(join(dir, name), depth - 1)) found.set(k, v);
  return found;
}

const SWEEP_SCRIPT = `
import json, sys
import numpy as np
import mlflow
spec = json.load(open(sys.argv[1]))
x = np.array(spec["x"], dtype=np.float32).reshape(spec["shape"])
out = {uri: np.asarray(mlflow.pyfunc.load_model(uri).predict(x)).tolist() for uri in sys.argv[3:]}
json.dump(out, open(sys.argv[2], "w"))
`;

describe('the README strategy sweep (AlexNet, tiny): a LoggedModel per run', { skip }, () => {
  let server: MlflowServer | undefined;
  before(async () => {
    server = await startMlflowServer();
  });
  after(async () => disposeMlflowServer(server));

  it('four children, four READY LoggedModels in the experiment, each loading in pyfunc and predicting as its run to 1e-5', async () => {
    const srv = server as MlflowServer;
    const synth = await smallSyntheticSet();
    const root = join(work, 'sweep-runs');
    const set = (kv: string) => ['--set', kv];
    const r = await affectlabAsync(
      [
        'run',
        'experiments/affectnet-alexnet-strategies.yaml',
        ...set(`dataset.root=${synth}`),
        ...set('dataset.classes=report6'),
        ...set(`dataset.imageSize=${SIZE}`),
        ...set('dataset.split.validationPerClass=4'),
        ...set('architecture.fcUnits=16'),
        ...set('training.epochs=1'),
        ...set('training.stepsPerEpoch=1'),
        ...set('training.batchSize=8'),
        ...set(`runs.root=${root}`),
        '--cache-dir',
        join(work, 'cache'),
      ],
      { env: { MLFLOW_TRACKING_URI: srv.uri }, timeoutMs: 900_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const client = new MlflowClient({ trackingUri: srv.uri, credentials: {} });
    const experiment = await client.getExperimentByName('affectnet-alexnet-strategies');
    assert.ok(experiment);
    const models = await client.searchLoggedModels([experiment.experimentId]);
    const runs = reportedRuns(root);
    assert.equal(runs.size, 4, [...runs.values()].join(', '));
    assert.deepEqual(
      models.map((m) => m.sourceRunId).sort(),
      [...runs.keys()].sort(),
      'one LoggedModel per child run',
    );
    for (const m of models) assert.equal(m.status, 'LOGGED_MODEL_READY');

    const shape = [2, SIZE, SIZE, 3] as [number, number, number, number];
    const x = tf.randomUniform(shape, 0, 1, 'float32', 9);
    const inputs = join(work, 'sweep-inputs.json');
    writeFileSync(inputs, JSON.stringify({ x: Array.from(x.dataSync()), shape }));
    const out = join(work, 'sweep-pyfunc.json');
    const uris = models.map((m) => `models:/${m.modelId}`);
    const py = spawnSync(kerasPython() as string, ['-c', SWEEP_SCRIPT, inputs, out, ...uris], {
      encoding: 'utf8',
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', MLFLOW_TRACKING_URI: srv.uri },
    });
    assert.equal(py.status, 0, py.stderr);
    const predicted = JSON.parse(readFileSync(out, 'utf8')) as Record<string, number[][]>;
    for (const m of models) {
      const tfjsModel = await loadModel(join(runs.get(m.sourceRunId as string) as string, 'model'));
      const want = (tfjsModel.predict(x) as tf.Tensor).arraySync() as number[][];
      tfjsModel.dispose();
      const d = maxDiff(predicted[`models:/${m.modelId}`], want);
      process.stdout.write(`# sweep child ${m.sourceRunId}: pyfunc vs tfjs max difference ${d}\n`);
      assert.ok(d < TOLERANCE, `${m.modelId}: max diff ${d}`);
    }
    await screenshots(srv.uri, experiment.experimentId, [...runs.keys()]);
  });
});

const chromium = process.env.AFFECTLAB_CHROMIUM ?? '/usr/bin/chromium';

/**
 * MLflow's own UI in headless Chromium, as a user sees the sweep: the Models tab lists the four
 * READY models with their source runs; a run's metrics page puts the evaluation under its own
 * `test` sections; the compare view takes the four runs. Each page is saved as a PNG (under
 * $AFFECTLAB_SCREENSHOTS when set, else the test's folder) to be looked at.
 */
async function screenshots(uri: string, experimentId: string, runIds: string[]): Promise<void> {
  assert.ok(existsSync(chromium), `no Chromium at ${chromium} (.ci/run installs it)`);
  const dir = process.env.AFFECTLAB_SCREENSHOTS ?? join(work, 'screenshots');
  mkdirSync(dir, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1600, height: 1000 });
    const open = async (name: string, hash: string): Promise<string> => {
      await page.goto(`${uri}/#${hash}`, { waitUntil: 'networkidle0', timeout: 120_000 });
      // MLflow 3.17 opens on its GenAI view whatever the experiment's kind: the switch is the
      // browser's (a user clicks "Model training" once)
      const switched = (await page.evaluate(`(() => {
        const toggle = [...document.querySelectorAll('button, label, span')].find(
          (e) => e.textContent.trim() === 'Model training');
        if (toggle) toggle.click();
        return toggle !== undefined;
      })()`)) as boolean;
      if (switched) await page.goto(`${uri}/#${hash}`, { waitUntil: 'networkidle0' });
      await page.waitForFunction('document.body.innerText.length > 500', { timeout: 60_000 });
      await new Promise((done) => setTimeout(done, 2000));
      await page.screenshot({ path: join(dir, `${name}.png`) });
      return (await page.evaluate('document.body.innerText')) as string;
    };
    const runList = await open('run-list', `/experiments/${experimentId}/runs`);
    assert.match(runList, /affectnet-alexnet-strategies/);
    const models = await open('models-tab', `/experiments/${experimentId}/models`);
    assert.equal(models.match(/^Ready$/gm)?.length, 4, models);
    for (const name of [
      'imbalanced',
      'down-sample',
      'up-sample',
      'weighted(scheme=inverse-frequency)',
    ])
      assert.ok(models.includes(`affectnet-alexnet-strategies-sampler=${name}`), name);
    const metrics = await open(
      'run-metrics',
      `/experiments/${experimentId}/runs/${runIds[0]}/model-metrics`,
    );
    // the evaluation in its own sections, the per-epoch metrics in the main one
    assert.match(metrics, /^test\n\(\d+\)$/m);
    assert.match(metrics, /^test_norm\n\(\d+\)$/m);
    assert.match(metrics, /^Model metrics\n\(\d+\)$/m);
    const compare = await open(
      'compare',
      `/compare-runs?runs=${JSON.stringify(runIds)}&experiments=${JSON.stringify([experimentId])}`,
    );
    assert.match(compare, /Comparing 4 Runs/);
    process.stdout.write(`# MLflow UI screenshots: ${dir}\n`);
  } finally {
    await browser.close();
  }
}
