import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { writeTinyExperiment } from '../../support/tiny-experiment.js';

let synth = '';
const work = tempDir();
const BASE = 0.01;
const EPOCHS = 5;
const WARMUP = 2;

function experiment(execution: string, name = `warmup-${execution}`): string {
  return writeTinyExperiment(work, {
    name,
    synth,
    runsRoot: join(work, 'runs'),
    seed: 3,
    testLimit: 16,
    training: `  epochs: ${EPOCHS}
  batchSize: 8
  stepsPerEpoch: 2
  validationSteps: 1
  execution: ${execution}
  optimizer: { type: sgd, learningRate: ${BASE} }
  learningRate: { schedule: cosine, warmupEpochs: ${WARMUP}, minLearningRate: 0.001 }`,
  });
}

/** The documented definition: the ramp, then the cosine over the remaining epochs. */
function expected(e: number): number {
  if (e < WARMUP) return (BASE * (e + 1)) / (WARMUP + 1);
  const t = (e - WARMUP) / (EPOCHS - WARMUP);
  return 0.001 + 0.5 * (BASE - 0.001) * (1 + Math.cos(Math.PI * t));
}

describe('a run with warm-up + cosine records each epoch at the rate of the definition', () => {
  before(async () => {
    synth = await smallSyntheticSet();
    await activateBackend();
  });

  for (const execution of ['eager', 'graph'])
    it(`${execution} engine: metrics.jsonl learningRate per epoch`, async () => {
      const runtime = testRuntime();
      const resolved = await runtime.resolve(experiment(execution));
      const result = await runExperiment(runtime, resolved, { cacheDir: join(work, 'cache') });
      const epochs = readFileSync(join(result.runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { epoch: number; learningRate: number });
      assert.equal(epochs.length, EPOCHS);
      for (const { epoch, learningRate } of epochs)
        assert.ok(
          Math.abs(learningRate - expected(epoch)) < 1e-9,
          `epoch ${epoch}: ${learningRate} vs ${expected(epoch)}`,
        );
      // the first epoch is on the ramp, not at the optimizer's rate
      assert.ok(Math.abs(epochs[0].learningRate - BASE / 3) < 1e-9);
    });

  for (const execution of ['eager', 'graph'])
    it(`${execution} engine: a run stopped in the warm-up and resumed trains as the whole run`, async () => {
      const run = async (name: string, options: Partial<Parameters<typeof runExperiment>[2]>) => {
        const runtime = testRuntime();
        const file = options.resume
          ? join(options.resume, 'config.yaml')
          : experiment(execution, name);
        return runExperiment(runtime, await runtime.resolve(file), {
          cacheDir: join(work, 'cache'),
          ...options,
        });
      };
      const whole = await run(`whole-${execution}`, {});
      // the stop flag is read before an epoch's first step, after each step and by the runner
      // after the epoch (2 steps: 4 reads): the 6th read is after step 1 of epoch 1 (warm-up)
      let reads = 0;
      const stopSignal = {
        reason: 'SIGINT',
        get stop(): boolean {
          reads++;
          return reads >= 6;
        },
      };
      const killed = await run(`parted-${execution}`, { stopSignal });
      assert.equal(killed.status, 'KILLED');
      const resumed = await run('', { resume: killed.runDir });
      assert.equal(resumed.status, 'FINISHED');
      const records = (dir: string) =>
        new RunStore(dir).readEpochs().map((e) => [e.epoch, e.learningRate, e.metrics]);
      assert.deepEqual(records(killed.runDir), records(whole.runDir));
      assert.equal(records(whole.runDir).length, EPOCHS);
    });
});
