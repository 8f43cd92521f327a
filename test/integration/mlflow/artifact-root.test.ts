/**
 * Artifact roots against a real `mlflow server --no-serve-artifacts --default-artifact-root <dir>`:
 * the run's files are written into that directory as MLflow's own client writes them; an
 * experiment whose root this machine cannot write stops `affectlab run` before it starts, with
 * one message (unless `artifacts: metrics-only`); `affectlab doctor` reports the server.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { flattenParams } from '../../../src/core/runner/experiment-run.js';
import { ReporterHub } from '../../../src/core/reporting/reporter-hub.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { Logger } from '../../../src/sdk/services.js';
import { withOptionDefaults } from '../../../src/core/host/defaults.js';
import { MlflowClient } from '../../../src/plugins/reporters/mlflow/client.js';
import { readState } from '../../../src/plugins/reporters/mlflow/delivery.js';
import {
  MlflowReporter,
  mlflowReporter,
  type MlflowReporterOptions,
} from '../../../src/plugins/reporters/mlflow/reporter.js';
import { affectlabAsync } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import {
  disposeMlflowServer,
  mlflowSkipReason,
  startMlflowServer,
  type MlflowServer,
} from '../../support/mlflow-server.js';
import { smallSyntheticSet } from '../../support/synth.js';

const skip = mlflowSkipReason();

function quietLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = new Logger();
  logger.warn = (m: string) => void warnings.push(m);
  logger.info = () => undefined;
  logger.debug = () => undefined;
  return { logger, warnings };
}

describe('MLflow artifact roots and doctor', { skip }, () => {
  let server: MlflowServer;
  let client: MlflowClient;
  const artifactRoot = tempDir('affectlab-mlflow-root-');
  const work = tempDir();

  before(async () => {
    server = await startMlflowServer({ defaultArtifactRoot: artifactRoot });
    client = new MlflowClient({ trackingUri: server.uri, credentials: {} });
  });
  after(() => disposeMlflowServer(server));

  const options = (extra: Partial<MlflowReporterOptions> = {}): MlflowReporterOptions =>
    withOptionDefaults(mlflowReporter, {
      trackingUri: server.uri,
      maxRetries: 1,
      requestTimeoutSeconds: 10,
      systemMetricsIntervalSeconds: 0,
      // these runs are hand-made event streams without a trained model to log
      logModel: false,
      ...extra,
    });

  /** An experiment whose artifact root is `location` (created through the REST API). */
  async function experimentAt(name: string, location: string): Promise<void> {
    const res = await fetch(`${server.uri}/api/2.0/mlflow/experiments/create`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, artifact_location: location }),
    });
    assert.ok(res.ok, await res.text());
  }

  it('a local file: artifact root: the files are written there directly, as MLflow does', async () => {
    const { logger, warnings } = quietLogger();
    const reporter = new MlflowReporter(options(), logger);
    await reporter.preflight({ experiment: 'local-root' });
    const store = RunStore.create(join(work, 'runs'), 'local-root');
    const hub = new ReporterHub([reporter], store, logger);
    const config = { name: 'local-root', seed: 1, reporters: [{ type: 'mlflow' }] };
    const run = {
      runId: store.runId,
      experiment: 'local-root',
      runDir: store.dir,
      sourceFile: join(work, 'local-root.yaml'),
      resolvedConfig: config,
      params: flattenParams(config),
      backend: { name: 'cpu', devices: ['cpu'] },
      dataset: {},
      startTime: Date.now(),
    };
    await hub.runStarted(run);
    store.writeFile('config.yaml', 'name: local-root\n');
    store.writeFile('model/model.json', '{"format":"layers-model"}\n');
    await hub.artifact(run, { path: 'config.yaml', absolutePath: store.path('config.yaml') });
    await hub.artifact(run, { path: 'model', absolutePath: store.path('model') });
    await hub.runEnded(run, 'FINISHED');
    assert.deepEqual(warnings, []);

    const state = readState(store.dir);
    assert.ok(state?.runId && state.artifactUri);
    const mlflowRun = await client.getRun(state.runId);
    // the server answers with a location under the root it was given
    const dir = join(artifactRoot, state.experimentId as string, state.runId, 'artifacts');
    assert.ok(
      mlflowRun.info.artifactUri.endsWith(`${state.experimentId}/${state.runId}/artifacts`),
      mlflowRun.info.artifactUri,
    );
    assert.equal(readFileSync(join(dir, 'config.yaml'), 'utf8'), 'name: local-root\n');
    assert.equal(
      readFileSync(join(dir, 'model', 'model.json'), 'utf8'),
      '{"format":"layers-model"}\n',
    );
    // and the server lists them, as it lists what the Python client writes there
    const listed = (await client.listArtifactsRecursive(state.runId)).map((f) => f.path).sort();
    assert.deepEqual(listed, ['config.yaml', 'model/model.json']);
  });

  it('an artifact root this machine cannot write: affectlab run stops before it starts, with one message', async () => {
    const blocker = join(work, 'a-file');
    writeFileSync(blocker, 'not a directory\n');
    await experimentAt('unwritable-root', join(blocker, 'artifacts'));

    const { logger } = quietLogger();
    await assert.rejects(
      new MlflowReporter(options({ experimentName: 'unwritable-root' }), logger).preflight({
        experiment: 'x',
      }),
      /cannot write .*ENOTDIR.*metrics-only/s,
    );
    // opting into metrics only: the run may start
    await new MlflowReporter(
      options({ experimentName: 'unwritable-root', artifacts: 'metrics-only' }),
      logger,
    ).preflight({ experiment: 'x' });

    const synth = await smallSyntheticSet();
    const file = join(work, 'unwritable.yaml');
    writeFileSync(
      file,
      `name: unwritable-root
seed: 1
runs: { root: ${join(work, 'cli-runs')} }
dataset: { type: affectnet, root: ${synth}, classes: report6, imageSize: 48, split: { validationPerClass: 4 } }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training: { epochs: 1, batchSize: 8, stepsPerEpoch: 1 }
reporters: [{ type: mlflow, trackingUri: '${server.uri}' }]
`,
    );
    const r = await affectlabAsync(['run', file]);
    assert.notEqual(r.code, 0, r.stdout);
    const mentions = r.stderr.split('\n').filter((l) => /cannot write/.test(l));
    assert.equal(mentions.length, 1, r.stderr);
    assert.match(mentions[0], /--serve-artifacts/);
    // nothing was started: no run directory
    const runs = join(work, 'cli-runs', 'unwritable-root');
    assert.ok(!existsSync(runs) || readdirSync(runs).length === 0, 'no run directory');
  });

  it('affectlab doctor: the server answers, its version, and how artifacts are stored', async () => {
    const r = await affectlabAsync(['doctor', '--json'], {
      env: { MLFLOW_TRACKING_URI: server.uri },
    });
    assert.equal(r.code, 0, r.stderr);
    const mlflow = (JSON.parse(r.stdout) as { mlflow: Record<string, unknown> }).mlflow;
    assert.equal(mlflow.reachable, true);
    assert.equal(mlflow.version, '3.17.2');
    assert.equal(mlflow.artifactMode, 'local');

    const text = await affectlabAsync(['doctor'], {
      env: { MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' },
    });
    assert.match(text.stdout, /mlflow\s+http:\/\/127\.0\.0\.1:9 .*\n\s+server does not answer/);
  });
});
