import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir } from '../../support/helpers.js';
import {
  slurmSkipReason,
  startSlurmCluster,
  type SlurmCluster,
} from '../../support/slurm-cluster.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { readSweepRecord, sweepYaml } from './common.js';

const work = tempDir();
const skip = slurmSkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the slurm launcher on a real single-node Slurm cluster', { skip }, () => {
  let cluster: SlurmCluster | undefined;
  let synth = '';
  before(async () => {
    synth = await smallSyntheticSet();
    cluster = await startSlurmCluster();
  });
  after(async () => cluster?.stop());

  it('submits one sbatch --array job with the resources asked for and records each task', () => {
    const c = cluster as SlurmCluster;
    const file = sweepYaml(
      work,
      'slurm-sweep',
      [synth, join(work, 'missing')],
      "{ type: slurm, cpusPerTask: 1, time: '00:10:00', extra: ['--comment=affectlab-test'], pollSeconds: 0.5 }",
    );
    const r = affectlab(['run', file, '--cache-dir', join(work, 'cache')], {
      env: { ...c.env, AFFECTLAB_LOG_LEVEL: 'info' },
    });
    assert.equal(r.code, 1, `${r.stderr}\n${c.log()}`);
    const record = readSweepRecord(work, 'slurm-sweep');
    assert.deepEqual(
      record.combinations.map((x) => x.status),
      ['FINISHED', 'FAILED'],
    );
    const [job0, job1] = record.combinations.map((x) => x.engineId ?? '');
    assert.match(job0, /^\d+_0$/);
    assert.equal(job1.split('_')[0], job0.split('_')[0], 'one array job');
    assert.deepEqual(
      record.combinations.map((x) => x.exitCode),
      [0, 1],
    );
    const dir = join(work, 'runs', 'sweeps', 'slurm-sweep', 'slurm');
    const script = readFileSync(
      join(dir, readdirSync(dir).find((f) => f.endsWith('.sh')) as string),
      'utf8',
    );
    assert.match(script, /^#SBATCH --array=0,1$/m);
    assert.match(script, /^#SBATCH --cpus-per-task=1$/m);
    assert.match(script, /^#SBATCH --time=00:10:00$/m);
    assert.match(script, /^#SBATCH --comment=affectlab-test$/m);
    assert.match(r.stderr, /submitted Slurm array job \d+ \(2 tasks\)/);

    // --resume <sweep> submits only the failed combination, as an array of one task
    const finishedEnd = (
      JSON.parse(readFileSync(join(record.combinations[0].runDir, 'run.json'), 'utf8')) as {
        endTime: number;
      }
    ).endTime;
    symlinkSync(synth, join(work, 'missing'));
    const again = affectlab(
      ['run', '--resume', 'slurm-sweep', '--cache-dir', join(work, 'cache')],
      { cwd: work, env: { ...c.env, AFFECTLAB_LOG_LEVEL: 'info' } },
    );
    assert.equal(again.code, 0, `${again.stderr}\n${c.log()}`);
    assert.match(again.stderr, /submitted Slurm array job \d+ \(1 tasks?\)/);
    const resumed = readSweepRecord(work, 'slurm-sweep');
    assert.deepEqual(
      resumed.combinations.map((x) => x.status),
      ['FINISHED', 'FINISHED'],
    );
    assert.match(resumed.combinations[1].engineId ?? '', /^\d+_1$/);
    assert.notEqual(resumed.combinations[1].engineId?.split('_')[0], job0.split('_')[0]);
    const stillEnd = (
      JSON.parse(readFileSync(join(resumed.combinations[0].runDir, 'run.json'), 'utf8')) as {
        endTime: number;
      }
    ).endTime;
    assert.equal(stillEnd, finishedEnd, 'the finished combination did not run again');
  });

  it('Ctrl-C cancels the array job with scancel and the runs end KILLED', async () => {
    const c = cluster as SlurmCluster;
    const file = sweepYaml(
      work,
      'slurm-cancel',
      [synth, `${synth}/.`],
      '{ type: slurm, pollSeconds: 0.5 }',
      500,
    );
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'bin/affectlab.js'), 'run', file, '--cache-dir', join(work, 'cache')],
      {
        env: { ...process.env, ...c.env, AFFECTLAB_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // wait until both runs are training (their metrics.jsonl has an epoch)
    const runs = join(work, 'runs', 'slurm-cancel');
    for (let i = 0; ; i++) {
      const dirs = existsSync(runs) ? readdirSync(runs) : [];
      if (dirs.length === 2 && dirs.every((d) => existsSync(join(runs, d, 'metrics.jsonl')))) break;
      assert.ok(i < 600, `the runs did not start\n${stderr}\n${c.log()}`);
      await sleep(200);
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /scancel \d+/);
    const queue = execFileSync('squeue', ['-h'], {
      env: { ...process.env, ...c.env },
      encoding: 'utf8',
    });
    assert.equal(queue.trim(), '', 'nothing left in the queue');
    const record = readSweepRecord(work, 'slurm-cancel');
    assert.deepEqual(
      record.combinations.map((x) => x.status),
      ['KILLED', 'KILLED'],
      stderr,
    );
  });
});
