import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { composeExperimentSchema } from '../../../src/core/config/schema.js';
import { PLUGIN_KINDS } from '../../../src/sdk/contracts/plugin.js';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir, testRuntime } from '../../support/helpers.js';

const experiments = readdirSync(join(repoRoot, 'experiments'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join('experiments', f));

describe('affectlab CLI', () => {
  it('validate passes every experiment file', () => {
    const r = affectlab(['validate', ...experiments], {
      env: { AFFECTNET_ROOT: undefined },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const f of experiments) assert.match(r.stdout, new RegExp(`${f}: ok`));
  });

  it('validate reports file:line:col for a broken copy of each experiment and exits 1', () => {
    const dir = tempDir();
    for (const f of experiments) {
      const text = readFileSync(join(repoRoot, f), 'utf8').replace(
        /^name: (.*)$/m,
        'name: $1\nepochz: 3',
      );
      const broken = join(dir, f.split('/').pop() as string);
      // keep relative extends working from the temporary directory
      writeFileSync(
        broken,
        text.replace(
          /^extends: (.*)$/m,
          (_m, p: string) => `extends: ${join(repoRoot, 'experiments', p.trim())}`,
        ),
      );
      // a base outside the experiment's project is read only from a configured root
      const r = affectlab(['validate', broken], {
        env: { AFFECTLAB_CONFIG_ROOTS: join(repoRoot, 'experiments') },
      });
      assert.equal(r.code, 1, `${f}: ${r.stdout}${r.stderr}`);
      assert.ok(r.stdout.startsWith(`${broken}:`), r.stdout);
      assert.match(r.stdout, /:\d+:\d+: \$\.epochz: unknown key 'epochz'/);
    }
  });

  it('validate shows an unknown plugin with the registered names and a did-you-mean', () => {
    const dir = tempDir();
    const file = join(dir, 'e.yaml');
    writeFileSync(
      file,
      `extends: ${join(repoRoot, 'experiments/vgg6-weighted.yaml')}\narchitecture:\n  type: vgg-typ\n`,
    );
    const r = affectlab(['validate', file], {
      env: { AFFECTLAB_CONFIG_ROOTS: join(repoRoot, 'experiments') },
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /e\.yaml:3:9: \$\.architecture\.type: unknown architecture 'vgg-typ'; did you mean 'vgg-type'\? Registered architecture plugins: .*vgg-type/,
    );
  });

  it('malformed YAML is one clear line, no stack trace', () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'name: x\ntraining: {epochs: 3\n');
    const r = affectlab(['run', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:\d+:\d+: \$: invalid YAML/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('plugins --json lists plugins of all four kinds, each with an option schema', () => {
    const r = affectlab(['plugins', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as {
      kind: string;
      type: string;
      optionsSchema: { type: string };
    }[];
    for (const kind of PLUGIN_KINDS)
      assert.ok(
        list.some((p) => p.kind === kind),
        `no ${kind} plugin`,
      );
    for (const p of list) assert.equal(p.optionsSchema.type, 'object', `${p.kind}:${p.type}`);
  });

  it('config prints the resolved experiment with --set overrides and defaults', () => {
    const r = affectlab([
      'config',
      'experiments/vgg6-weighted.yaml',
      '--json',
      '--set',
      'training.epochs=2',
      '--set',
      'dataset.root=/tmp/x',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(r.stdout) as {
      training: { epochs: number; backend: string };
      dataset: { root: string; classes: string };
    };
    assert.equal(config.training.epochs, 2);
    assert.equal(config.training.backend, 'auto');
    assert.equal(config.dataset.root, '/tmp/x');
    assert.equal(config.dataset.classes, 'report6');
  });

  it('config refuses --set paths through __proto__ and list gaps, naming the flag', () => {
    const polluted = affectlab([
      'config',
      'experiments/quickstart.yaml',
      '--set',
      '__proto__.polluted=1',
    ]);
    assert.equal(polluted.code, 1, polluted.stdout + polluted.stderr);
    assert.match(
      polluted.stderr,
      /--set __proto__\.polluted=1: \$: the key '__proto__' is not allowed/,
    );
    assert.doesNotMatch(polluted.stderr, /internal error/);
    const gap = affectlab([
      'config',
      'experiments/quickstart.yaml',
      '--set',
      'reporters.5.type=console',
    ]);
    assert.equal(gap.code, 1, gap.stdout + gap.stderr);
    assert.match(gap.stderr, /--set reporters\.5\.type=console: .*index 5 is past the end/);
    assert.doesNotMatch(gap.stderr, /internal error/);
  });

  it('summary builds the resnet50 experiment (weights: imagenet) without fetching its weights', () => {
    // an empty Keras cache and a mirror nobody listens on: summary must need neither
    const env = {
      AFFECTNET_ROOT: undefined,
      KERAS_HOME: tempDir(),
      AFFECTLAB_WEIGHTS_BASE_URL: 'http://127.0.0.1:9/',
    };
    const file = 'experiments/resnet50-transfer-5class.yaml';
    const summary = affectlab(['summary', file, '--json'], { env });
    assert.equal(summary.code, 0, summary.stderr);
    assert.doesNotMatch(summary.stderr, /does not exist|\$\{env:|cannot fetch|downloading/);
    const parsed = JSON.parse(summary.stdout) as { totalParams: number; outputs: string[] };
    assert.equal(parsed.totalParams, 23_597_957);
    assert.deepEqual(parsed.outputs, ['expression']);
  });

  it('run fails at once, naming the line, when AFFECTNET_ROOT is unset', () => {
    const r = affectlab(['run', 'experiments/vgg6-weighted.yaml'], {
      env: { AFFECTNET_ROOT: undefined },
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /experiments\/base\/affectnet\.yaml:\d+:\d+: \$\.dataset\.root: environment variable AFFECTNET_ROOT is not set/,
    );
    assert.match(r.stderr, /--set dataset\.root=/);
  });

  it('every command has --help', () => {
    const top = affectlab(['--help']);
    assert.equal(top.code, 0);
    const commands = [...top.stdout.matchAll(/^\s{2}([a-z]+)\b/gm)]
      .map((m) => m[1])
      .filter((c) => c !== 'help');
    assert.ok(commands.length >= 8, commands.join(','));
    for (const c of commands) {
      const r = affectlab([c, '--help']);
      assert.equal(r.code, 0, `${c} --help`);
      assert.match(r.stdout, new RegExp(`Usage: affectlab ${c}`));
    }
  });

  it('sync and run --resume say where credentials come from once a run redacted them', () => {
    for (const args of [['sync'], ['run']]) {
      const r = affectlab([...args, '--help']);
      assert.equal(r.code, 0);
      const text = r.stdout.replace(/\s+/g, ' ');
      assert.match(text, /redacted \(http:\/\/\*\*\*@host\)/, args[0]);
      assert.match(text, /MLFLOW_TRACKING_USERNAME \/ MLFLOW_TRACKING_PASSWORD/, args[0]);
    }
  });

  it('the checked-in experiment schema is up to date (npm run schemas)', () => {
    const checkedIn = JSON.parse(
      readFileSync(join(repoRoot, 'schemas/experiment.schema.json'), 'utf8'),
    ) as unknown;
    const current = JSON.parse(
      JSON.stringify(composeExperimentSchema(testRuntime().registry)),
    ) as unknown;
    assert.deepEqual(
      checkedIn,
      current,
      'schemas/experiment.schema.json is stale: run `npm run schemas`',
    );
  });
});
