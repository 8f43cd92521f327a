import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  MLFLOW_LIMITS,
  MlflowApiError,
  MlflowClient,
  MlflowError,
  chunkBatch,
  credentialsFromEnv,
  type MlflowMetric,
} from '../../../src/plugins/reporters/mlflow/client.js';
import { mlflowKey, truncate } from '../../../src/plugins/reporters/mlflow/mapping.js';
import { readEventLines } from '../../../src/plugins/reporters/mlflow/delivery.js';
import { MlflowReporter, mlflowReporter } from '../../../src/plugins/reporters/mlflow/reporter.js';
import { withOptionDefaults } from '../../../src/core/host/defaults.js';
import { Logger } from '../../../src/sdk/services.js';
import { freePort } from '../../support/mlflow-server.js';
import { tempDir, writeFiles } from '../../support/helpers.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

/** A tiny local HTTP server that records requests and answers from a script. */
class FakeMlflow {
  seen: Seen[] = [];
  answers: Answer[] = [];
  fallback: Answer = { status: 200, body: {} };
  private server?: Server;
  uri = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const answer = this.answers.shift() ?? this.fallback;
        res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
        res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    const address = this.server.address();
    this.uri = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}

const noWait = { initialDelayMs: 1, maxDelayMs: 2 };

describe('MLflow client over HTTP (local fake server)', () => {
  const fake = new FakeMlflow();
  before(() => fake.start());
  after(() => fake.stop());
  beforeEach(() => {
    fake.seen = [];
    fake.answers = [];
    fake.fallback = { status: 200, body: {} };
  });

  it('sends a Bearer token from MLFLOW_TRACKING_TOKEN, as the Python client does', async () => {
    const saved = { ...process.env };
    try {
      process.env.MLFLOW_TRACKING_TOKEN = 'tok-123-secret';
      delete process.env.MLFLOW_TRACKING_USERNAME;
      delete process.env.MLFLOW_TRACKING_PASSWORD;
      assert.deepEqual(credentialsFromEnv(), {
        token: 'tok-123-secret',
        username: undefined,
        password: undefined,
      });
      fake.answers.push({
        status: 200,
        body: { experiment: { experiment_id: '7', name: 'e', lifecycle_stage: 'active' } },
      });
      const experiment = await new MlflowClient({ trackingUri: fake.uri }).getExperimentByName('e');
      assert.equal(experiment?.experimentId, '7');
      assert.equal(fake.seen[0].headers.authorization, 'Bearer tok-123-secret');
      assert.equal(fake.seen[0].url, '/api/2.0/mlflow/experiments/get-by-name?experiment_name=e');
    } finally {
      process.env = saved;
    }
  });

  it('sends Basic auth from username and password (preferred over a token), never the secret in errors', async () => {
    const credentials = { username: 'alice', password: 'pa55-word', token: 'tok-unused' };
    const basic = Buffer.from('alice:pa55-word').toString('base64');
    // A server that echoes the credentials back in its error must not get them into our message.
    fake.answers.push({
      status: 403,
      body: { error_code: 'PERMISSION_DENIED', message: `denied for Basic ${basic} (pa55-word)` },
    });
    const client = new MlflowClient({ trackingUri: fake.uri, credentials, retry: noWait });
    const error = await client.getRun('abc').then(
      () => assert.fail('expected a 403'),
      (e: unknown) => e,
    );
    assert.equal(fake.seen[0].headers.authorization, `Basic ${basic}`);
    assert.ok(error instanceof MlflowApiError);
    assert.equal(error.status, 403);
    assert.equal(error.errorCode, 'PERMISSION_DENIED');
    assert.equal(error.transient, false);
    assert.equal(fake.seen.length, 1, '4xx is not retried');
    for (const secret of ['pa55-word', basic, 'tok-unused'])
      assert.ok(!error.message.includes(secret), error.message);
    assert.match(error.message, /runs\/get: HTTP 403 PERMISSION_DENIED/);
  });

  it('moves credentials out of the tracking URI and keeps them out of network errors', async () => {
    const port = await freePort(); // nothing listens there
    const client = new MlflowClient({
      trackingUri: `http://bob:hunter2@127.0.0.1:${port}/`,
      credentials: {},
      retry: { maxRetries: 1, ...noWait },
    });
    assert.equal(client.trackingUri, `http://127.0.0.1:${port}`);
    const error = await client.createExperiment('x').then(
      () => assert.fail('expected a network error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MlflowError);
    assert.equal(error.transient, true);
    assert.ok(!error.message.includes('hunter2'), error.message);
    assert.match(error.message, /ECONNREFUSED/);
  });

  it('retries 503 with backoff, then succeeds', async () => {
    fake.answers.push(
      { status: 503, body: 'busy' },
      { status: 503, body: 'busy' },
      { status: 200, body: { experiment_id: '3' } },
    );
    const delays: number[] = [];
    const client = new MlflowClient({
      trackingUri: fake.uri,
      credentials: {},
      retry: { maxRetries: 3, initialDelayMs: 100, maxDelayMs: 1000, factor: 2 },
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    assert.equal(await client.createExperiment('x'), '3');
    assert.equal(fake.seen.length, 3);
    assert.equal(delays.length, 2);
    assert.ok(delays[0] >= 50 && delays[0] <= 100, `first delay ${delays[0]}`);
    assert.ok(delays[1] >= 100 && delays[1] <= 200, `second delay ${delays[1]}`);
    assert.equal(fake.seen[0].headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(fake.seen[2].body), { name: 'x' });
  });

  it('gives up after maxRetries on a persistent 5xx, and honours Retry-After on 429', async () => {
    fake.fallback = { status: 500, body: { error_code: 'INTERNAL_ERROR', message: 'boom' } };
    const client = new MlflowClient({
      trackingUri: fake.uri,
      credentials: {},
      retry: { maxRetries: 2, ...noWait },
    });
    await assert.rejects(
      client.createExperiment('x'),
      (e: unknown) => e instanceof MlflowApiError && e.status === 500 && e.transient,
    );
    assert.equal(fake.seen.length, 3);

    fake.seen = [];
    fake.fallback = { status: 200, body: { experiment_id: '4' } };
    fake.answers.push({ status: 429, body: {}, headers: { 'Retry-After': '0' } });
    const delays: number[] = [];
    const patient = new MlflowClient({
      trackingUri: fake.uri,
      credentials: {},
      sleep: async (ms) => void delays.push(ms),
    });
    assert.equal(await patient.createExperiment('y'), '4');
    assert.deepEqual(delays, [0]);
  });

  it('does not retry a 400', async () => {
    fake.fallback = {
      status: 400,
      body: {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'Changing param values is not allowed',
      },
    };
    const client = new MlflowClient({
      trackingUri: fake.uri,
      credentials: {},
      retry: { maxRetries: 5, ...noWait },
    });
    await assert.rejects(
      client.logBatch('r1', { params: [{ key: 'a', value: '2' }] }),
      (e: unknown) => {
        assert.ok(e instanceof MlflowApiError);
        assert.equal(e.status, 400);
        assert.equal(e.errorCode, 'INVALID_PARAMETER_VALUE');
        assert.match(e.message, /Changing param values is not allowed/);
        return true;
      },
    );
    assert.equal(fake.seen.length, 1);
  });

  it('splits log-batch within MLflow limits and sends NaN and infinities as MLflow expects', async () => {
    const metrics: MlflowMetric[] = Array.from({ length: 2100 }, (_, i) => ({
      key: `m${i % 7}`,
      value: i,
      timestamp: 1000 + i,
      step: i,
    }));
    metrics[5].value = NaN;
    metrics[6].value = Infinity;
    const params = Array.from({ length: 150 }, (_, i) => ({ key: `p${i}`, value: String(i) }));
    const tags = Array.from({ length: 120 }, (_, i) => ({ key: `t${i}`, value: String(i) }));
    const client = new MlflowClient({ trackingUri: fake.uri, credentials: {} });
    await client.logBatch('run-1', { metrics, params, tags });
    const bodies = fake.seen.map(
      (s) =>
        JSON.parse(s.body) as {
          run_id: string;
          metrics: { value: unknown }[];
          params: unknown[];
          tags: unknown[];
        },
    );
    for (const b of bodies) {
      assert.equal(b.run_id, 'run-1');
      assert.ok(b.metrics.length <= MLFLOW_LIMITS.metricsPerBatch);
      assert.ok(b.params.length <= MLFLOW_LIMITS.paramsPerBatch);
      assert.ok(b.tags.length <= MLFLOW_LIMITS.tagsPerBatch);
      assert.ok(
        b.metrics.length + b.params.length + b.tags.length <= MLFLOW_LIMITS.entitiesPerBatch,
      );
    }
    assert.equal(bodies.flatMap((b) => b.metrics).length, 2100);
    assert.equal(bodies.flatMap((b) => b.params).length, 150);
    assert.equal(bodies.flatMap((b) => b.tags).length, 120);
    const all = bodies.flatMap((b) => b.metrics);
    assert.equal(all[5].value, 'NaN');
    assert.equal(all[6].value, 'Infinity');
    assert.equal(all[7].value, 7);
  });
});

describe('MLflow helpers', () => {
  it('chunkBatch keeps order and never exceeds a limit', () => {
    const metric = (i: number): MlflowMetric => ({ key: 'm', value: i, timestamp: i, step: i });
    const chunks = chunkBatch(
      Array.from({ length: 1950 }, (_, i) => metric(i)),
      [{ key: 'p', value: '1' }],
      [],
    );
    assert.equal(chunks.length, 2);
    assert.equal(chunks[0].metrics.length, 999);
    assert.deepEqual(
      chunks.flatMap((c) => c.metrics).map((m) => m.value),
      Array.from({ length: 1950 }, (_, i) => i),
    );
    assert.deepEqual(chunkBatch([], [], []), []);
  });

  it('mlflowKey makes keys MLflow accepts; truncate marks the cut', () => {
    assert.equal(mlflowKey('val_accuracy'), 'val_accuracy');
    assert.equal(mlflowKey('recall[anger]'), 'recall_anger_');
    assert.equal(mlflowKey('a//b/./c/'), 'a/b/c');
    const long = mlflowKey('k'.repeat(300));
    assert.equal(long.length, MLFLOW_LIMITS.keyLength);
    assert.notEqual(long, mlflowKey('k'.repeat(301)));
    assert.equal(truncate('abcdef', 5), 'ab...');
    assert.equal(truncate('abc', 5), 'abc');
  });

  it('artifactUrl resolves mlflow-artifacts URIs through the tracking server', () => {
    const client = new MlflowClient({
      trackingUri: 'http://127.0.0.1:5000/prefix/',
      credentials: {},
    });
    assert.equal(
      client.artifactUrl('mlflow-artifacts:/1/abc/artifacts', 'model/model 1.json'),
      'http://127.0.0.1:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model%201.json',
    );
    assert.equal(
      client.artifactUrl('mlflow-artifacts://other:81/1/abc/artifacts', 'a.png'),
      'http://other:81/prefix/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/a.png',
    );
    assert.throws(
      () => client.artifactUrl('s3://bucket/1/abc/artifacts', 'a.png'),
      /not served by the tracking server/,
    );
    assert.throws(
      () => client.artifactUrl('mlflow-artifacts:/1/abc/artifacts', '../x'),
      /invalid artifact path/,
    );
    assert.throws(
      () => new MlflowClient({ trackingUri: 'file:///tmp/mlruns' }),
      /only an MLflow tracking server/,
    );
  });

  it('readEventLines leaves out a half-written last line and names a broken one', () => {
    const dir = tempDir();
    const ok = JSON.stringify({ event: 'evaluated', time: 1, metrics: {}, step: 0 });
    writeFiles(dir, { 'events.jsonl': `${ok}\nnot json\n${ok}\n{"event":"epo` });
    const lines = readEventLines(dir);
    assert.equal(lines.length, 3);
    assert.equal(lines[1].line, 2);
    assert.ok(lines[1].problem);
    assert.equal(lines[2].event?.event, 'evaluated');
  });
});

describe('mlflow reporter without a reachable server', () => {
  it('never throws, warns once, and leaves every event for sync', async () => {
    const port = await freePort();
    const runDir = tempDir();
    const warnings: string[] = [];
    const logger = new Logger();
    logger.warn = (m: string) => void warnings.push(m);
    logger.info = () => undefined;
    const reporter = new MlflowReporter(
      {
        trackingUri: `http://127.0.0.1:${port}`,
        maxRetries: 0,
        reconnectAfterSeconds: 0,
        systemMetricsIntervalSeconds: 0,
        artifacts: 'upload',
        logModel: false,
      },
      logger,
    );
    const run = {
      runId: 'r1',
      experiment: 'offline',
      runDir,
      sourceFile: `${runDir}/offline.yaml`,
      resolvedConfig: { name: 'offline' },
      params: { seed: 1 },
      backend: { name: 'cpu', devices: [] },
      dataset: {},
      startTime: Date.now(),
    };
    await reporter.runStarted(run);
    await reporter.epochEnded(run, { epoch: 0, metrics: { loss: 1 }, timestamp: Date.now() });
    await reporter.evaluated(run, { test_accuracy: 0.5 }, 0);
    await reporter.runEnded(run, 'FINISHED');
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /affectlab sync/);
    assert.equal(reporter.isOffline, true);
    assert.equal(reporter.state?.syncedEvents, 0);
    assert.equal(reporter.state?.status, 'PENDING');
    const savedUri = process.env.MLFLOW_TRACKING_URI;
    delete process.env.MLFLOW_TRACKING_URI;
    try {
      assert.throws(
        () => new MlflowReporter(withOptionDefaults(mlflowReporter, {}), logger),
        /MLFLOW_TRACKING_URI/,
      );
    } finally {
      if (savedUri !== undefined) process.env.MLFLOW_TRACKING_URI = savedUri;
    }
  });
});
