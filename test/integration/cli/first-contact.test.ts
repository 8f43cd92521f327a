import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findSweep } from '../../../src/core/sweep/launch.js';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';

/** TensorFlow's own log lines: absl's notice and its `I0000 00:00:... file.cc:N]` lines. */
const TF_LOG_LINE = /absl::InitializeLog|^[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]/m;

/** The CLI on a pseudo-terminal (util-linux `script`), as a user at a terminal runs it. */
function onTerminal(args: string[]): { code: number; output: string } {
  const line = ['node', join(repoRoot, 'bin/affectlab.js'), ...args]
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.TF_CPP_MIN_LOG_LEVEL;
  delete env.AFFECTLAB_LOG_LEVEL;
  const r = spawnSync('script', ['-qefc', line, '/dev/null'], {
    cwd: repoRoot,
    env,
    encoding: 'utf8',
    timeout: 600_000,
  });
  assert.equal(r.error, undefined, `script(1) is needed for this test: ${String(r.error)}`);
  return { code: r.status ?? -1, output: r.stdout + r.stderr };
}

function tinyExperiment(dir: string, root: string): string {
  const file = join(dir, 'tiny.yaml');
  writeFileSync(
    file,
    `name: tiny
seed: 3
runs: { root: ${join(dir, 'runs')} }
dataset:
  type: affectnet
  root: ${root}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4, limit: { test: 24 } }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training: { epochs: 1, batchSize: 8, stepsPerEpoch: 2 }
reporters: [{ type: console }]
`,
  );
  return file;
}

describe('first contact: output, help, sweeps', () => {
  it('a run on a terminal or in a pipe shows no TensorFlow log line (--verbose shows them) and one end line', async () => {
    const dir = tempDir();
    const file = tinyExperiment(dir, await smallSyntheticSet());
    const quiet = onTerminal(['run', file]);
    assert.equal(quiet.code, 0, quiet.output);
    assert.doesNotMatch(quiet.output, TF_LOG_LINE);
    assert.equal(quiet.output.match(/results in /g)?.length, 1, quiet.output);
    assert.match(quiet.output, /Accuracy/);
    // export loads the model on the native backend: no tfjs banner asking to install it
    const runDir = /results in (\S+)/.exec(quiet.output)?.[1] as string;
    const exported = affectlab(['export', '--run', runDir, '--format', 'keras']);
    assert.equal(exported.code, 0, exported.stderr);
    assert.doesNotMatch(exported.stderr, /running TensorFlow\.js in Node\.js/);
    // in a pipe (CI logs, launchers) too: the graph addon spends absl's once-per-process
    // notices on a trivial graph at load, with fd 2 on /dev/null
    const piped = affectlab(['run', file], {
      env: { TF_CPP_MIN_LOG_LEVEL: undefined, AFFECTLAB_LOG_LEVEL: undefined },
    });
    assert.equal(piped.code, 0, piped.stderr);
    assert.doesNotMatch(piped.stderr + piped.stdout, TF_LOG_LINE);
    assert.match(piped.stdout + piped.stderr, /results in /);
    const verbose = onTerminal(['run', file, '--verbose']);
    assert.equal(verbose.code, 0, verbose.output);
    assert.match(
      verbose.output,
      TF_LOG_LINE,
      'the graph engine logs through absl; the test must see it',
    );
  });

  it('every command has examples in --help, and required options under their own heading', () => {
    const top = affectlab(['--help']);
    const commands = [...top.stdout.matchAll(/^\s{2}([a-z]+)\b/gm)]
      .map((m) => m[1])
      .filter((c) => c !== 'help');
    assert.ok(commands.length >= 14, commands.join(','));
    for (const c of commands) {
      const help = affectlab([c, '--help']).stdout;
      assert.match(help, /\nExamples:\n {2}\$ affectlab /, `${c} --help has no examples`);
    }
    const exportHelp = affectlab(['export', '--help']).stdout;
    const required = /Required options:\n((?: {2}.*\n)+)/.exec(exportHelp);
    assert.ok(required, exportHelp);
    assert.match(required[1], /--run <run>/);
    assert.match(required[1], /--format <name>/);
    assert.match(affectlab(['synth', '--help']).stdout, /Required options:\n {2}--out <dir>/);
  });

  it('a sweep without sweep.group gets a new timestamped id each time; the experiment name finds the newest', () => {
    const dir = tempDir();
    const file = join(dir, 'grid.yaml');
    writeFileSync(
      file,
      `name: grid
runs: { root: ${join(dir, 'runs')} }
dataset: { type: affectnet, root: /nonexistent, classes: report6, imageSize: 48 }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
sweep:
  parameters:
    seed: [1, 2]
`,
    );
    const ids = [1, 2].map(() => {
      const r = affectlab(['run', file, '--dry-run']);
      assert.equal(r.code, 0, r.stderr);
      const m = /^# sweep grid: 2 runs \(grid\).*\n# group: (grid-\d{8}-\d{6}-[0-9a-f]{6})$/m.exec(
        r.stdout,
      );
      assert.ok(m, r.stdout);
      return m[1];
    });
    assert.notEqual(ids[0], ids[1]);
    const sweeps = join(dir, 'runs', 'sweeps');
    for (const id of [...ids].sort()) {
      mkdirSync(join(sweeps, id), { recursive: true });
      writeFileSync(join(sweeps, id, 'sweep.json'), '{}');
    }
    mkdirSync(join(sweeps, 'grid-custom'), { recursive: true });
    writeFileSync(join(sweeps, 'grid-custom', 'sweep.json'), '{}');
    assert.equal(findSweep('grid', join(dir, 'runs')), join(sweeps, [...ids].sort()[1]));
    assert.equal(findSweep('grid-custom', join(dir, 'runs')), join(sweeps, 'grid-custom'));
    assert.equal(findSweep('gri', join(dir, 'runs')), undefined);
  });

  it('the shipped strategy sweep pins no group, so running it twice starts two sweeps', () => {
    const r = affectlab(['config', 'experiments/affectnet-alexnet-strategies.yaml', '--json'], {
      env: { AFFECTNET_ROOT: '/tmp/x' },
    });
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as { sweep: { group?: string; parameters: object } };
    assert.equal(config.sweep.group, undefined);
    assert.ok(config.sweep.parameters);
  });
});
