import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { tempDir } from '../../support/helpers.js';

test('run.json and events.jsonl never hold a credential value or a URL password', () => {
  const secret = 'hunter2-run-store-secret';
  const before = process.env.MLFLOW_TRACKING_PASSWORD;
  process.env.MLFLOW_TRACKING_PASSWORD = secret;
  try {
    const store = RunStore.create(tempDir('affectlab-redact-'), 'exp');
    const failure = `could not reach http://bob:pw123@mlflow.example/ with token ${secret}`;
    store.writeRecord({ runId: store.runId, status: 'FAILED', error: failure } as never);
    store.appendEvent({ type: 'runFailed', error: failure } as never);
    for (const file of ['run.json', 'events.jsonl']) {
      const text = readFileSync(store.path(file), 'utf8');
      assert.ok(!text.includes(secret), `${file} holds the credential: ${text}`);
      assert.ok(!text.includes('pw123'), `${file} holds the URL password: ${text}`);
      assert.match(text, /\*\*\*/);
    }
  } finally {
    if (before === undefined) delete process.env.MLFLOW_TRACKING_PASSWORD;
    else process.env.MLFLOW_TRACKING_PASSWORD = before;
  }
});
