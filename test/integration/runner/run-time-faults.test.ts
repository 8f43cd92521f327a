import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportRun } from '../../../src/core/cli/commands/export.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import {
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
} from '../../../src/plugins/datasets/affectnet/constants.js';
import { generateSyntheticAffectNet } from '../../../src/plugins/datasets/affectnet/synth.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, repoRoot, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { writeTinyExperiment } from '../../support/tiny-experiment.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

/**
 * Faults at run time (issue 24): export that would delete the run, disk full and read-only
 * file systems mid-run, Ctrl-C in the final evaluation, images skipped at test time, an
 * unbounded predict batch, a batch larger than the training set.
 */
const work = tempDir('affectlab-run-faults-');
let synth = '';

function experiment(name: string, root: string, training: string, extra = ''): string {
  return writeTinyExperiment(work, {
    name,
    synth,
    runsRoot: root,
    validationPerClass: 2,
    training,
    extra,
  });
}

/** `affectlab <args>` in a child process, with stderr collected and its exit awaited. */
function start(args: string[]) {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', AFFECTLAB_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** Resolves once `test()` holds (polled), or rejects after `ms`. */
async function until(test: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function onlyRunDir(root: string, name: string): string {
  const ids = existsSync(join(root, name)) ? readdirSync(join(root, name)) : [];
  return ids.length === 1 ? join(root, name, ids[0]) : '';
}

function temporaryFiles(dir: string): string[] {
  return new RunStore(dir).files().filter((f) => /\.tmp|\.partial$/.test(f));
}

before(async () => {
  synth = await smallSyntheticSet();
  await activateBackend();
});

describe('export never destroys the run or a previous output', () => {
  let runDir = '';
  before(async () => {
    runDir = (await tinyTrainedRun(work, 'export-safety')).runDir;
  });

  it('refuses an --out that is, or contains, the run, the runs root, the current directory, $HOME or /', () => {
    const runs = dirname(dirname(runDir));
    const cases: [string, RegExp][] = [
      [runDir, /it is the run folder/],
      [dirname(runDir), /it contains the run folder/],
      [runs, /it contains the run folder/],
      [join(runDir, 'model'), /would replace the run's own model/],
      [join(runDir, 'checkpoints'), /would replace the run's own checkpoints/],
      [homedir(), /it is your home directory/],
      ['/', /it is the root directory/],
    ];
    const files = new RunStore(runDir).files();
    for (const [out, message] of cases) {
      const r = affectlab(['export', '--run', runDir, '--format', 'tfjs', '--out', out, '--force']);
      assert.equal(r.code, 1, `${out}: ${r.stderr}`);
      assert.match(r.stderr, /^affectlab: refusing --out /, out);
      assert.match(r.stderr, message, out);
      assert.doesNotMatch(r.stderr, /internal error/);
    }
    const cwd = tempDir('affectlab-cwd-');
    const here = affectlab(
      ['export', '--run', runDir, '--format', 'tfjs', '--out', '.', '--force'],
      {
        cwd,
      },
    );
    assert.equal(here.code, 1);
    assert.match(here.stderr, /it is the current directory/);
    assert.deepEqual(new RunStore(runDir).files(), files, 'the run is untouched');
  });

  it('an existing file as --out is a user error; --out x.keras writes that file', () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'keep me');
    const r = affectlab(['export', '--run', runDir, '--format', 'tfjs', '--out', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /^affectlab: --out .*a-file is a file, but --format tfjs writes a folder/,
    );
    assert.equal(readFileSync(file, 'utf8'), 'keep me');

    const keras = join(work, 'exported', 'model.keras');
    const k = affectlab(['export', '--run', runDir, '--format', 'keras', '--out', keras]);
    assert.equal(k.code, 0, k.stderr);
    assert.equal(k.stdout.trim(), keras);
    assert.equal(
      readFileSync(keras).subarray(0, 2).toString(),
      'PK',
      'a zip archive, not a folder',
    );
    assert.deepEqual(readdirSync(dirname(keras)), ['model.keras'], 'no temporary sibling left');
    const again = affectlab(['export', '--run', runDir, '--format', 'keras', '--out', keras]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /model\.keras exists \(pass --force to replace it\)/);
  });

  it("an export killed mid-way leaves temporaries the next export removes (not a live one's)", async () => {
    const out = join(work, 'killed-out');
    // a process that has exited: its id names no process now
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    assert.ok(dead && !existsSync(`/proc/${dead}`), 'the child has exited');
    const stale = [`.killed-out.tmp-${dead}`, `.killed-out.old-${dead}`];
    const live = `.killed-out.tmp-${process.ppid}`;
    for (const name of [...stale, live]) {
      mkdirSync(join(work, name));
      writeFileSync(join(work, name, 'half.bin'), 'x');
    }
    await exportRun(testRuntime(), { run: runDir, format: 'tfjs', out });
    assert.deepEqual(
      readdirSync(work)
        .filter((n) => n.includes('killed-out'))
        .sort(),
      [live, 'killed-out'].sort(),
    );
    rmSync(join(work, live), { recursive: true });
  });

  it('a failed export leaves the previous output as it was, and no temporary folder', async () => {
    const runtime = testRuntime();
    const out = join(work, 'export-out');
    await exportRun(runtime, { run: runDir, format: 'tfjs', out });
    const before = readFileSync(join(out, 'model.json'), 'utf8');
    runtime.exportFormats.register({
      name: 'broken',
      description: 'writes a file, then fails',
      async export({ outDir }) {
        writeFileSync(join(outDir, 'half.bin'), 'x');
        throw new Error('the format failed half-way');
      },
    });
    await assert.rejects(
      exportRun(runtime, { run: runDir, format: 'broken', out, force: true }),
      /failed half-way/,
    );
    assert.equal(readFileSync(join(out, 'model.json'), 'utf8'), before);
    assert.ok(!existsSync(join(out, 'half.bin')));
    assert.deepEqual(
      readdirSync(work).filter((n) => n.includes('export-out')),
      ['export-out'],
      'no temporary sibling left',
    );
  });

  it('predict --batch 1e9 is a user error naming the bound', () => {
    const r = affectlab([
      'predict',
      '--run',
      runDir,
      '--batch',
      '1e9',
      join(synth, AFFECTNET_IMAGES_DIR),
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^affectlab: --batch must be an integer from 1 to 4096, got '1e9'/);
  });
});

describe('the final evaluation', () => {
  it("metrics.json's count is the images scored; skipped ones are counted apart; a batch larger than the training set warns once", async () => {
    // a copy of the set whose test images include one that does not decode
    const root = join(work, 'one-corrupt');
    cpSync(synth, root, { recursive: true });
    const lines = readFileSync(join(root, AFFECTNET_FILE_LISTS_DIR, 'validation.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1);
    const first = lines.find((l) => l.split(',')[6] === '1') as string; // a Happy test image
    writeFileSync(join(root, AFFECTNET_IMAGES_DIR, first.split(',')[0]), 'not a jpeg');
    const file = experiment(
      'count-scored',
      join(work, 'runs'),
      `  epochs: 1
  batchSize: 512
  stepsPerEpoch: 1
  execution: eager
  optimizer: { type: sgd, learningRate: 0.01 }`,
    );
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(`root: ${synth}`, `root: ${root}`)
        .replace('limit: { test: 24 }', 'limit: {}'),
    );
    const runtime = testRuntime();
    const result = await runExperiment(runtime, await runtime.resolve(file), {
      cacheDir: join(work, 'cache'),
    });
    assert.equal(result.status, 'FINISHED');
    const metrics = JSON.parse(readFileSync(join(result.runDir, 'metrics.json'), 'utf8')) as {
      count: number;
      skipped: number;
      report: { confusion: number[][] };
    };
    const total = metrics.report.confusion.flat().reduce((a, b) => a + b, 0);
    assert.equal(metrics.count, total, 'count = what the confusion matrix adds up to');
    assert.equal(metrics.skipped, 1);
    const log = readFileSync(join(result.runDir, 'log.txt'), 'utf8');
    assert.equal(
      log.split('training.batchSize 512 is larger than the training split').length - 1,
      1,
      log,
    );
  });

  it('Ctrl-C during the final evaluation stops it, records KILLED and keeps the model; --resume evaluates', async () => {
    // a test split of a few hundred images, not cached, two per batch: seconds to evaluate
    const root = join(work, 'long-test');
    await generateSyntheticAffectNet({
      out: root,
      count: 120,
      validationCount: 400,
      seed: 3,
      size: 64,
    });
    const runs = join(work, 'runs-sigint');
    const file = experiment(
      'sigint-eval',
      runs,
      `  epochs: 1
  batchSize: 2
  stepsPerEpoch: 1
  execution: eager
  optimizer: { type: sgd, learningRate: 0.01 }`,
      'imageCache: { maxGiB: 0 }\n',
    );
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace(`root: ${synth}`, `root: ${root}`)
        .replace('limit: { test: 24 }', 'limit: {}')
        .replace('imageSize: 48', 'imageSize: 96'),
    );
    const run = start(['run', file, '--cache-dir', join(work, 'cache')]);
    const record = () => {
      const dir = onlyRunDir(runs, 'sigint-eval');
      try {
        return dir ? new RunStore(dir).readRecord() : undefined;
      } catch {
        return undefined; // between the write and the rename
      }
    };
    await until(() => record()?.lastCompletedEpoch === 0);
    run.child.kill('SIGINT');
    assert.equal(await run.exited, 130, run.stderr());
    const store = new RunStore(onlyRunDir(runs, 'sigint-eval'));
    const killed = store.readRecord();
    assert.equal(killed.status, 'KILLED');
    const scored = /during the final evaluation \((\d+) of (\d+) test images scored\)/.exec(
      killed.error ?? '',
    );
    assert.ok(scored, killed.error);
    assert.ok(Number(scored[1]) < Number(scored[2]), killed.error);
    assert.ok(store.exists('model/model.json'), 'the trained model is kept');
    assert.ok(!store.exists('metrics.json'));

    const resumed = affectlab(['run', '--resume', store.dir, '--cache-dir', join(work, 'cache')]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(store.readRecord().status, 'FINISHED');
    assert.equal(store.readJson<{ count: number }>('metrics.json').count, Number(scored[2]));
  });
});

/** A small tmpfs of our own (root only); undefined, with the reason, where it cannot be had. */
function mountTmpfs(dir: string, size: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0)
    return `cannot mount a tmpfs here (${r.error?.message ?? r.stderr.trim()}): the disk-full tests need one`;
  return undefined;
}

describe('write failures in the middle of a run', () => {
  const mnt = join(work, 'small-disk');
  let skip: string | undefined;
  before(() => {
    skip = mountTmpfs(mnt, '3m');
  });
  after(() => {
    if (!skip) spawnSync('umount', ['-l', mnt]);
  });

  const training = `  epochs: 8
  batchSize: 8
  stepsPerEpoch: 4
  execution: eager
  optimizer: { type: adam, learningRate: 0.003 }`;

  it('disk full: one user error naming the path, temporary files removed, run.json FAILED, --resume works once space is freed', async (t) => {
    if (skip) return t.skip(skip);
    const runs = join(mnt, 'runs-full');
    const file = experiment('disk-full', runs, training);
    const run = start(['run', file, '--cache-dir', join(work, 'cache')]);
    await until(() => {
      const dir = onlyRunDir(runs, 'disk-full');
      return dir !== '' && new RunStore(dir).readEpochs().length >= 1;
    });
    // fill what is left: the run's next checkpoint finds no room
    const filler = join(mnt, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(4 << 20));
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
    }
    assert.equal(await run.exited, 1, run.stderr());
    const stderr = run.stderr();
    assert.doesNotMatch(stderr, /internal error/);
    const errors = stderr.split('\n').filter((l) => /^affectlab: cannot write /.test(l));
    assert.equal(errors.length, 1, stderr);
    const runDir = onlyRunDir(runs, 'disk-full');
    assert.match(
      errors[0],
      new RegExp(
        `^affectlab: cannot write ${runDir}/\\S+: no space left on the device \\(ENOSPC\\): ` +
          `free some space, then continue with affectlab run --resume ${runDir}$`,
      ),
    );
    const store = new RunStore(runDir);
    assert.equal(store.readRecord().status, 'FAILED');
    assert.match(store.readRecord().error ?? '', /no space left on the device \(ENOSPC\)/);
    assert.deepEqual(temporaryFiles(runDir), []);

    rmSync(filler);
    const resumed = affectlab(['run', '--resume', runDir, '--cache-dir', join(work, 'cache')]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(store.readRecord().status, 'FINISHED');
    assert.deepEqual(
      store.readEpochs().map((e) => e.epoch),
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
  });

  it('read-only mid-run: the error names the path, stderr says run.json could not be written; --resume works once writable', async (t) => {
    if (skip) return t.skip(skip);
    const runs = join(mnt, 'runs-ro');
    const file = experiment('read-only', runs, training);
    const run = start(['run', file, '--cache-dir', join(work, 'cache')]);
    await until(() => {
      const dir = onlyRunDir(runs, 'read-only');
      return dir !== '' && new RunStore(dir).readEpochs().length >= 1;
    });
    const ro = spawnSync('mount', ['-o', 'remount,ro', mnt], { encoding: 'utf8' });
    assert.equal(ro.status, 0, ro.stderr);
    let code: number | null;
    try {
      code = await run.exited;
    } finally {
      spawnSync('mount', ['-o', 'remount,rw', mnt]);
    }
    const stderr = run.stderr();
    const runDir = onlyRunDir(runs, 'read-only');
    assert.equal(code, 1, stderr);
    assert.doesNotMatch(stderr, /internal error/);
    assert.match(
      stderr,
      /^affectlab: cannot write \S+: read-only file system \(EROFS\): make the file system writable, then continue with affectlab run --resume /m,
    );
    assert.match(
      stderr,
      new RegExp(
        `^affectlab: could not record the run's end \\(FAILED\\) in ${runDir}/run\\.json: .*EROFS`,
        'm',
      ),
    );
    const resumed = affectlab(['run', '--resume', runDir, '--cache-dir', join(work, 'cache')]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(new RunStore(runDir).readRecord().status, 'FINISHED');
  });
});
