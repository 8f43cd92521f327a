/**
 * The mlflow reporter and `affectlab sync` against a real `mlflow server` (one per file):
 * a complete run read back through the REST API, a server that goes away mid-run, a sync that
 * has nothing left to do, a run synced with no reporter at all, a short outage healed live, two
 * concurrent syncs of one run (one MLflow run), and a CLI run whose trackingUri carries a password
 * that no file or MLflow record may hold.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { flattenParams, runExperiment } from '../../../src/core/runner/experiment-run.js';
import { ReporterHub } from '../../../src/core/reporting/reporter-hub.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import type { RunInfo } from '../../../src/sdk/contracts/run.js';
import { Logger } from '../../../src/sdk/services.js';
import { main } from '../../../src/core/cli/program.js';
import { createCliExtensions, createRuntime } from '../../../src/main.js';
import { MlflowClient } from '../../../src/plugins/reporters/mlflow/client.js';
import { readEventLines, readState } from '../../../src/plugins/reporters/mlflow/delivery.js';
import {
  MlflowReporter,
  mlflowReporter,
  type MlflowReporterOptions,
} from '../../../src/plugins/reporters/mlflow/reporter.js';
import { withOptionDefaults } from '../../../src/core/host/defaults.js';
import { syncRun } from '../../../src/plugins/reporters/mlflow/sync.js';
import { SYNC_LOCK } from '../../../src/plugins/reporters/mlflow/sync-lock.js';
import { affectlabAsync } from '../../support/cli.js';
import {
  activateBackend,
  repoRoot,
  tempDir,
  testRuntime,
  writeFiles,
} from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import {
  disposeMlflowServer,
  mlflowSkipReason,
  startMlflowServer,
  type MlflowServer,
} from '../../support/mlflow-server.js';

const skip = mlflowSkipReason();

/** The validation cross-entropy of a run's last epoch, as metrics.csv holds it. */
function readEpochCrossEntropy(runDir: string): number {
  const epochs = new RunStore(runDir).readEpochs() as { metrics: Record<string, number> }[];
  return epochs.at(-1)?.metrics.val_cross_entropy ?? NaN;
}

/** Whether an nvidia-smi answers on this machine (then the system metrics hold GPU figures). */
function hasNvidiaSmi(): boolean {
  return spawnSync('nvidia-smi', ['-L'], { timeout: 5000 }).status === 0;
}

/** Every file under a directory, recursively. */
function listAll(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listAll(path) : [path];
  });
}

function quietLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = new Logger();
  logger.warn = (m: string) => void warnings.push(m);
  logger.info = () => undefined;
  logger.debug = () => undefined;
  return { logger, warnings };
}

/** A resolved experiment as the runner hands it over: 120 tags make >100 params and >100 tags. */
function experimentConfig(name: string): Record<string, unknown> {
  return {
    name,
    seed: 7,
    tags: Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`tag${i}`, `value ${i}`])),
    dataset: {
      type: 'affectnet',
      root: '/data/affectnet-synth',
      classes: 'report-6',
      imageSize: 24,
      notes: 'n'.repeat(7000),
      split: { policy: 'report-table3', validationPerClass: 4 },
    },
    sampler: { type: 'weighted', beta: 0.9999 },
    architecture: { type: 'vgg-type', filters: [8, 16] },
    training: { epochs: 3, batchSize: 8, optimizer: { type: 'adam', learningRate: 0.001 } },
    reporters: [{ type: 'mlflow' }],
  };
}

function runInfo(store: RunStore, name: string): RunInfo {
  const config = experimentConfig(name);
  return {
    runId: store.runId,
    experiment: name,
    runDir: store.dir,
    sourceFile: join(repoRoot, 'experiments', 'vgg6-weighted.yaml'),
    resolvedConfig: config,
    params: { ...flattenParams(config), 'data.train_count': 48, 'backend.name': 'cpu' },
    backend: { name: 'cpu', devices: ['cpu'] },
    dataset: {
      dataset: 'affectnet',
      root: '/data/affectnet-synth',
      classPreset: 'report-6',
      task: 'classification',
      classes: [{ index: 0, code: 0, name: 'neutral' }],
      counts: { train: [8, 8, 8, 8, 8, 8] },
      totals: { train: 48, validation: 24, test: 24 },
      badRecords: 0,
    },
    startTime: Date.now() - 10_000,
  };
}

const epochMetrics = (epoch: number) => ({
  epoch,
  metrics: {
    loss: 1.5 - epoch * 0.3,
    accuracy: 0.3 + epoch * 0.1,
    val_loss: 1.6 - epoch * 0.2,
    val_accuracy: 0.25 + epoch * 0.1,
  },
  timestamp: Date.now() + epoch,
});

