import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';

let synth = '';
const work = tempDir();

/** A 2-epoch run with only the given augmentation (no flip/shift/rotate/colour). */
async function losses(name: string, erasing: string): Promise<number[]> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 8
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4, limit: { test: 16 } }
  augment: { flip: false, shift: 0, rotate: 0, brightness: 0, contrast: 0${erasing} }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8], convDropout: 0, denseDropout: 0 }
training:
  epochs: 2
  batchSize: 8
  stepsPerEpoch: 2
  validationSteps: 1
  optimizer: { type: sgd, learningRate: 0.05 }
reporters: [{ type: console, progress: none }]
`,
  );
  const runtime = testRuntime();
  const result = await runExperiment(runtime, await runtime.resolve(file), {
    cacheDir: join(work, 'cache'),
  });
  return readFileSync(join(result.runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { metrics: { loss: number } }).metrics.loss);
}

describe('random erasing in a run', () => {
  before(async () => {
    synth = await smallSyntheticSet();
    await activateBackend();
  });

  it('reaches the training batches, and the same seed trains the same', async () => {
    const erasing = ', erasing: { probability: 1, value: random }';
    const a = await losses('erasing-a', erasing);
    const b = await losses('erasing-b', erasing);
    const off = await losses('erasing-off', ', erasing: { probability: 0 }');
    const none = await losses('erasing-none', '');
    assert.deepEqual(a, b);
    // probability 0 is exactly no erasing; probability 1 changes what the model sees
    assert.deepEqual(off, none);
    assert.notDeepEqual(a, none);
  });
});
