import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactCredentials, redactUrlCredentials } from '../../../src/core/redact.js';

test('URL userinfo is redacted in every string of a config, nothing else changes', () => {
  const config = {
    name: 'x',
    seed: 3,
    reporters: [
      { type: 'mlflow', trackingUri: 'http://u:s3cretPW@127.0.0.1:5000' },
      { type: 'console', note: 'see https://p%40ss:w@rd@host/path?q=a@b and mail me@example.com' },
    ],
  };
  const out = redactCredentials(config);
  assert.equal(out.reporters[0].trackingUri, 'http://***@127.0.0.1:5000');
  assert.equal(out.reporters[1].note, 'see https://***@host/path?q=a@b and mail me@example.com');
  assert.equal(out.seed, 3);
  assert.ok(!JSON.stringify(out).includes('s3cretPW'));
  assert.equal(config.reporters[0].trackingUri, 'http://u:s3cretPW@127.0.0.1:5000', 'input kept');
  assert.equal(redactUrlCredentials('http://host:5000'), 'http://host:5000');
  const keyed = redactCredentials(JSON.parse('{"__proto__": {"polluted": 1}}') as object);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.prototype.hasOwnProperty.call(keyed, '__proto__'));
});
