import 'reflect-metadata';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import {
  disposeMlflowServer,
  mlflowSkipReason,
  startMlflowServer,
  type MlflowServer,
} from '../../support/mlflow-server.js';
import { smallSyntheticSet } from '../../support/synth.js';

const work = tempDir();
const skip = mlflowSkipReason();

async function api<T>(server: MlflowServer, path: string, body?: unknown): Promise<T> {
  const res = await fetch(
    `${server.uri}/api/2.0/mlflow/${path}`,
    body === undefined
      ? {}
      : {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
  );
  assert.ok(res.ok, `${path}: HTTP ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

interface RunData {
  run: {
    info: { run_id: string; status: string; run_name: string; experiment_id: string };
    data: {
      params?: { key: string; value: string }[];
      tags?: { key: string; value: string }[];
      metrics?: { key: string; value: number; step: number }[];
    };
    inputs?: { dataset_inputs?: { dataset: { name: string; source_type: string } }[] };
  };
}

describe('a run on synthetic data, reported to a real MLflow server', { skip }, () => {
  let server: MlflowServer | undefined;
  before(async () => {
    server = await startMlflowServer();
    await activateBackend();
  });
  after(async () => disposeMlflowServer(server));

  it('appears in MLflow with params, metric history, tags, the dataset input and artifacts', async () => {
    const srv = server as MlflowServer;
    const synth = await smallSyntheticSet();
    const file = join(work, 'mlflow-e2e.yaml');
    writeFileSync(
      file,
      `name: mlflow-e2e
description: end-to-end check of the MLflow reporter
seed: 5
runs: { root: ${join(work, 'runs')} }
dataset: { type: affectnet, root: ${synth}, classes: report6, imageSize: 48, split: { validationPerClass: 4, limit: { test: 24 } } }
sampler: { type: weighted }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training: { epochs: 2, batchSize: 8, stepsPerEpoch: 2 }
reporters:
  - { type: console, progress: none }
  - { type: mlflow, trackingUri: '${srv.uri}' }
`,
    );
    const runtime = testRuntime();
    const result = await runExperiment(runtime, await runtime.resolve(file), {
      cacheDir: join(work, 'cache'),
    });
    assert.equal(result.status, 'FINISHED');

    const { experiment } = await api<{ experiment: { experiment_id: string } }>(
      srv,
      'experiments/get-by-name?experiment_name=mlflow-e2e',
    );
    const search = await api<{ runs: RunData['run'][] }>(srv, 'runs/search', {
      experiment_ids: [experiment.experiment_id],
    });
    assert.equal(search.runs.length, 1);
    const { run } = await api<RunData>(srv, `runs/get?run_id=${search.runs[0].info.run_id}`);
    assert.equal(run.info.status, 'FINISHED');
    const params = Object.fromEntries((run.data.params ?? []).map((p) => [p.key, p.value]));
    assert.equal(params['training.epochs'], '2');
    assert.equal(params['architecture.type'], 'vgg-type');
    assert.equal(params['dataset.classes'], 'report6');
    const tags = Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
    assert.ok(tags['mlflow.runName']);
    assert.match(tags['mlflow.source.name'] ?? '', /mlflow-e2e\.yaml$/);
    assert.equal(tags['mlflow.source.type'], 'LOCAL');
    assert.ok(tags['mlflow.user']);
    assert.match(tags['mlflow.note.content'] ?? '', /end-to-end check/);
    const history = await api<{ metrics: { step: number; value: number }[] }>(
      srv,
      `metrics/get-history?run_id=${run.info.run_id}&metric_key=val_loss`,
    );
    assert.deepEqual(history.metrics.map((m) => m.step).sort(), [1, 2]);
    const latest = Object.fromEntries((run.data.metrics ?? []).map((m) => [m.key, m.value]));
    for (const k of ['test/accuracy', 'test_norm/accuracy', 'test/f1_macro', 'test/kappa'])
      assert.equal(typeof latest[k], 'number', k);
    assert.ok((run.inputs?.dataset_inputs ?? []).length >= 1, 'dataset logged as a run input');
    const listed = async (path = ''): Promise<string[]> => {
      const r = await api<{ files?: { path: string; is_dir: boolean }[] }>(
        srv,
        `artifacts/list?run_id=${run.info.run_id}${path ? `&path=${encodeURIComponent(path)}` : ''}`,
      );
      const out: string[] = [];
      for (const f of r.files ?? []) out.push(...(f.is_dir ? await listed(f.path) : [f.path]));
      return out;
    };
    const artifacts = await listed();
    for (const f of [
      'config.yaml',
      'metrics.json',
      'metrics.md',
      'confusion_matrix.png',
      'curves.png',
      'model/model.json',
    ]) {
      assert.ok(artifacts.includes(f), `artifact ${f} in ${artifacts.join(', ')}`);
    }

    // The same run, compared from the server: same metric keys as the local store.
    const fromServer = affectlab([
      'compare',
      '--from',
      'mlflow',
      '--tracking-uri',
      srv.uri,
      '--experiment',
      'mlflow-*',
      '--format',
      'json',
    ]);
    assert.equal(fromServer.code, 0, fromServer.stderr);
    const local = affectlab(['compare', '--runs', join(work, 'runs'), '--format', 'json']);
    const [remoteRow] = JSON.parse(fromServer.stdout) as {
      runId: string;
      metrics: Record<string, number>;
    }[];
    const [localRow] = JSON.parse(local.stdout) as {
      runId: string;
      metrics: Record<string, number>;
    }[];
    assert.equal(remoteRow.runId, result.runId);
    assert.deepEqual(remoteRow.metrics, localRow.metrics);
  });
});
