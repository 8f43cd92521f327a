import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { TINY_VGG, writeTinyExperiment } from '../../support/tiny-experiment.js';

let synth = '';
const work = tempDir();

/** A 2-epoch run with only the given augmentation (no flip/shift/rotate/colour). */
async function losses(name: string, erasing: string): Promise<number[]> {
  const file = writeTinyExperiment(work, {
    name,
    synth,
    runsRoot: join(work, 'runs'),
    seed: 8,
    testLimit: 16,
    dataset: `  augment: { flip: false, shift: 0, rotate: 0, brightness: 0, contrast: 0${erasing} }`,
    architecture: TINY_VGG,
    training: `  epochs: 2
  batchSize: 8
  stepsPerEpoch: 2
  validationSteps: 1
  optimizer: { type: sgd, learningRate: 0.05 }`,
  });
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
