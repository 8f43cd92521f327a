#!/usr/bin/env node
// npm's postinstall: the native TensorFlow binding, the graph addon, the JPEG addon and (where an
// NVIDIA driver is present) the GPU package, then, in a source checkout only, the TypeScript
// build of src/.
// A published package ships dist/src already built (`prepack`) and no tsconfig.json, so an
// install from the registry needs neither TypeScript nor the tests' sources.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function step(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

step(process.execPath, ['scripts/native-backend.mjs']);
step(process.execPath, ['scripts/graph-addon.mjs']);
step(process.execPath, ['scripts/jpeg-addon.mjs']);
step(process.execPath, ['scripts/gpu-backend.mjs', '--postinstall']);

if (existsSync(path.join(root, 'tsconfig.json')) && existsSync(path.join(root, 'src'))) {
  // a checkout: build the CLI's sources (`npm test` and the bench scripts build the rest)
  const tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc');
  step(process.execPath, [tsc, '-p', 'tsconfig.build.json']);
}
