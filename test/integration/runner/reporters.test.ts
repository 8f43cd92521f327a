import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { writeTinyExperiment } from '../../support/tiny-experiment.js';

const REQUEST_TIMEOUT_S = 30;
const DRAIN_MS = 1500;

describe('reporters run off the training loop', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let port = 0;
  let synth = '';
  const work = tempDir();

  before(async () => {
    synth = await smallSyntheticSet();
    await activateBackend();
    // a tracking server that accepts connections and never answers (hung, not refusing)
    server = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a server that never answers neither stalls training nor holds the run end past its bound', async () => {
    const file = writeTinyExperiment(work, {
      name: 'hung',
      synth,
      runsRoot: join(work, 'runs'),
      seed: 3,
      validationPerClass: 6,
      testLimit: 48,
      architecture: '{ type: vgg-type, filters: [8, 8, 16, 16], dense: [16, 8] }',
      training: '  epochs: 3\n  batchSize: 8\n  stepsPerEpoch: 2',
      reporters: `
  - { type: console, progress: none }
  - type: mlflow
    trackingUri: http://127.0.0.1:${port}
    requestTimeoutSeconds: ${REQUEST_TIMEOUT_S}
    maxRetries: 0`,
    });
    const runtime = testRuntime();
    const resolved = await runtime.resolve(file);
    const t0 = Date.now();
    const result = await runExperiment(runtime, resolved, {
      cacheDir: join(work, 'cache'),
      reporterDrainTimeoutMs: DRAIN_MS,
    });
    const returned = Date.now();
    assert.equal(result.status, 'FINISHED');
    // the reporter did try: the hung server holds its connection
    assert.ok(sockets.length >= 1, 'the MLflow reporter never connected');
    const events = new RunStore(result.runDir).readEvents();
    const started = events.find((e) => e.event === 'runStarted')?.time ?? NaN;
    const ended = events.find((e) => e.event === 'runEnded')?.time ?? NaN;
    // awaited in the loop, the first request alone would hold training for the whole timeout
    assert.ok(
      ended - started < REQUEST_TIMEOUT_S * 1000 * 0.5,
      `training took ${ended - started} ms with a hung server`,
    );
    assert.equal(events.filter((e) => e.event === 'epochEnded').length, 3);
    // the run's end waits for the reporters, but only up to the drain bound
    assert.ok(returned - ended >= DRAIN_MS - 50, `returned ${returned - ended} ms after runEnded`);
    assert.ok(returned - ended < DRAIN_MS + 5000, `returned ${returned - ended} ms after runEnded`);
    assert.ok(returned - t0 < REQUEST_TIMEOUT_S * 1000);
  });
});