/** A metrics.json as the runner writes it (two classes), from which the evaluation tables come. */
const METRICS_JSON = JSON.stringify({
  split: 'test',
  metrics: { test_accuracy: 0.41 },
  report: {
    classNames: ['Neutral', 'Happy'],
    count: 10,
    perClass: [
      {
        index: 0,
        name: 'Neutral',
        support: 6,
        predicted: 5,
        precision: 0.6,
        recall: 0.5,
        f1: 0.545,
        aucRoc: 0.7,
        aucPr: 0.65,
        normPrecision: 0.5,
        normF1: 0.5,
        normAucPr: 0.6,
      },
      {
        index: 1,
        name: 'Happy',
        support: 4,
        predicted: 5,
        precision: 0.4,
        recall: 0.5,
        f1: 0.444,
        aucRoc: 0.7,
        aucPr: null,
        normPrecision: 0.5,
        normF1: 0.5,
        normAucPr: null,
      },
    ],
    confusion: [
      [3, 3],
      [2, 2],
    ],
  },
});

const ARTIFACTS: Record<string, string> = {
  'config.yaml': 'name: mlflow-it\nseed: 7\n',
  'metrics.json': METRICS_JSON + '\n',
  'metrics.md': '# metrics\n',
  'model/model.json': '{"format":"layers-model"}\n',
};
const WEIGHTS = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 37) % 256));

/** Write the run's files the way the runner does, then report each one as an artifact. */
async function reportArtifacts(hub: ReporterHub, store: RunStore, run: RunInfo): Promise<void> {
  writeFiles(store.dir, ARTIFACTS);
  store.writeFile('model/group1-shard1of1.bin', WEIGHTS);
  const paths = [...Object.keys(ARTIFACTS), 'model/group1-shard1of1.bin', 'mlflow.json'];
  for (const rel of paths) await hub.artifact(run, { path: rel, absolutePath: store.path(rel) });
}

async function history(
  client: MlflowClient,
  runId: string,
  key: string,
): Promise<[number, number][]> {
  const points = await client.getMetricHistory(runId, key);
  return points.map((p) => [p.step, p.value] as [number, number]).sort((a, b) => a[0] - b[0]);
}

