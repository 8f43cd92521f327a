import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../../support/helpers.js';

/**
 * The published package, as a user gets it: `npm pack` (prepack builds dist/src), then
 * `npm install <tarball>` into an empty project and the CLI run from there. This installs the
 * dependencies from the registry (or npm's cache) and runs affectlab's postinstall, which lays
 * the native TensorFlow binding from the cached tensorflow-cpu wheel.
 */
const work = mkdtempSync(join(tmpdir(), 'affectlab-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: 900_000 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack, then npm install <tarball> in an empty project, then npx affectlab validate', () => {
  npm(['pack', '--pack-destination', work], repoRoot);
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote no tarball');
  const project = join(work, 'consumer');
  mkdirSync(project);
  // what the install guide tells users to put in package.json: tfjs-node's own download of
  // libtensorflow is replaced by affectlab's postinstall (only npm and PyPI are reachable)
  const pkg = {
    name: 'consumer',
    version: '1.0.0',
    private: true,
    allowScripts: {
      '@tensorflow/tfjs-node': false,
      'core-js': false,
      sharp: true,
      [`file:${join(work, tarball)}`]: true,
    },
  };
  writeFileSync(join(project, 'package.json'), JSON.stringify(pkg, null, 2));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball)], project);

  copyFileSync(join(repoRoot, 'experiments', 'quickstart.yaml'), join(project, 'quickstart.yaml'));
  const r = spawnSync('npx', ['--no-install', 'affectlab', 'validate', 'quickstart.yaml'], {
    cwd: project,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `validate failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /quickstart\.yaml: ok/);

  // a plugin module of the project imports one thing, affectlab (the SDK), from the package
  mkdirSync(join(project, 'plugins'));
  mkdirSync(join(project, 'experiments'));
  copyFileSync(
    join(repoRoot, 'examples', 'plugins', 'tiny-cnn.mjs'),
    join(project, 'plugins', 'tiny-cnn.mjs'),
  );
  copyFileSync(
    join(repoRoot, 'examples', 'experiments', 'tiny-cnn.yaml'),
    join(project, 'experiments', 'tiny-cnn.yaml'),
  );
  const plugin = spawnSync(
    'npx',
    ['--no-install', 'affectlab', 'validate', '--allow-plugins', 'experiments/tiny-cnn.yaml'],
    {
      cwd: project,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, AFFECTNET_ROOT: project },
    },
  );
  assert.equal(
    plugin.status,
    0,
    `validate --allow-plugins failed:\n${plugin.stdout}\n${plugin.stderr}`,
  );
  assert.match(plugin.stdout, /tiny-cnn\.yaml: ok\n/);
  assert.doesNotMatch(plugin.stdout + plugin.stderr, /not checked|unknown architecture/);

  const doctor = spawnSync('npx', ['--no-install', 'affectlab', 'doctor', '--json'], {
    cwd: project,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(doctor.status, 0, doctor.stderr);
  const report = JSON.parse(doctor.stdout) as { active?: { name: string } };
  assert.equal(report.active?.name, 'tensorflow', 'the installed package runs on libtensorflow');
});
