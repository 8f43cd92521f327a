import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readTrainingState } from '../../../src/core/runner/checkpoint.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { RunStore, type EpochRecord } from '../../../src/core/reporting/run-store.js';
import type { Runtime } from '../../../src/core/host/runtime.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, repoRoot, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { tinyExperimentYaml } from '../../support/tiny-experiment.js';

/**
 * Faults a long run meets: Ctrl-C in the middle of a long epoch, kill -9 and --resume (with
 * Adam, whose state must come back exactly), a diverging loss, an unwritable runs root, a data
 * set that fails after the run directory exists.
 */
let synth = '';
const work = tempDir();

function experimentYaml(name: string, training: string, extra = ''): string {
  return tinyExperimentYaml({
    name,
    synth,
    runsRoot: join(work, 'runs'),
    sampler: '{ type: weighted, scheme: class-balanced, beta: 0.999 }',
    architecture: '{ type: vgg-type, filters: [8, 8, 16, 16], dense: [16, 8] }',
    training,
    reporters: '[{ type: console, progress: lines, everySteps: 1 }]',
    extra,
  });
}

function write(name: string, training: string, extra = ''): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, experimentYaml(name, training, extra));
  return file;
}

function onlyRun(name: string): RunStore {
  const dir = join(work, 'runs', name);
  const ids = readdirSync(dir);
  assert.equal(ids.length, 1, `one run of ${name}`);
  return new RunStore(join(dir, ids[0]));
}

/** Start `affectlab run` in a child process; `until` sees stderr and says when to act. */
function start(args: string[]) {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  /** Resolves as soon as stderr passes `test` (checked on every chunk) or `poll` says so. */
  const waitFor = (test: (stderr: string) => boolean, poll?: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = () => {
        if (test(stderr) || poll?.()) done();
      };
      const timer = setInterval(check, 20);
      const done = () => {
        clearInterval(timer);
        child.stderr.off('data', check);
        resolve();
      };
      child.stderr.on('data', check);
      void exited.then(done);
    });
  return { child, exited, waitFor, stderr: () => stderr };
}

/** Both execution engines must resume exactly (auto picks graph for this model). */
const EXECUTIONS = ['graph', 'eager'] as const;

const adamFourEpochs = (execution: string): string => `  epochs: 4
  batchSize: 4
  stepsPerEpoch: 3
  execution: ${execution}
  optimizer: { type: adam, learningRate: 0.003 }
  checkpoint: { monitor: val_accuracy }`;

async function runInProcess(
  runtime: Runtime,
  file: string,
  options: Partial<Parameters<typeof runExperiment>[2]> = {},
) {
  const resolved = await runtime.resolve(file);
  return runExperiment(runtime, resolved, { cacheDir: join(work, 'cache'), ...options });
}