/** A TCP relay in front of the server that can vanish and come back on the same port. */
class Relay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async up(): Promise<void> {
    const server = createServer((inbound) => {
      const outbound = connect(this.targetPort, '127.0.0.1');
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

describe('mlflow reporter against a real MLflow server', { skip }, () => {
  let server: MlflowServer;
  let client: MlflowClient;
  const root = tempDir('affectlab-mlflow-runs-');

  before(async () => {
    server = await startMlflowServer();
    client = new MlflowClient({ trackingUri: server.uri, credentials: {} });
  });
  after(() => disposeMlflowServer(server));

  const options = (extra: Partial<MlflowReporterOptions> = {}): MlflowReporterOptions =>
    withOptionDefaults(mlflowReporter, {
      trackingUri: server.uri,
      maxRetries: 1,
      requestTimeoutSeconds: 10,
      // these runs are hand-made event streams without a trained model to log
      logModel: false,
      ...extra,
    });

  it('a complete run appears with params, metric history, tags, input, artifacts and status', async () => {
    const { logger, warnings } = quietLogger();
    const store = RunStore.create(root, 'mlflow-it');
    const reporter = new MlflowReporter(options(), logger);
    const hub = new ReporterHub([reporter], store, logger);
    // a run whose sampler weights the loss: the runner logs the weights as params
    const run = runInfo(store, 'mlflow-it');
    run.params = {
      ...run.params,
      'loss.class_weight.neutral': 0.8,
      'loss.class_weight.happy': 1.4,
    };

    await hub.runStarted(run);
    for (let epoch = 0; epoch < 3; epoch++) {
      const e = epochMetrics(epoch);
      await hub.epochEnded(run, {
        ...e,
        metrics: { ...e.metrics, val_cross_entropy: 1.4 - epoch * 0.2, val_recall_happy: 0.5 },
      });
    }
    await hub.evaluated(
      run,
      {
        test_loss: 1.3,
        test_cross_entropy: 1.1,
        test_accuracy: 0.41,
        test_f1_macro: 0.38,
        test_norm_f1_macro: 0.3,
        test_recall_happy: 0.5,
        test_norm_precision_happy: 0.45,
        test_auc_roc_happy: 0.7,
        'test_recall[anger]': 0.5,
        test_valence_ccc: NaN,
      },
      2,
    );
    await reportArtifacts(hub, store, run);
    await hub.runEnded(run, 'FINISHED');
    assert.deepEqual(warnings, []);

    const state = readState(store.dir);
    assert.ok(state?.runId && state.experimentId);
    assert.equal(state.syncedEvents, readEventLines(store.dir).length);
    assert.equal(state.status, 'FINISHED');

    const experiment = await client.getExperimentByName('mlflow-it');
    assert.equal(experiment?.experimentId, state.experimentId);
    const mlflowRun = await client.getRun(state.runId);
    assert.equal(mlflowRun.info.status, 'FINISHED');
    assert.ok((mlflowRun.info.endTime ?? 0) >= run.startTime);
    assert.equal(mlflowRun.info.startTime, run.startTime);
    assert.equal(mlflowRun.info.runName, 'vgg6-weighted');

    // params: every flattened key, values within MLflow's limit (log-batch split at 100 params)
    assert.equal(Object.keys(mlflowRun.params).length, Object.keys(run.params).length);
    assert.equal(mlflowRun.params['training.epochs'], '3');
    assert.equal(mlflowRun.params['architecture.filters'], '[8,16]');
    assert.equal(mlflowRun.params['reporters'], '[{"type":"mlflow"}]');
    assert.equal(mlflowRun.params['dataset.notes'].length, 6000);
    assert.equal(mlflowRun.params['tags.tag119'], 'value 119');

    const tags = mlflowRun.tags;
    assert.equal(tags['mlflow.runName'], 'vgg6-weighted');
    // the experiment file relative to the repository it is in
    assert.equal(tags['mlflow.source.name'], 'experiments/vgg6-weighted.yaml');
    assert.equal(tags['mlflow.source.type'], 'LOCAL');
    assert.ok(tags['mlflow.user']);
    assert.equal(mlflowRun.info.userId, tags['mlflow.user']);
    assert.match(
      tags['mlflow.note.content'],
      /mlflow-it: vgg-type on affectnet with weighted sampling \(3 epochs, batch 8, seed 7, cpu backend\)/,
    );
    if (existsSync(join(repoRoot, '.git')))
      assert.match(tags['mlflow.source.git.commit'] ?? '', /^[0-9a-f]{40}$/);
    assert.equal(tags['affectlab.runId'], store.runId);
    assert.equal(tags['tag0'], 'value 0');
    assert.equal(tags['tag119'], 'value 119');
    assert.equal(tags['affectlab.group'], undefined);

    // metrics per epoch with Keras' names, step = the epoch as the console counts it (1-based);
    // a weighted run's objective is loss_weighted and val_loss the plain cross-entropy
    assert.deepEqual(await history(client, state.runId, 'val_accuracy'), [
      [1, 0.25],
      [2, 0.35],
      [3, 0.45],
    ]);
    assert.deepEqual(
      (await history(client, state.runId, 'loss_weighted')).map(([step]) => step),
      [1, 2, 3],
    );
    assert.deepEqual(await history(client, state.runId, 'loss'), []);
    assert.deepEqual(
      await history(client, state.runId, 'val_loss'),
      [0, 1, 2].map((e) => [e + 1, 1.4 - e * 0.2]),
    );
    assert.deepEqual(
      await history(client, state.runId, 'val_loss_weighted'),
      [0, 1, 2].map((e) => [e + 1, 1.6 - e * 0.2]),
    );
    assert.equal((await history(client, state.runId, 'val_class/happy/recall')).length, 3);
    // the final evaluation in sections of its own, at the last epoch's step
    assert.deepEqual(await history(client, state.runId, 'test/accuracy'), [[3, 0.41]]);
    assert.deepEqual(await history(client, state.runId, 'test/loss'), [[3, 1.1]]);
    assert.deepEqual(await history(client, state.runId, 'test/loss_weighted'), [[3, 1.3]]);
    assert.deepEqual(await history(client, state.runId, 'test_norm/f1_macro'), [[3, 0.3]]);
    assert.deepEqual(await history(client, state.runId, 'test_class/happy/recall'), [[3, 0.5]]);
    assert.deepEqual(await history(client, state.runId, 'test_class/happy/auc_roc'), [[3, 0.7]]);
    assert.deepEqual(await history(client, state.runId, 'test_class/happy/norm_precision'), [
      [3, 0.45],
    ]);
    assert.deepEqual(await history(client, state.runId, 'test/recall_anger_'), [[3, 0.5]]);
    const ccc = await history(client, state.runId, 'test/valence_ccc');
    assert.equal(ccc.length, 1);
    assert.ok(Number.isNaN(ccc[0][1]));
    const keys = mlflowRun.metrics.map((m) => m.key).sort();
    assert.deepEqual(
      keys.filter((k) => !k.includes('/')),
      ['accuracy', 'loss_weighted', 'val_accuracy', 'val_loss', 'val_loss_weighted'],
    );

    // the dataset as a run input
    assert.equal(mlflowRun.datasetInputs.length, 1);
    const input = mlflowRun.datasetInputs[0];
    assert.equal(input.dataset.name, 'affectnet');
    assert.equal(input.dataset.sourceType, 'local');
    assert.deepEqual(JSON.parse(input.dataset.source), { uri: '/data/affectnet-synth' });
    assert.match(input.dataset.digest, /^[0-9a-f]{16}$/);
    assert.equal(JSON.parse(input.dataset.profile ?? '{}').num_rows, 96);
    assert.deepEqual(
      (
        JSON.parse(input.dataset.schema ?? '{}') as { mlflow_colspec: { name: string }[] }
      ).mlflow_colspec.map((c) => c.name),
      ['image', 'label'],
    );
    assert.deepEqual(input.tags, [{ key: 'mlflow.data.context', value: 'train' }]);

    // artifacts through the proxy, relative paths kept; our own mlflow.json is not one of them
    const files = (await client.listArtifactsRecursive(state.runId)).map((f) => f.path).sort();
    assert.deepEqual(files, [
      'config.yaml',
      'metrics.json',
      'metrics.md',
      'model/group1-shard1of1.bin',
      'model/model.json',
      'tables/test_confusion_matrix.json',
      'tables/test_per_class.json',
    ]);
    // the evaluation as MLflow tables, listed where MLflow's UI looks for them
    assert.deepEqual(JSON.parse(tags['mlflow.loggedArtifacts'] ?? '[]'), [
      { path: 'tables/test_per_class.json', type: 'table' },
      { path: 'tables/test_confusion_matrix.json', type: 'table' },
    ]);
    const perClass = JSON.parse(
      Buffer.from(
        await client.downloadArtifact(mlflowRun.info.artifactUri, 'tables/test_per_class.json'),
      ).toString('utf8'),
    ) as { columns: string[]; data: unknown[][] };
    assert.deepEqual(perClass.columns.slice(0, 6), [
      'class',
      'support',
      'predicted',
      'precision',
      'recall',
      'f1',
    ]);
    assert.deepEqual(perClass.data[1].slice(0, 8), ['Happy', 4, 5, 0.4, 0.5, 0.444, 0.7, null]);
    const confusion = JSON.parse(
      Buffer.from(
        await client.downloadArtifact(
          mlflowRun.info.artifactUri,
          'tables/test_confusion_matrix.json',
        ),
      ).toString('utf8'),
    ) as { columns: string[]; data: unknown[][] };
    assert.deepEqual(confusion, {
      columns: ['actual', 'Neutral', 'Happy'],
      data: [
        ['Neutral', 3, 3],
        ['Happy', 2, 2],
      ],
    });
    const weights = await client.downloadArtifact(
      mlflowRun.info.artifactUri,
      'model/group1-shard1of1.bin',
    );
    assert.deepEqual(Buffer.from(weights), WEIGHTS);
    const modelJson = await client.downloadArtifact(mlflowRun.info.artifactUri, 'model/model.json');
    assert.equal(Buffer.from(modelJson).toString('utf8'), ARTIFACTS['model/model.json']);

    // sync on a fully synced run sends nothing at all
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };
    const result = await syncRun(store.dir, { logger, client: { fetch: counting } });
    assert.equal(result.delivered, 0);
    assert.equal(result.total, state.syncedEvents);
    assert.equal(requests, 0);

    // Everything again from the start (mlflow.json lost): the live run sent exactly what
    // events.jsonl holds, so the repeat adds no metric row and changes no param.
    rmSync(join(store.dir, 'mlflow.json'));
    const repeat = await syncRun(store.dir, { logger, trackingUri: server.uri });
    assert.equal(repeat.runId, state.runId);
    assert.equal(repeat.delivered, state.syncedEvents);
    assert.deepEqual(warnings, []);
    assert.equal((await history(client, state.runId, 'test/accuracy')).length, 1);
    assert.equal((await history(client, state.runId, 'val_accuracy')).length, 3);
    assert.equal((await history(client, state.runId, 'test/valence_ccc')).length, 1);
    assert.equal(
      JSON.parse((await client.getRun(state.runId)).tags['mlflow.loggedArtifacts']).length,
      2,
    );
    assert.equal((await client.getRun(state.runId)).info.status, 'FINISHED');
  });

  it('a server that goes away mid-run: training goes on, sync delivers the rest once, a second sync is a no-op', async () => {
    const { logger, warnings } = quietLogger();
    const store = RunStore.create(root, 'mlflow-outage');
    const reporter = new MlflowReporter(options({ reconnectAfterSeconds: 3600 }), logger);
    const hub = new ReporterHub([reporter], store, logger);
    const run = { ...runInfo(store, 'mlflow-outage'), group: 'sweep-a' };

    await hub.runStarted(run);
    await hub.epochEnded(run, epochMetrics(0));
    assert.equal(reporter.state?.syncedEvents, 2);
    const runId = reporter.state?.runId as string;

    await server.stop();
    try {
      await hub.epochEnded(run, epochMetrics(1));
      await hub.epochEnded(run, epochMetrics(2));
      await hub.evaluated(run, { test_accuracy: 0.4 }, 2);
      await reportArtifacts(hub, store, run);
      await hub.runEnded(run, 'FAILED', 'out of memory in epoch 3');
    } finally {
      await server.start();
    }
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], new RegExp(`affectlab sync ${store.dir}`));
    assert.equal(reporter.isOffline, true);
    const total = readEventLines(store.dir).length;
    assert.equal(total, 2 + 2 + 1 + 6 + 1);
    assert.equal(readState(store.dir)?.syncedEvents, 2);
    assert.equal((await client.getRun(runId)).info.status, 'RUNNING');
    assert.equal((await history(client, runId, 'loss')).length, 1);

    const result = await syncRun(store.dir, { logger });
    assert.equal(result.delivered, total - 2);
    assert.equal(result.runId, runId);
    assert.equal(result.status, 'FAILED');

    const synced = await client.getRun(runId);
    assert.equal(synced.info.status, 'FAILED');
    assert.equal(synced.tags['affectlab.error'], 'out of memory in epoch 3');
    assert.equal(synced.tags['affectlab.group'], 'sweep-a');
    for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) {
      assert.deepEqual(
        (await history(client, runId, key)).map(([step]) => step),
        [1, 2, 3],
        key,
      );
    }
    assert.deepEqual(await history(client, runId, 'test/accuracy'), [[3, 0.4]]);
    const files = (await client.listArtifactsRecursive(runId)).map((f) => f.path).sort();
    assert.deepEqual(files, [
      'config.yaml',
      'metrics.json',
      'metrics.md',
      'model/group1-shard1of1.bin',
      'model/model.json',
      'tables/test_confusion_matrix.json',
      'tables/test_per_class.json',
    ]);
    const runs = await client.searchRuns(
      [synced.info.experimentId],
      `tags.\`affectlab.runId\` = '${store.runId}'`,
    );
    assert.equal(runs.length, 1);

    // the CLI, twice: the second time there is nothing to send
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) =>
      out.push(String(chunk)) > 0) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(createRuntime(), ['sync', store.dir], [], createCliExtensions());
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 0);
    assert.match(out.join(''), /already in sync/);
    assert.deepEqual(
      (await history(client, runId, 'loss')).map(([step]) => step),
      [1, 2, 3],
    );
  });

  it('sync uploads a run that had no mlflow reporter, and finds its MLflow run again when mlflow.json is lost', async () => {
    const { logger } = quietLogger();
    const store = RunStore.create(root, 'mlflow-later');
    const hub = new ReporterHub([], store, logger);
    const run = runInfo(store, 'mlflow-later');
    await hub.runStarted(run);
    for (let epoch = 0; epoch < 3; epoch++) await hub.epochEnded(run, epochMetrics(epoch));
    await hub.runEnded(run, 'KILLED');

    await assert.rejects(
      syncRun(store.dir, { logger, env: {} }),
      /no MLflow tracking server known/,
    );
    const first = await syncRun(store.dir, {
      logger,
      trackingUri: server.uri,
      experimentName: 'synced-later',
    });
    assert.equal(first.delivered, 5);
    assert.equal(first.status, 'KILLED');
    assert.equal((await client.getRun(first.runId as string)).info.status, 'KILLED');
    assert.equal(
      (await client.getExperimentByName('synced-later'))?.experimentId,
      first.experimentId,
    );

    rmSync(join(store.dir, 'mlflow.json'));
    const again = await syncRun(store.dir, {
      logger,
      trackingUri: server.uri,
      experimentName: 'synced-later',
    });
    assert.equal(again.runId, first.runId, 'the same MLflow run, found by its affectlab.runId tag');
    assert.equal(again.delivered, 5);
    assert.deepEqual(
      (await history(client, first.runId as string, 'val_loss')).map(([step]) => step),
      [1, 2, 3],
    );
  });

  it('a short outage heals during the run: missed events are delivered when the server answers again', async () => {
    const { logger, warnings } = quietLogger();
    const relay = new Relay(server.port);
    await relay.up();
    try {
      const store = RunStore.create(root, 'mlflow-blip');
      const reporter = new MlflowReporter(
        options({
          trackingUri: `http://127.0.0.1:${relay.port}`,
          maxRetries: 0,
          reconnectAfterSeconds: 0,
        }),
        logger,
      );
      const hub = new ReporterHub([reporter], store, logger);
      const run = runInfo(store, 'mlflow-blip');
      await hub.runStarted(run);
      await hub.epochEnded(run, epochMetrics(0));
      await relay.down();
      await hub.epochEnded(run, epochMetrics(1));
      assert.equal(reporter.isOffline, true);
      await relay.up();
      await hub.epochEnded(run, epochMetrics(2));
      assert.equal(reporter.isOffline, false);
      await hub.runEnded(run, 'FINISHED');
      assert.equal(warnings.length, 1);

      const runId = reporter.state?.runId as string;
      assert.equal(readState(store.dir)?.syncedEvents, 5);
      assert.deepEqual(
        (await history(client, runId, 'loss')).map(([step]) => step),
        [1, 2, 3],
      );
      assert.equal((await client.getRun(runId)).info.status, 'FINISHED');
      assert.equal((await syncRun(store.dir, { logger })).delivered, 0);
    } finally {
      await relay.down();
    }
  });

  it('a resumed run continues the same MLflow run and delivers what the earlier process missed', async () => {
    const { logger } = quietLogger();
    const store = RunStore.create(root, 'mlflow-resume');
    const run = runInfo(store, 'mlflow-resume');
    // First process: reported epoch 0, then died before its events reached MLflow.
    const first = new ReporterHub([new MlflowReporter(options(), logger)], store, logger);
    await first.runStarted(run);
    await first.epochEnded(run, epochMetrics(0));
    const state = readState(store.dir);
    assert.ok(state?.runId);
    writeFileSync(join(store.dir, 'mlflow.json'), JSON.stringify({ ...state, syncedEvents: 1 }));
    await new ReporterHub([], store, logger).epochEnded(run, epochMetrics(1));

    // Second process: resumes with a new runStarted line.
    const resumed = { ...run, startTime: Date.now() };
    const reporter = new MlflowReporter(options(), logger);
    const hub = new ReporterHub([reporter], store, logger);
    await hub.runStarted(resumed);
    await hub.epochEnded(resumed, epochMetrics(2));
    await hub.runEnded(resumed, 'FINISHED');
    assert.equal(reporter.state?.runId, state.runId);
    assert.equal(readState(store.dir)?.syncedEvents, readEventLines(store.dir).length);
    assert.deepEqual(
      (await history(client, state.runId, 'loss')).map(([step]) => step),
      [1, 2, 3],
    );
    assert.equal((await client.getRun(state.runId)).info.status, 'FINISHED');
    assert.ok(
      readFileSync(join(store.dir, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"runStarted"')).length === 2,
    );
  });
  it('the live reporter sends each event exactly as events.jsonl holds it, so a later sync repeats nothing', async () => {
    const { logger } = quietLogger();
    const store = RunStore.create(root, 'mlflow-same-line');
    const reporter = new MlflowReporter(options(), logger);
    const run = runInfo(store, 'mlflow-same-line');
    await new ReporterHub([reporter], store, logger).runStarted(run);
    // The run store writes the line first (its clock), then calls the reporter (a little later).
    const written = Date.now() - 60_000;
    store.appendEvent({
      event: 'evaluated',
      time: written,
      metrics: { test_accuracy: 0.5 },
      step: 0,
    });
    await reporter.evaluated(run, { test_accuracy: 0.5 }, 0);
    const runId = reporter.state?.runId as string;
    assert.deepEqual(
      (await client.getMetricHistory(runId, 'test/accuracy')).map((m) => m.timestamp),
      [written],
    );
  });

  it('affectlab run on synthetic data: the same run is complete in MLflow', async () => {
    const synth = await smallSyntheticSet();
    await activateBackend();
    const work = tempDir();
    const file = join(work, 'mlflow-e2e.yaml');
    writeFileSync(
      file,
      `name: mlflow-e2e
description: tiny VGG on synthetic AffectNet, reported to MLflow
seed: 5
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4, limit: { test: 24 } }
sampler: { type: weighted, scheme: class-balanced, beta: 0.999 }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training:
  epochs: 2
  batchSize: 8
  stepsPerEpoch: 2
  optimizer: { type: adam, learningRate: 0.003 }
reporters:
  - { type: console, progress: none }
  - { type: mlflow, trackingUri: '${server.uri}', experimentName: affectlab-e2e, systemMetricsIntervalSeconds: 0.2 }
`,
    );
    const runtime = testRuntime();
    const result = await runExperiment(runtime, await runtime.resolve(file), {
      cacheDir: join(work, 'cache'),
    });
    assert.equal(result.status, 'FINISHED');
    const state = readState(result.runDir);
    assert.ok(state?.runId);
    assert.equal(state.syncedEvents, readEventLines(result.runDir).length);

    const mlflowRun = await client.getRun(state.runId);
    assert.equal(mlflowRun.info.status, 'FINISHED');
    assert.equal(mlflowRun.info.runName, 'mlflow-e2e');
    assert.equal(
      mlflowRun.tags['mlflow.note.content'],
      'tiny VGG on synthetic AffectNet, reported to MLflow',
    );
    assert.equal(mlflowRun.params['training.epochs'], '2');
    assert.equal(mlflowRun.params['dataset.imageSize'], '48');
    // a class-balanced sampler weights the loss: the objective is *_weighted, val_loss and
    // test/loss the plain cross-entropy (a different number), epochs counted from 1
    for (const key of ['loss_weighted', 'val_loss', 'val_loss_weighted', 'val_accuracy']) {
      assert.deepEqual(
        (await history(client, state.runId, key)).map(([step]) => step),
        [1, 2],
        key,
      );
    }
    const valLoss = await history(client, state.runId, 'val_loss');
    const valWeighted = await history(client, state.runId, 'val_loss_weighted');
    assert.notEqual(valLoss[1][1], valWeighted[1][1]);
    assert.equal(valLoss[1][1], readEpochCrossEntropy(result.runDir));
    const testMetrics = Object.keys(result.testMetrics ?? {});
    assert.ok(testMetrics.length > 0);
    for (const key of ['test/accuracy', 'test/loss', 'test/loss_weighted', 'test/f1_macro']) {
      assert.deepEqual(
        (await history(client, state.runId, key)).map(([step]) => step),
        [2],
        key,
      );
    }
    // nothing of the final evaluation among the training charts
    const topLevel = mlflowRun.metrics.map((m) => m.key).filter((k) => !k.includes('/'));
    assert.deepEqual(topLevel.sort(), [
      'accuracy',
      'loss_weighted',
      'val_accuracy',
      'val_alpha',
      'val_auc_pr',
      'val_auc_roc',
      'val_f1_macro',
      'val_f1_weighted',
      'val_kappa',
      'val_loss',
      'val_loss_weighted',
    ]);
    assert.ok(mlflowRun.metrics.some((m) => m.key.startsWith('test_class/happy/')));
    // system metrics under MLflow's names, sampled while the run went on
    for (const key of [
      'system/cpu_utilization_percentage',
      'system/system_memory_usage_megabytes',
      'system/system_memory_usage_percentage',
      'system/process_memory_rss_megabytes',
      'system/disk_usage_megabytes',
      'system/disk_usage_percentage',
    ]) {
      const points = await history(client, state.runId, key);
      assert.ok(points.length >= 2, `${key}: ${points.length} samples`);
      assert.deepEqual(
        points.map(([step]) => step),
        points.map((_, i) => i),
        key,
      );
      assert.ok(
        points.every(([, v]) => Number.isFinite(v) && v >= 0),
        key,
      );
    }
    const rss = await history(client, state.runId, 'system/process_memory_rss_megabytes');
    assert.ok(rss[0][1] > 50, `a tfjs process holds more than 50 MB: ${rss[0][1]}`);
    const gpuKeys = mlflowRun.metrics.filter((m) => /^system\/gpu_\d+_/.test(m.key));
    if (!hasNvidiaSmi()) assert.deepEqual(gpuKeys, []);
    else assert.ok(gpuKeys.some((m) => m.key === 'system/gpu_0_utilization_percentage'));
    assert.ok(mlflowRun.tags['mlflow.loggedArtifacts']?.includes('tables/test_per_class.json'));
    assert.equal(mlflowRun.datasetInputs[0]?.dataset.name, 'affectnet');
    const files = (await client.listArtifactsRecursive(state.runId)).map((f) => f.path);
    for (const expected of [
      'config.yaml',
      'metrics.json',
      'metrics.md',
      'confusion_matrix.png',
      'curves.png',
      'model/model.json',
    ]) {
      assert.ok(files.includes(expected), `${expected} not in ${files.join(', ')}`);
    }
    assert.ok(
      !files.some(
        (f) => f.startsWith('checkpoints/') || f === 'mlflow.json' || f === 'events.jsonl',
      ),
    );
  });

  /** A finished run with no mlflow reporter: five lines of events.jsonl for a sync to deliver. */
  async function unsyncedRun(name: string): Promise<RunStore> {
    const { logger } = quietLogger();
    const store = RunStore.create(root, name);
    const hub = new ReporterHub([], store, logger);
    const run = runInfo(store, name);
    await hub.runStarted(run);
    for (let epoch = 0; epoch < 3; epoch++) await hub.epochEnded(run, epochMetrics(epoch));
    await hub.runEnded(run, 'FINISHED');
    return store;
  }

  async function mlflowRunsOf(store: RunStore, experimentName: string) {
    const experiment = await client.getExperimentByName(experimentName);
    assert.ok(experiment, `experiment ${experimentName}`);
    return client.searchRuns(
      [experiment.experimentId],
      `tags.\`affectlab.runId\` = '${store.runId}'`,
    );
  }

  it('two syncs of one run at once leave exactly one MLflow run: the second is refused by the lock', async () => {
    const { logger } = quietLogger();
    const store = await unsyncedRun('mlflow-race');
    const sync = () => syncRun(store.dir, { logger, trackingUri: server.uri });
    // Without the lock both would find no MLflow run for this run and both would create one.
    const results = await Promise.allSettled([sync(), sync()]);
    const done = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(done.length, 1, JSON.stringify(results));
    assert.equal(done[0].value.delivered, 5);
    assert.match(
      String((refused[0] as PromiseRejectedResult).reason),
      new RegExp(`another affectlab sync is running for this run \\(pid ${process.pid}\\)`),
    );
    assert.equal(existsSync(join(store.dir, SYNC_LOCK)), false, 'the lock is released');
    const runs = await mlflowRunsOf(store, 'mlflow-race');
    assert.equal(runs.length, 1, `MLflow runs: ${runs.map((r) => r.info.runId).join(', ')}`);
    assert.equal(runs[0].info.runId, done[0].value.runId);
    assert.equal(runs[0].info.status, 'FINISHED');
    // the refused one, run again: nothing left to send, still one run
    assert.equal((await sync()).delivered, 0);
    assert.equal((await mlflowRunsOf(store, 'mlflow-race')).length, 1);
  });

  it('two affectlab sync processes of one run at once: one MLflow run, every event delivered once', async () => {
    const store = await unsyncedRun('mlflow-race-cli');
    const args = ['sync', store.dir, '--tracking-uri', server.uri, '--json'];
    const env = { MLFLOW_TRACKING_URI: undefined };
    const both = await Promise.all([affectlabAsync(args, { env }), affectlabAsync(args, { env })]);
    let delivered = 0;
    for (const r of both) {
      const line = JSON.parse(r.stdout.trim()) as { delivered?: number; error?: string };
      if (line.error) {
        assert.equal(r.code, 1);
        assert.match(line.error, /another affectlab sync is running for this run \(pid \d+\)/);
      } else {
        assert.equal(r.code, 0, r.stderr);
        delivered += line.delivered ?? 0;
      }
    }
    assert.equal(delivered, 5, JSON.stringify(both));
    const runs = await mlflowRunsOf(store, 'mlflow-race-cli');
    assert.equal(runs.length, 1, `MLflow runs: ${runs.map((r) => r.info.runId).join(', ')}`);
    assert.equal(readState(store.dir)?.runId, runs[0].info.runId);
    assert.deepEqual(
      (await history(client, runs[0].info.runId, 'loss')).map(([step]) => step),
      [1, 2, 3],
    );
  });

  it('affectlab run with credentials in the trackingUri: no file of the run, no MLflow param or tag holds the password; run.json in MLflow says FINISHED', async () => {
    const synth = await smallSyntheticSet();
    const work = tempDir();
    const secret = 'secretpw';
    const basic = Buffer.from(`user:${secret}`).toString('base64');
    const file = join(work, 'mlflow-secret.yaml');
    writeFileSync(
      file,
      `name: mlflow-secret
description: weights from https://bob:${secret}@models.example.com/vgg.bin
seed: 5
runs: { root: ${join(work, 'runs')} }
dataset: { type: affectnet, root: ${synth}, classes: report6, imageSize: 48, split: { validationPerClass: 4, limit: { test: 24 } } }
sampler: { type: weighted }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training: { epochs: 2, batchSize: 8, stepsPerEpoch: 2 }
reporters:
  - { type: console, progress: none }
  - { type: mlflow, trackingUri: 'http://user:${secret}@127.0.0.1:${server.port}', experimentName: mlflow-secret }
`,
    );
    const cli = await affectlabAsync(['run', file, '--cache-dir', join(work, 'cache')], {
      env: {
        MLFLOW_TRACKING_URI: undefined,
        MLFLOW_TRACKING_USERNAME: undefined,
        MLFLOW_TRACKING_PASSWORD: undefined,
        AFFECTLAB_LOG_LEVEL: 'info',
      },
    });
    assert.equal(cli.code, 0, cli.stderr);
    const leaks = (where: string, data: Buffer | string): string[] => {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
      return [secret, basic].filter((s) => bytes.includes(s)).map((s) => `${where} holds ${s}`);
    };
    const found = [...leaks('stdout', cli.stdout), ...leaks('stderr', cli.stderr)];

    const experimentDir = join(work, 'runs', 'mlflow-secret');
    const [runId] = readdirSync(experimentDir);
    const runDir = join(experimentDir, runId);
    const files = listAll(runDir);
    for (const f of [
      'config.yaml',
      'params.json',
      'events.jsonl',
      'log.txt',
      'run.json',
      'mlflow.json',
    ])
      assert.ok(files.includes(join(runDir, f)), `${f} in the run directory`);
    for (const f of files) found.push(...leaks(f, readFileSync(f)));

    const state = readState(runDir);
    assert.ok(state?.runId && state.artifactUri);
    const mlflowRun = await client.getRun(state.runId);
    assert.equal(mlflowRun.info.status, 'FINISHED');
    for (const [kind, entries] of [
      ['param', mlflowRun.params],
      ['tag', mlflowRun.tags],
    ] as const) {
      for (const [key, value] of Object.entries(entries))
        found.push(...leaks(`${kind} ${key}`, `${key}=${value}`));
    }
    const artifacts = await client.listArtifactsRecursive(state.runId);
    for (const a of artifacts.filter((a) => !a.isDir)) {
      const data = Buffer.from(await client.downloadArtifact(state.artifactUri, a.path));
      found.push(...leaks(`artifact ${a.path}`, data));
    }
    // and nothing in the server's own stores (sqlite database, artifact files)
    for (const f of listAll(server.dataDir).filter((f) => !f.endsWith('server.log')))
      found.push(...leaks(f, readFileSync(f)));
    assert.deepEqual(found, []);
    // the values are there, redacted, not dropped
    assert.match(mlflowRun.params['reporters'], /http:\/\/\*\*\*@127\.0\.0\.1:\d+/);
    assert.match(mlflowRun.tags['mlflow.note.content'], /https:\/\/\*\*\*@models\.example\.com/);

    // run.json as uploaded: the final record, written before the artifacts went up
    const uploaded = JSON.parse(
      Buffer.from(await client.downloadArtifact(state.artifactUri, 'run.json')).toString('utf8'),
    ) as { status: string; endTime?: number; runId: string };
    assert.equal(uploaded.status, 'FINISHED');
    assert.ok(typeof uploaded.endTime === 'number');
    assert.deepEqual(uploaded, JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')));
  });
});
