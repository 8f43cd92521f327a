import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
} from '../../../src/plugins/datasets/affectnet/constants.js';
import { UserError } from '../../../src/sdk/errors.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { generateSyntheticAffectNet } from '../../../src/plugins/datasets/affectnet/synth.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';

const work = tempDir('affectlab-bad-run-');
const root = join(work, 'synth');
let trainingImages: string[] = [];

before(async () => {
  await generateSyntheticAffectNet({
    out: root,
    count: 360,
    validationCount: 40,
    seed: 21,
    size: 48,
  });
  trainingImages = readFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, 'training.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => join(root, AFFECTNET_IMAGES_DIR, line.split(',')[0]));
  // 3 images gone (found at prepare, well within the bound) ...
  for (const path of trainingImages.slice(0, 3)) rmSync(path);
  await activateBackend();
});

async function run(name: string) {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 3
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${root}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4 }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training:
  epochs: 1
  batchSize: 8
  optimizer: { type: sgd, learningRate: 0.01 }
reporters: [{ type: console, progress: none }]
`,
  );
  const runtime = testRuntime();
  const resolved = await runtime.resolve(file);
  return runExperiment(runtime, resolved, { cacheDir: join(work, 'cache') });
}

const runDirOf = (name: string): string => {
  const [id] = readdirSync(join(work, 'runs', name));
  return join(work, 'runs', name, id);
};

test('a few bad records: the run finishes and their summary is printed once', async () => {
  const result = await run('few-bad');
  assert.equal(result.status, 'FINISHED');
  const log = readFileSync(join(result.runDir, 'log.txt'), 'utf8');
  assert.equal(log.split('first ones:').length - 1, 1, 'one bad-record summary in log.txt');
  assert.match(log, /\d bad record\(s\) skipped \(\d missing image file\); first ones:/);
});

test('89 % corrupt training images fail the run early with the counts', async () => {
  // ... and 89 % of the rest cut to their first bytes: files that exist but do not decode
  const rest = trainingImages.slice(3);
  rest.forEach((path, i) => {
    if (i % 100 < 89) writeFileSync(path, readFileSync(path).subarray(0, 64));
  });
  await assert.rejects(run('mostly-corrupt'), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    const m = /^the train split: (\d+) of (\d+) images seen so far \(of (\d+)\) are bad/.exec(
      e.message,
    );
    assert.ok(m, e.message);
    assert.ok(Number(m[2]) <= 110 && Number(m[3]) > 150, e.message.split('\n')[0]);
    assert.match(e.message, /training\.csv:\d+: corrupt image/);
    return true;
  });
  const store = new RunStore(runDirOf('mostly-corrupt'));
  const record = store.readRecord();
  assert.equal(record.status, 'FAILED');
  assert.match(record.error ?? '', /the train split: \d+ of \d+ images seen so far/);
  assert.equal(store.readEpochs().length, 0, 'no epoch completed');
});
