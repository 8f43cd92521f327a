import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { readSweepRecord, sweepYaml } from './common.js';

const work = tempDir();
let synth = '';

describe('the local launcher', () => {
  before(async () => {
    synth = await smallSyntheticSet();
  });

  it('runs combinations in parallel processes; a failing one does not stop the other; --resume reruns only it; compare --sweep', () => {
    const late = join(work, 'late-data');
    const file = sweepYaml(work, 'local-sweep', [synth, late], '{ type: local, parallel: 2 }');
    const dry = affectlab(['run', file, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /combination: 1 of 2[\s\S]*dataset\.root=/);
    assert.match(dry.stdout, new RegExp(`combination: 2 of 2[\\s\\S]*dataset\\.root=${late}`));
    assert.match(dry.stdout, /launcher: local \(LocalLauncher\)/);
    // --launcher replaces the YAML's launcher, and --set then reaches the new one's options
    const other = affectlab([
      'run',
      file,
      '--dry-run',
      '--launcher',
      'slurm',
      '--set',
      'launcher.partition=gpu',
    ]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /launcher:\n {2}type: slurm\n {2}partition: gpu\n/);
    assert.doesNotMatch(other.stdout, /parallel/);

    const cache = join(work, 'cache');
    const first = affectlab(['run', file, '--cache-dir', cache]);
    assert.equal(first.code, 1, 'a sweep with a failed combination exits 1');
    let record = readSweepRecord(work, 'local-sweep');
    assert.deepEqual(
      record.combinations.map((c) => c.status),
      ['FINISHED', 'FAILED'],
    );
    const pids = record.combinations.map((c) => c.engineId);
    assert.notEqual(pids[0], pids[1]);
    assert.match(
      readFileSync(join(work, 'runs', 'sweeps', 'local-sweep', 'logs', '1.log'), 'utf8'),
      /late-data/,
    );
    assert.match(first.stdout, /rerun the unfinished: affectlab run --resume/);
    const finishedRun = JSON.parse(
      readFileSync(join(record.combinations[0].runDir, 'run.json'), 'utf8'),
    ) as { endTime: number };

    symlinkSync(synth, late);
    const again = affectlab([
      'run',
      '--resume',
      join(work, 'runs', 'sweeps', 'local-sweep'),
      '--cache-dir',
      cache,
    ]);
    assert.equal(again.code, 0, again.stderr);
    record = readSweepRecord(work, 'local-sweep');
    assert.deepEqual(
      record.combinations.map((c) => c.status),
      ['FINISHED', 'FINISHED'],
    );
    // the finished combination was not run again
    const stillRun = JSON.parse(
      readFileSync(join(record.combinations[0].runDir, 'run.json'), 'utf8'),
    ) as { endTime: number };
    assert.equal(stillRun.endTime, finishedRun.endTime);
    assert.ok(record.best, 'a best combination');
    assert.equal(record.best?.metric, 'val_loss');

    const cmp = affectlab([
      'compare',
      '--sweep',
      'local-sweep',
      '--runs',
      join(work, 'runs'),
      '--format',
      'json',
    ]);
    assert.equal(cmp.code, 0, cmp.stderr);
    const table = JSON.parse(cmp.stdout) as {
      rows: {
        params: Record<string, unknown>;
        bestEpoch: number;
        metrics: Record<string, number>;
      }[];
    };
    // only the swept key differs between the two combinations
    assert.deepEqual(Object.keys(table.rows[0].params), ['dataset.root']);
    for (const [i, row] of table.rows.entries()) {
      const c = record.combinations[i];
      assert.equal(row.bestEpoch, (c.best?.epoch ?? -1) + 1);
      assert.equal(row.metrics.val_loss, c.best?.value);
    }
    const text = affectlab(['compare', '--sweep', 'local-sweep', '--runs', join(work, 'runs')]);
    assert.match(text.stdout, /dataset\.root\s+best epoch\s+loss/);
  });
});
