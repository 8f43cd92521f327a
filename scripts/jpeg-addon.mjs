#!/usr/bin/env node
// Builds affectlab's JPEG addon (native/jpeg/jpeg_scaled.cc: DCT-scaled decode of face crops,
// see src/core/pipeline/jpeg.ts) against the system libjpeg-turbo (Debian/Ubuntu:
// libjpeg62-turbo-dev or libjpeg-turbo8-dev; its jpeglib.h and libjpeg.so). Output:
// native/jpeg/build/affectlab_jpeg.node, loaded in a child process before it counts as built.
//
// Run from postinstall. Without the library it prints what to install and exits 0 (decoding
// then takes sharp's shrink-on-load from 3x); with --require it exits 1 instead (CI).
// Env: AFFECTLAB_SKIP_NATIVE=1 skips; CXX picks the compiler (default c++).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeIncludeDir } from './native-common.mjs';

const TAG = '[affectlab jpeg]';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'native', 'jpeg', 'jpeg_scaled.cc');
const out = path.join(root, 'native', 'jpeg', 'build', 'affectlab_jpeg.node');
const required = process.argv.includes('--require');
const log = (msg) => console.log(`${TAG} ${msg}`);

function fail(message) {
  log(`no JPEG addon: ${message}; JPEGs decode through sharp (shrink-on-load from 3x)`);
  process.exit(required ? 1 : 0);
}

function main() {
  if (process.env.AFFECTLAB_SKIP_NATIVE) return log('AFFECTLAB_SKIP_NATIVE is set: skipped');
  const include = nodeIncludeDir();
  if (!include) return fail('no Node headers (node_api.h); set npm_config_nodedir');
  const cxx = process.env.CXX || 'c++';
  const args = ['-O3', '-std=c++17', '-shared', '-fPIC', `-I${include}`, source];
  args.push('-o', `${out}.build`, '-ljpeg');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const detail = (r.error?.message ?? r.stderr ?? '').trim();
    if (/jpeglib\.h|-ljpeg/.test(detail))
      return fail(
        'libjpeg-turbo development files are missing (apt-get install libjpeg62-turbo-dev)',
      );
    return fail(`${cxx} failed: ${detail.slice(-1200)}`);
  }
  // a new file and a rename: a process that has the old addon loaded keeps its file
  fs.renameSync(`${out}.build`, out);
  const check = spawnSync(
    process.execPath,
    ['-e', `process.stdout.write(String(require(${JSON.stringify(out)}).jpegLibVersion()))`],
    { encoding: 'utf8' },
  );
  if (check.status !== 0) {
    fs.rmSync(out, { force: true });
    return fail(`the addon does not load: ${(check.stderr || '').trim().slice(-600)}`);
  }
  log(`built ${path.relative(root, out)} (libjpeg API ${check.stdout})`);
}

main();
