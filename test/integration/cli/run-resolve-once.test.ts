import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { affectlab } from '../../support/cli.js';
import { tempDir, writeFiles } from '../../support/helpers.js';

/**
 * A dataset plugin module that appends a line to $COUNT_FILE each time it is asked for its task:
 * resolving an experiment does that once (to check the monitored metric names), so the lines
 * count the resolutions of the real CLI.
 */
const COUNTING_PLUGIN = `import { appendFileSync } from 'node:fs';
class CountingDataset {
  describeTask() {
    appendFileSync(process.env.COUNT_FILE, 'resolved\\n');
    const classes = [
      { name: 'a', index: 0, code: 0 },
      { name: 'b', index: 1, code: 1 },
    ];
    return { inputShape: [32, 32, 3], task: { kind: 'classification', classes } };
  }
  async prepare() {
    throw new Error('a dry run prepares no data');
  }
}
export default {
  kind: 'dataset',
  type: 'counting',
  description: 'counts the resolutions of an experiment',
  optionsSchema: { type: 'object', properties: {} },
  implementation: CountingDataset,
  inject: [],
};
`;

const EXPERIMENT = (sweep: boolean) => `name: resolve-once
plugins: [./counting.mjs]
dataset: { type: counting }
architecture: { type: vgg-type }
training: { epochs: 1, batchSize: 4 }
launcher: { type: local, parallel: 3 }
${sweep ? 'sweep:\n  parameters:\n    seed: [1, 2]\n' : ''}`;

describe('run --launcher', () => {
  const dir = tempDir();
  writeFiles(dir, {
    'counting.mjs': COUNTING_PLUGIN,
    'one.yaml': EXPERIMENT(false),
    'sweep.yaml': EXPERIMENT(true),
  });
  const countFile = join(dir, 'count');

  /** The dry run's output and how many times it resolved the experiment. */
  const dryRun = (file: string, ...args: string[]): { stdout: string; resolutions: number } => {
    rmSync(countFile, { force: true });
    const r = affectlab(['run', join(dir, file), '--dry-run', '--allow-plugins', ...args], {
      env: { COUNT_FILE: countFile },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = existsSync(countFile) ? readFileSync(countFile, 'utf8').split('\n') : [];
    return { stdout: r.stdout, resolutions: lines.filter(Boolean).length };
  };

  it('resolves the experiment once, with or without --launcher', () => {
    assert.equal(dryRun('one.yaml').resolutions, 1);
    const local = dryRun('one.yaml', '--launcher', 'local');
    assert.equal(local.resolutions, 1);
    assert.match(local.stdout, /launcher: local \(LocalLauncher\)/);
    const slurm = dryRun('one.yaml', '--launcher', 'slurm');
    assert.equal(slurm.resolutions, 1);
    assert.match(slurm.stdout, /launcher: slurm \(SlurmLauncher\)/);
  });

  it("a sweep: once, plus once per combination shown; the YAML's launcher options stay only for the same launcher", () => {
    const same = dryRun('sweep.yaml', '--first', '1', '--launcher', 'local');
    assert.equal(same.resolutions, 2, 'the sweep once, its first combination once');
    assert.match(same.stdout, /launcher:\n {2}type: local\n {2}parallel: 3\n/);
    const other = dryRun(
      'sweep.yaml',
      '--first',
      '1',
      '--launcher',
      'slurm',
      '--set',
      'launcher.partition=gpu',
    );
    assert.equal(other.resolutions, 2);
    assert.match(other.stdout, /launcher:\n {2}type: slurm\n {2}partition: gpu\n/);
    assert.doesNotMatch(other.stdout, /parallel/);
  });
});
