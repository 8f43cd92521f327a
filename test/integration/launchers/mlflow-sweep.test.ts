import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import {
  disposeMlflowServer,
  mlflowSkipReason,
  startMlflowServer,
  type MlflowServer,
} from '../../support/mlflow-server.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { readSweepRecord, sweepYaml } from './common.js';

const work = tempDir();
const skip = mlflowSkipReason();

interface WireRun {
  info: { run_id: string; run_name: string; status: string };
  data: { tags?: { key: string; value: string }[]; params?: { key: string; value: string }[] };
}

describe('a sweep in MLflow: a parent run with its combinations as children', { skip }, () => {
  let server: MlflowServer | undefined;
  before(async () => {
    server = await startMlflowServer();
  });
  after(async () => disposeMlflowServer(server));

  it('nests the children under the parent, names them by their values, records the best', async () => {
    const srv = server as MlflowServer;
    const synth = await smallSyntheticSet();
    const file = sweepYaml(
      work,
      'mlflow-sweep',
      [synth, `${synth}/.`],
      '{ type: local, parallel: 2 }',
    );
    // swept on the learning rate too, so the children's names differ by value
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        / {4}dataset\.root: .*\n/,
        '    training.optimizer: [{ type: adam, learningRate: 0.001 }, { type: adam, learningRate: 0.01 }]\n',
      ),
    );
    const r = affectlab(['run', file, '--cache-dir', join(work, 'cache')], {
      env: { MLFLOW_TRACKING_URI: srv.uri, AFFECTLAB_LOG_LEVEL: 'info' },
    });
    assert.equal(r.code, 0, r.stderr);
    const record = readSweepRecord(work, 'mlflow-sweep');
    const post = async <T>(path: string, body: unknown): Promise<T> => {
      const res = await fetch(`${srv.uri}/api/2.0/mlflow/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.ok(res.ok, await res.clone().text());
      return (await res.json()) as T;
    };
    const { experiment } = (await (
      await fetch(`${srv.uri}/api/2.0/mlflow/experiments/get-by-name?experiment_name=mlflow-sweep`)
    ).json()) as { experiment: { experiment_id: string; tags?: { key: string; value: string }[] } };
    const expTags = Object.fromEntries((experiment.tags ?? []).map((t) => [t.key, t.value]));
    assert.equal(expTags['mlflow.experimentKind'], 'custom_model_development');
    const { runs } = await post<{ runs: WireRun[] }>('runs/search', {
      experiment_ids: [experiment.experiment_id],
      max_results: 50,
    });
    const tagsOf = (run: WireRun) =>
      Object.fromEntries((run.data.tags ?? []).map((t) => [t.key, t.value]));
    const parents = runs.filter((x) => !tagsOf(x)['mlflow.parentRunId']);
    assert.equal(parents.length, 1, 'one parent run');
    const parent = parents[0];
    const children = runs.filter((x) => tagsOf(x)['mlflow.parentRunId'] === parent.info.run_id);
    assert.equal(children.length, 2);
    assert.equal(parent.info.status, 'FINISHED');
    const params = Object.fromEntries((parent.data.params ?? []).map((p) => [p.key, p.value]));
    assert.equal(params['sweep.keys'], 'training.optimizer');
    assert.equal(params['sweep.launcher'], 'local');
    const names = children.map((x) => x.info.run_name).sort();
    assert.equal(new Set(names).size, 2, `unique names: ${names.join(', ')}`);
    // a plugin reference reads as its type and the options the sweep gives it, no JSON
    assert.deepEqual(names, [
      'mlflow-sweep-optimizer=adam(learningRate=0.001)',
      'mlflow-sweep-optimizer=adam(learningRate=0.01)',
    ]);
    // every run names the experiment file, not the sweep's copy of it (`configs/0.yaml`)
    for (const run of [parent, ...children])
      assert.equal(tagsOf(run)['mlflow.source.name'], file, run.info.run_name);
    assert.equal(tagsOf(parent)['affectlab.best.runId'], record.best?.runId);
    assert.match(
      r.stderr,
      new RegExp(`#/experiments/${experiment.experiment_id}/runs/${parent.info.run_id}`),
    );
    assert.match(
      readFileSync(join(work, 'runs', 'sweeps', 'mlflow-sweep', 'logs', '0.log'), 'utf8'),
      /#\/experiments\/\d+\/runs\/\w+/,
    );
  });
});
