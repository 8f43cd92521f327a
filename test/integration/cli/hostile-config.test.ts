import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { affectlab, affectlabAsync } from '../../support/cli.js';
import { tempDir, writeFiles } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { spawn, spawnSync } from 'node:child_process';
import { repoRoot } from '../../support/helpers.js';

const EXPERIMENT = `dataset: { type: affectnet, root: /data/none, classes: report6, imageSize: 48 }
architecture: { type: vgg-type, filters: [8, 8, 16, 16], dense: [16, 8] }
`;

/**
 * GitHub's workflow command for an annotation, as documented ("Workflow commands for GitHub
 * Actions"): `::error file={name},line={line},col={col}::{message}` (also `warning`), the
 * message on one line with %, CR and LF escaped.
 */
const GITHUB_ANNOTATION = /^::(error|warning) file=[^,:\r\n]+(,line=\d+)?(,col=\d+)?::[^\r\n]*$/;

describe('hostile config through the CLI', () => {
  it('validate /dev/zero and a FIFO fail at once, naming the file', () => {
    const dir = tempDir();
    const fifo = join(dir, 'pipe.yaml');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const start = Date.now();
    const r = affectlab(['validate', '/dev/zero', fifo], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      /\/dev\/zero: \$: cannot read experiment file: it is a character device/,
    );
    assert.match(r.stdout, /pipe\.yaml: \$: cannot read experiment file: it is a FIFO/);
    assert.ok(Date.now() - start < 30_000);
  });

  it('validate, config, summary and run --dry-run import no plugins: module; --allow-plugins does', () => {
    const dir = tempDir();
    const marker = join(dir, 'IMPORTED');
    writeFiles(dir, {
      'evil.mjs': `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\nexport default [];\n`,
      'base.yaml': 'plugins: [./evil.mjs]\n',
      'e.yaml': `extends: base.yaml\nname: e\n${EXPERIMENT}`,
    });
    const file = join(dir, 'e.yaml');
    for (const args of [
      ['validate', file],
      ['config', file],
      ['summary', file],
      ['run', file, '--dry-run'],
    ]) {
      const r = affectlab(args, { cwd: dir });
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(existsSync(marker), false, `${args[0]} imported the plugin`);
      assert.match(r.stderr, /not imported: \.\/evil\.mjs/, args[0]);
    }
    const allowed = affectlab(['validate', '--allow-plugins', file], { cwd: dir });
    assert.equal(existsSync(marker), true, 'imported with --allow-plugins');
    assert.match(allowed.stdout, /exports no plugin definition/);
  });

  it('validate --format github: annotations in GitHub format, a shared warning once, every file reported', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'base.yaml': `${EXPERIMENT}description: \${env:AFFECTLAB_TEST_UNSET_VARIABLE}\n`,
      'a.yaml': 'extends: base.yaml\nname: a\n',
      'b.yaml': 'extends: base.yaml\nname: b\n',
      'bad.yaml': `name: bad\n${EXPERIMENT}training:\n  epochs: 1e309\n`,
    });
    const files = ['a.yaml', 'missing.yaml', 'b.yaml', 'bad.yaml'];
    const r = affectlab(['validate', '--format', 'github', ...files], { cwd: dir });
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    for (const line of lines) assert.match(line, GITHUB_ANNOTATION);
    const warnings = lines.filter((l) => l.startsWith('::warning'));
    assert.equal(warnings.length, 1, r.stdout);
    assert.match(
      warnings[0],
      /^::warning file=base\.yaml,line=3,col=14::\$\.description: environment variable AFFECTLAB_TEST_UNSET_VARIABLE is not set/,
    );
    assert.ok(lines.includes('::error file=missing.yaml::$: cannot read experiment file (ENOENT)'));
    assert.ok(
      lines.some((l) =>
        /^::error file=bad\.yaml,line=5,col=11::\$\.training\.epochs: must be a finite number/.test(
          l,
        ),
      ),
      r.stdout,
    );

    const json = affectlab(['validate', '--format', 'json', ...files], { cwd: dir });
    assert.equal(json.code, 1);
    const reports = JSON.parse(json.stdout) as {
      file: string;
      ok: boolean;
      errors: { line: number | null; col: number | null; path: string; message: string }[];
      warnings: unknown[];
    }[];
    assert.deepEqual(
      reports.map((x) => [x.file, x.ok, x.warnings.length]),
      [
        ['a.yaml', true, 1],
        ['missing.yaml', false, 0],
        ['b.yaml', true, 1],
        ['bad.yaml', false, 0],
      ],
    );
    assert.ok(
      reports[3].errors.some((e) => e.line === 5 && e.col === 11 && e.path === '$.training.epochs'),
    );

    // text: the shared warning once too
    const text = affectlab(['validate', ...files], { cwd: dir });
    assert.equal(text.stderr.match(/AFFECTLAB_TEST_UNSET_VARIABLE is not set/g)?.length, 1);
    assert.match(text.stdout, /^a\.yaml: ok$/m);
    assert.match(text.stdout, /^b\.yaml: ok$/m);
  });

  it('config --json refuses .inf rather than printing null', () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': `name: e\n${EXPERIMENT}` });
    const r = affectlab(['config', '--json', 'e.yaml', '--set', 'training.epochs=.inf'], {
      cwd: dir,
    });
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stdout, /null/);
    assert.match(
      r.stderr,
      /--set training\.epochs=\.inf: \$\.training\.epochs: must be a finite number/,
    );
  });

  it('a 10^6 grid: validate refuses it; run --dry-run prints the count and the first runs, and stops on SIGINT', async () => {
    const dir = tempDir();
    const values = `[${Array.from({ length: 100 }, (_, i) => i + 1).join(', ')}]`;
    writeFiles(dir, {
      'e.yaml': `name: e\n${EXPERIMENT}sweep:\n  parameters:\n    seed: ${values}\n    training.epochs: ${values}\n    training.batchSize: ${values}\n`,
    });
    const v = affectlab(['validate', 'e.yaml'], { cwd: dir });
    assert.equal(v.code, 1);
    assert.match(v.stdout, /e\.yaml:5:3: \$\.sweep\.parameters: the sweep makes 1,000,000 runs/);
    const dry = affectlab(
      ['run', 'e.yaml', '--dry-run', '--max-combinations', '1000000', '--first', '2'],
      {
        cwd: dir,
      },
    );
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^# sweep e: 1000000 runs \(grid\); the first 2:/);
    assert.match(dry.stdout, /combination: 2 of 1000000/);
    assert.doesNotMatch(dry.stdout, /combination: 3 of/);
    assert.match(dry.stdout, /# \.\.\. and 999998 more/);

    // SIGINT while printing many combinations: stops between two, exit 130
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'bin/affectlab.js'),
        'run',
        'e.yaml',
        '--dry-run',
        '--max-combinations',
        '1000000',
        '--first',
        '1000000',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const code = await new Promise<number | null>((done) => {
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (/combination: 3 of/.test(out) && !child.killed) child.kill('SIGINT');
      });
      child.on('close', (c) => done(c));
    });
    assert.equal(code, 130, err);
    assert.match(err, /SIGINT: dry run stopped after \d+ of 1000000/);
  });
});

