import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { evaluateRun } from '../../../src/core/cli/commands/evaluate.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { TINY_VGG, writeTinyExperiment } from '../../support/tiny-experiment.js';

let synth = '';
const work = tempDir();

interface Run {
  runDir: string;
  losses: number[];
  epochs: Record<string, number>[];
  testMetrics: Record<string, number>;
  log: string;
}

/** A short run on the synthetic set with only the given augmentation, on the given engine. */
function experiment(name: string, execution: string, mix: string, epochs: number): string {
  return writeTinyExperiment(work, {
    name,
    synth,
    runsRoot: join(work, 'runs'),
    seed: 8,
    dataset: `  augment: { flip: false, shift: 0, rotate: 0, brightness: 0, contrast: 0${mix} }`,
    architecture: TINY_VGG,
    training: `  epochs: ${epochs}
  batchSize: 8
  stepsPerEpoch: 3
  execution: ${execution}
  optimizer: { type: adam, learningRate: 0.003 }`,
  });
}

async function run(name: string, execution: string, mix: string, epochs = 2): Promise<Run> {
  const file = experiment(name, execution, mix, epochs);
  const runtime = testRuntime();
  const result = await runExperiment(runtime, await runtime.resolve(file), {
    cacheDir: join(work, 'cache'),
  });
  assert.equal(result.status, 'FINISHED');
  const epochsOut = readFileSync(join(result.runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { metrics: Record<string, number> }).metrics);
  return {
    runDir: result.runDir,
    losses: epochsOut.map((m) => m.loss),
    epochs: epochsOut,
    testMetrics: result.testMetrics ?? {},
    log: readFileSync(join(result.runDir, 'log.txt'), 'utf8'),
  };
}

/** The metrics of `evaluate` on a split of the run, by the same names as the run's. */
async function evaluated(
  runDir: string,
  split: 'test' | 'validation',
): Promise<Record<string, number>> {
  const result = await evaluateRun(testRuntime(), {
    run: runDir,
    split,
    out: join(work, `eval-${split}-${Date.now()}`),
    cacheDir: join(work, 'cache'),
  });
  return result.metrics;
}

function assertSameScores(
  run: Record<string, number>,
  evaluation: Record<string, number>,
  from: string,
  to: string,
): void {
  const keys = Object.keys(run).filter((k) => k.startsWith(from) && !k.endsWith('loss'));
  assert.ok(keys.length > 10, keys.join(', '));
  for (const key of keys) {
    const a = run[key];
    const b = evaluation[to + key.slice(from.length)];
    assert.ok(
      (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) < 1e-6,
      `${key}: run ${a} vs evaluate ${b}`,
    );
  }
}

describe('mixup and CutMix in a run', () => {
  before(async () => {
    synth = await smallSyntheticSet();
    await activateBackend();
  });

  it('the graph engine trains on mixed batches, and the same seed trains the same', async () => {
    const mix = ', mixup: { alpha: 0.4, probability: 0.5 }, cutmix: { probability: 0.5 }';
    const a = await run('mix-graph-a', 'auto', mix);
    const b = await run('mix-graph-b', 'auto', mix);
    const off = await run('mix-graph-off', 'auto', ', mixup: { probability: 0 }');
    const none = await run('mix-graph-none', 'auto', '');
    assert.match(a.log, /execution: graph/);
    assert.deepEqual(a.losses, b.losses);
    assert.deepEqual(a.epochs, b.epochs);
    // probability 0 is exactly no mixing; mixing changes what the model learns from
    assert.deepEqual(off.losses, none.losses);
    assert.notDeepEqual(a.losses, none.losses);
  });

  it('the eager engine trains on mixed batches; validation and test never mix', async () => {
    const mixed = await run('mix-eager', 'eager', ', mixup: { alpha: 1, probability: 1 }', 1);
    const plain = await run('mix-eager-none', 'eager', '', 1);
    assert.match(mixed.log, /execution: training.execution is eager/);
    assert.notDeepEqual(mixed.losses, plain.losses);
    // the run's own scores are those of its model on unmixed images (evaluate never mixes)
    assertSameScores(mixed.testMetrics, await evaluated(mixed.runDir, 'test'), 'test_', 'test_');
    assertSameScores(
      mixed.epochs[0],
      await evaluated(mixed.runDir, 'validation'),
      'val_',
      'validation_',
    );
  });

  it('a mixing and erasing run stopped mid-epoch and resumed trains as the whole run', async () => {
    // erasing with random fill: per-image parameters and the noise table in the step
    const mix =
      ', mixup: { alpha: 0.4, probability: 0.5 }, cutmix: { probability: 0.5 }' +
      ', erasing: { probability: 0.5, value: random }';
    const start = async (name: string, options: Partial<Parameters<typeof runExperiment>[2]>) => {
      const runtime = testRuntime();
      const file = options.resume
        ? join(options.resume, 'config.yaml')
        : experiment(name, 'auto', mix, 2);
      return runExperiment(runtime, await runtime.resolve(file), {
        cacheDir: join(work, 'cache'),
        ...options,
      });
    };
    const whole = await start('mix-whole', {});
    // the stop flag is read before an epoch's first step, after each of its 3 steps and by the
    // runner after the epoch: the 7th read is after step 1 of epoch 2
    let reads = 0;
    const stopSignal = {
      reason: 'SIGINT',
      get stop(): boolean {
        reads++;
        return reads >= 7;
      },
    };
    const killed = await start('mix-parted', { stopSignal });
    assert.equal(killed.status, 'KILLED');
    const resumed = await start('', { resume: killed.runDir });
    assert.equal(resumed.status, 'FINISHED');
    const records = (dir: string) =>
      new RunStore(dir).readEpochs().map((e) => [e.epoch, e.learningRate, e.metrics]);
    assert.equal(records(whole.runDir).length, 2);
    assert.deepEqual(records(killed.runDir), records(whole.runDir));
  });
});
