import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir } from '../../support/helpers.js';
import { raySkipReason, startRayCluster, type RayCluster } from '../../support/ray-cluster.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { readSweepRecord, sweepYaml } from './common.js';

const work = tempDir();
const skip = raySkipReason();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the ray launcher on a real Ray head node (Jobs REST API)', { skip }, () => {
  let cluster: RayCluster | undefined;
  let synth = '';
  before(async () => {
    synth = await smallSyntheticSet();
    cluster = await startRayCluster();
  });
  after(async () => cluster?.stop());

  it('submits one Ray job per combination, polls them to the end and keeps their logs', async () => {
    const c = cluster as RayCluster;
    const file = sweepYaml(
      work,
      'ray-sweep',
      [synth, join(work, 'missing')],
      `{ type: ray, address: '${c.address}', cpus: 1, pollSeconds: 0.5 }`,
    );
    const r = affectlab(['run', file, '--cache-dir', join(work, 'cache')], {
      env: { AFFECTLAB_LOG_LEVEL: 'info' },
    });
    assert.equal(r.code, 1, `${r.stderr}\n${c.log()}`);
    const record = readSweepRecord(work, 'ray-sweep');
    assert.deepEqual(
      record.combinations.map((x) => [x.status, x.launcherState]),
      [
        ['FINISHED', 'SUCCEEDED'],
        ['FAILED', 'FAILED'],
      ],
    );
    // Ray itself knows both jobs, with the sweep in their metadata
    const jobs = (await (await fetch(`${c.address}/api/jobs/`)).json()) as {
      submission_id: string;
      status: string;
      metadata: Record<string, string>;
    }[];
    const ours = jobs.filter((j) => j.metadata.sweep === 'ray-sweep');
    assert.deepEqual(
      ours.map((j) => j.submission_id).sort(),
      record.combinations.map((x) => x.engineId).sort(),
    );
    const log0 = readFileSync(join(work, 'runs', 'sweeps', 'ray-sweep', 'logs', '0.log'), 'utf8');
    assert.match(log0, /run directory: /);
    assert.match(r.stderr, /submitted Ray job affectlab-ray-sweep-0-/);

    // --resume <sweep> submits only the failed combination, as a new Ray job
    const endOf = (runDir: string) =>
      (JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as { endTime: number }).endTime;
    const finishedEnd = endOf(record.combinations[0].runDir);
    symlinkSync(synth, join(work, 'missing'));
    const again = affectlab(['run', '--resume', 'ray-sweep', '--cache-dir', join(work, 'cache')], {
      cwd: work,
      env: { AFFECTLAB_LOG_LEVEL: 'info' },
    });
    assert.equal(again.code, 0, `${again.stderr}\n${c.log()}`);
    assert.doesNotMatch(again.stderr, /submitted Ray job affectlab-ray-sweep-0-/);
    assert.match(again.stderr, /submitted Ray job affectlab-ray-sweep-1-/);
    const resumed = readSweepRecord(work, 'ray-sweep');
    assert.deepEqual(
      resumed.combinations.map((x) => [x.status, x.launcherState]),
      [
        ['FINISHED', 'SUCCEEDED'],
        ['FINISHED', 'SUCCEEDED'],
      ],
    );
    assert.notEqual(resumed.combinations[1].engineId, record.combinations[1].engineId);
    assert.equal(endOf(resumed.combinations[0].runDir), finishedEnd, 'not run again');
  });

  it('Ctrl-C stops the Ray jobs and the runs end KILLED', async () => {
    const c = cluster as RayCluster;
    const file = sweepYaml(
      work,
      'ray-cancel',
      [synth, `${synth}/.`],
      `{ type: ray, address: '${c.address}', cpus: 1, pollSeconds: 0.5 }`,
      500,
    );
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'bin/affectlab.js'), 'run', file, '--cache-dir', join(work, 'cache')],
      { env: { ...process.env, AFFECTLAB_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // wait until both runs are training (their metrics.jsonl has an epoch)
    const runs = join(work, 'runs', 'ray-cancel');
    for (let i = 0; ; i++) {
      const dirs = existsSync(runs) ? readdirSync(runs) : [];
      if (dirs.length === 2 && dirs.every((d) => existsSync(join(runs, d, 'metrics.jsonl')))) break;
      assert.ok(i < 900, `the runs did not start\n${stderr}\n${c.log()}`);
      await sleep(200);
    }
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /stopping Ray job affectlab-ray-cancel-0-/);
    const record = readSweepRecord(work, 'ray-cancel');
    assert.deepEqual(
      record.combinations.map((x) => [x.status, x.launcherState]),
      [
        ['KILLED', 'CANCELLED'],
        ['KILLED', 'CANCELLED'],
      ],
      stderr,
    );
    // Ray agrees: both jobs STOPPED, none left running
    const jobs = (await (await fetch(`${c.address}/api/jobs/`)).json()) as {
      status: string;
      metadata: Record<string, string>;
    }[];
    assert.deepEqual(
      jobs.filter((j) => j.metadata.sweep === 'ray-cancel').map((j) => j.status),
      ['STOPPED', 'STOPPED'],
    );
  });
});