describe('a run with credentials in its environment', () => {
  let synth = '';
  before(async () => {
    synth = await smallSyntheticSet();
  });

  it('writes no credential value anywhere; learningRate 0 runs (as in Keras)', async () => {
    const dir = tempDir();
    const secret = 'pw-9f8e7d6c5b4a';
    writeFiles(dir, {
      'e.yaml': `name: leak
description: "token ${secret} pasted by mistake"
tags: { leak: "${secret}" }
runs: { root: ${join(dir, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4, limit: { test: 12 } }
architecture: { type: vgg-type, filters: [8, 8, 16, 16], dense: [16, 8] }
training:
  epochs: 1
  batchSize: 4
  stepsPerEpoch: 2
  optimizer: { type: adam, learningRate: 0 }
`,
    });
    const r = await affectlabAsync(['run', 'e.yaml', '--cache-dir', join(dir, 'cache')], {
      cwd: dir,
      env: { MLFLOW_TRACKING_PASSWORD: secret, MLFLOW_TRACKING_URI: undefined },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(secret));
    const runDir = join(dir, 'runs', 'leak');
    const [id] = readdirSync(runDir);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(join(runDir, id));
    for (const f of ['config.yaml', 'params.json', 'events.jsonl', 'run.json', 'log.txt'])
      assert.ok(files.includes(join(runDir, id, f)), f);
    for (const f of files)
      assert.doesNotMatch(readFileSync(f).toString('latin1'), new RegExp(secret), f);
    assert.match(readFileSync(join(runDir, id, 'config.yaml'), 'utf8'), /leak: "?\*\*\*"?/);
    assert.match(readFileSync(join(runDir, id, 'run.json'), 'utf8'), /"status": "FINISHED"/);
  });
});