describe('runs that meet faults', () => {
  before(async () => {
    synth = await smallSyntheticSet();
    await activateBackend();
  });

  it('Ctrl-C in a long epoch stops within 2 steps, checkpoints mid-epoch, exits 130', async () => {
    // one epoch of ~80 steps: before the fix the signal waited for the end of the epoch
    const file = write(
      'sigint-long',
      `  epochs: 1
  batchSize: 4
  optimizer: { type: adam, learningRate: 0.001 }`,
    );
    const run = start(['run', file, '--cache-dir', join(work, 'cache')]);
    const lastStep = (text: string): number =>
      Number([...text.matchAll(/^epoch 1\/1 (\d+)\//gm)].at(-1)?.[1] ?? 0);
    await run.waitFor((s) => lastStep(s) >= 5);
    const stepAtSignal = lastStep(run.stderr());
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130, run.stderr());
    const steps = Number(/^epoch 1\/1 \d+\/(\d+)/m.exec(run.stderr())?.[1]);
    assert.ok(steps > 40, `a long epoch (${steps} steps)`);
    const store = onlyRun('sigint-long');
    assert.equal(store.readRecord().status, 'KILLED');
    const state = readTrainingState(store.path('checkpoints/interrupted'));
    assert.equal(state.epoch, -1, 'no epoch completed');
    assert.ok(state.partial, 'the interrupted checkpoint says where in the epoch it stopped');
    assert.ok(
      state.partial.steps >= stepAtSignal && state.partial.steps <= stepAtSignal + 2,
      `stopped after step ${state.partial.steps}; the signal came after step ${stepAtSignal}`,
    );
    assert.match(store.readRecord().error ?? '', /SIGINT in epoch 1 after step \d+/);
  });

  it('a second Ctrl-C exits at once', async () => {
    const file = write(
      'sigint-twice',
      `  epochs: 1
  batchSize: 4
  optimizer: { type: adam, learningRate: 0.001 }`,
    );
    const run = start(['run', file, '--cache-dir', join(work, 'cache')]);
    await run.waitFor((s) => /^epoch 1\/1 3\//m.test(s));
    run.child.kill('SIGINT');
    await run.waitFor((s) => /SIGINT: finishing the current step/.test(s));
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130);
    assert.match(run.stderr(), /SIGINT again: exiting without waiting/);
  });

  for (const execution of EXECUTIONS)
    it(`${execution}: kill -9 after epoch 2 of 4 and --resume (Adam, dropout) equals an uninterrupted run, every epoch`, async () => {
      const cache = join(work, 'cache');
      const whole = start([
        'run',
        write(`adam-whole-${execution}`, adamFourEpochs(execution)),
        '--cache-dir',
        cache,
      ]);
      assert.equal((await whole.exited).code, 0, whole.stderr());

      const parted = start([
        'run',
        write(`adam-parted-${execution}`, adamFourEpochs(execution)),
        '--cache-dir',
        cache,
      ]);
      // run.json's lastCompletedEpoch, written after the epoch's metrics.jsonl line (waiting on
      // that line alone raced it: a kill between the two left lastCompletedEpoch at epoch 1)
      const epochsDone = (): number => {
        const dir = join(work, 'runs', `adam-parted-${execution}`);
        if (!existsSync(dir)) return 0;
        const [id] = readdirSync(dir);
        if (!id || !existsSync(join(dir, id, 'run.json'))) return 0;
        return (new RunStore(join(dir, id)).readRecord().lastCompletedEpoch ?? -1) + 1;
      };
      await parted.waitFor(
        () => false,
        () => epochsDone() >= 2,
      );
      parted.child.kill('SIGKILL');
      const killed = await parted.exited;
      assert.equal(killed.signal, 'SIGKILL', 'killed before it finished');
      const store = onlyRun(`adam-parted-${execution}`);
      assert.equal(store.readRecord().status, 'RUNNING', 'a killed process leaves RUNNING');
      const done = store.readRecord().lastCompletedEpoch ?? -1;
      assert.ok(done >= 1 && done < 3, `killed after epoch ${done + 1}`);

      const resumed = start(['run', '--resume', store.dir, '--cache-dir', cache]);
      assert.equal((await resumed.exited).code, 0, resumed.stderr());
      assert.equal(store.readRecord().status, 'FINISHED');
      const a = onlyRun(`adam-whole-${execution}`);
      const metrics = (s: RunStore) => s.readEpochs().map((e: EpochRecord) => [e.epoch, e.metrics]);
      assert.deepEqual(metrics(store), metrics(a), 'every epoch, bit for bit');
      assert.deepEqual(store.readJson('metrics.json'), a.readJson('metrics.json'));
      assert.equal(
        store.readJson<Record<string, unknown>>('params.json')['training.engine'],
        execution,
      );
    });

  for (const execution of EXECUTIONS)
    it(`${execution}: Ctrl-C in the middle of an epoch and --resume replays the rest of the epoch exactly`, async () => {
      const training = `  epochs: 3
  execution: ${execution}
  batchSize: 4
  stepsPerEpoch: 4
  validationSteps: 1
  optimizer: { type: adam, learningRate: 0.003 }`;
      const whole = await runInProcess(testRuntime(), write(`mid-whole-${execution}`, training));
      // the stop flag is read before an epoch's first step, after each step, once by the loop
      // after the epoch and after each validation batch (4 steps, 1 validation batch: 7
      // reads): the 10th read is after step 2 of epoch 2
      let reads = 0;
      const signal = {
        reason: 'SIGINT',
        get stop(): boolean {
          reads++;
          return reads >= 10;
        },
      };
      const killed = await runInProcess(testRuntime(), write(`mid-parted-${execution}`, training), {
        stopSignal: signal,
      });
      assert.equal(killed.status, 'KILLED');
      const store = new RunStore(killed.runDir);
      const state = readTrainingState(store.path('checkpoints/interrupted'));
      assert.deepEqual([state.epoch, state.partial?.epoch, state.partial?.steps], [0, 1, 2]);
      const resumed = await runInProcess(testRuntime(), store.path('config.yaml'), {
        resume: killed.runDir,
      });
      assert.equal(resumed.status, 'FINISHED');
      assert.ok(!store.exists('checkpoints/interrupted'), 'used up once the epoch completed');
      const strip = (s: RunStore) => s.readEpochs().map((e) => [e.epoch, e.metrics, e.images]);
      assert.deepEqual(strip(store), strip(new RunStore(whole.runDir)));
      assert.deepEqual(resumed.testMetrics, whole.testMetrics);
    });

  // At 1e30 the weights overflow on either engine; at 1e6 both runs stay finite (eager, from
  // its seeded initial weights, ends near a loss of 7; the graph near 8).
  const HUGE_RATE = '1e30';
  for (const execution of EXECUTIONS)
    it(`${execution}: a diverging loss (learning rate ${HUGE_RATE}) fails naming the epoch and step, as a user error`, () => {
      const file = write(
        `diverge-${execution}`,
        `  epochs: 2
  execution: ${execution}
  batchSize: 4
  stepsPerEpoch: 6
  optimizer: { type: adam, learningRate: ${HUGE_RATE} }`,
      );
      const r = affectlab(['run', file, '--cache-dir', join(work, 'cache')]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /internal error/);
      assert.match(
        r.stderr,
        /loss became (NaN|-?Infinity) at (epoch \d+, step \d+|the validation after epoch \d+)/,
      );
      assert.match(r.stderr, /diverged/);
      const store = onlyRun(`diverge-${execution}`);
      assert.equal(store.readRecord().status, 'FAILED');
      assert.equal(store.readEvents().at(-1)?.event, 'runEnded');
    });

  it('an unwritable runs root is a user error naming the directory', () => {
    const file = write('ro', `  epochs: 1\n  batchSize: 4`);
    const blocker = join(work, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const r = affectlab([
      'run',
      file,
      '--cache-dir',
      join(work, 'cache'),
      '--set',
      `runs.root=${blocker}/runs`,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.match(r.stderr, /cannot create the run directory .*a-file\/runs.*runs\.root/);
  });

  it('a failure after the run directory exists leaves run.json FAILED, config.yaml and runEnded', async () => {
    const empty = tempDir('affectlab-empty-');
    const file = write('no-data', `  epochs: 1\n  batchSize: 4`);
    writeFileSync(file, readFileSync(file, 'utf8').replace(`root: ${synth}`, `root: ${empty}`));
    await assert.rejects(runInProcess(testRuntime(), file));
    const store = onlyRun('no-data');
    const record = store.readRecord();
    assert.equal(record.status, 'FAILED');
    assert.ok(record.error && record.error.length > 0);
    assert.ok(store.exists('config.yaml'));
    const events = store.readEvents().map((e) => e.event);
    assert.deepEqual([events[0], events.at(-1)], ['runStarted', 'runEnded']);
  });

  it('an experiment without training: gets every training default', () => {
    const file = join(work, 'no-training.yaml');
    writeFileSync(
      file,
      experimentYaml('no-training', '  epochs: 1').replace(/training:\n {2}epochs: 1\n/, ''),
    );
    assert.doesNotMatch(readFileSync(file, 'utf8'), /^training:/m);
    const v = affectlab(['validate', file]);
    assert.equal(v.code, 0, v.stderr);
    const c = affectlab(['config', file, '--json']);
    assert.equal(c.code, 0, c.stderr);
    const training = (JSON.parse(c.stdout) as { training: Record<string, unknown> }).training;
    assert.equal(training.backend, 'auto');
    assert.equal(training.execution, 'auto');
    assert.equal(training.epochs, 5);
  });
});
