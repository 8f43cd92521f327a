#!/usr/bin/env node
// Builds affectlab's graph addon (native/graph/tf_graph.cc: the TensorFlow C graph/session API
// for the compiled training step) against the libtensorflow that scripts/native-backend.mjs laid
// out for each native tfjs package (@tensorflow/tfjs-node, and -gpu when installed), so no new
// download. Output: <package>/lib/affectlab-graph/tf_graph.node, with RUNPATH to the package's
// deps/lib. The built file is cached (key: source hash, Node ABI, package version, platform), so a
// later `npm ci` copies it in milliseconds. It is then loaded in a child process and asked for
// TF_Version() before it counts as built.
//
// Run from postinstall after native-backend.mjs. It never exits non-zero: a failure is printed and
// written to node_modules/.affectlab-graph.json, and runs fall back to the eager engine.
// Env: AFFECTLAB_SKIP_NATIVE=1 skips; AFFECTLAB_NATIVE_CACHE is the cache root (as for the
// binding); AFFECTLAB_GRAPH_FORCE=1 rebuilds; CXX picks the compiler (default c++).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeIncludeDir } from './native-common.mjs';

const TAG = '[affectlab graph]';
const started = Date.now();
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(projectRoot, 'native', 'graph', 'tf_graph.cc');
const statusFile = path.join(projectRoot, 'node_modules', '.affectlab-graph.json');
const require = createRequire(path.join(projectRoot, 'package.json'));
const log = (msg) => console.log(`${TAG} ${msg}`);

/** Load the addon in a fresh process (a crash there cannot take this script down). */
function verify(file) {
  const r = spawnSync(
    process.execPath,
    ['-e', `process.stdout.write(require(${JSON.stringify(file)}).tfVersion())`],
    { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } },
  );
  if (r.status !== 0)
    throw new Error(`the addon does not load: ${(r.stderr || '').trim().slice(-600)}`);
  return r.stdout.trim();
}

/**
 * Put `from` at `to` through a new file and a rename: a process that has the addon loaded keeps
 * its (old) file, where writing over it in place crashes that process (SIGSEGV, seen when a
 * reinstall ran next to a benchmark).
 */
function install(from, to) {
  const tmp = `${to}.tmp-${process.pid}`;
  fs.copyFileSync(from, tmp);
  fs.renameSync(tmp, to);
}

function buildFor(pkgName, cacheRoot, sourceHash) {
  let pkgDir;
  try {
    pkgDir = path.dirname(require.resolve(`${pkgName}/package.json`));
  } catch {
    return undefined; // not installed: nothing to build for
  }
  const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  const deps = path.join(pkgDir, 'deps');
  const lib = path.join(deps, 'lib', 'libtensorflow.so.2');
  const header = path.join(deps, 'include', 'tensorflow', 'c', 'c_api.h');
  const out = path.join(pkgDir, 'lib', 'affectlab-graph', 'tf_graph.node');
  const result = { package: pkgName, version, path: out, ok: false };
  if (!fs.existsSync(lib) || !fs.existsSync(header)) {
    result.error = `${pkgName} has no libtensorflow in deps/ (the native backend was not laid out; see node_modules/.affectlab-native.json)`;
    return result;
  }
  const key = createHash('sha256')
    .update(
      [sourceHash, pkgName, version, process.versions.modules, process.platform, process.arch].join(
        '\n',
      ),
    )
    .digest('hex')
    .slice(0, 16);
  const cached = path.join(cacheRoot, 'graph', key, 'tf_graph.node');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  if (!process.env.AFFECTLAB_GRAPH_FORCE && fs.existsSync(cached)) {
    install(cached, out);
    try {
      result.tensorflow = verify(out);
      result.ok = true;
      result.route = 'cache';
      log(`${pkgName}: graph addon from the cache (TensorFlow ${result.tensorflow})`);
      return result;
    } catch (error) {
      log(`${pkgName}: cached addon did not load (${error.message}); rebuilding`);
    }
  }
  const include = nodeIncludeDir();
  if (!include) {
    result.error =
      'no Node headers (node_api.h) found; set npm_config_nodedir to the Node prefix holding include/node';
    return result;
  }
  const cxx = process.env.CXX || 'c++';
  const args = [
    '-O2',
    '-std=c++17',
    '-shared',
    '-fPIC',
    '-DNODE_GYP_MODULE_NAME=tf_graph',
    `-I${include}`,
    `-I${path.join(deps, 'include')}`,
    source,
    '-o',
    `${out}.build`,
    `-L${path.join(deps, 'lib')}`,
    '-l:libtensorflow.so.2',
    // lib/affectlab-graph/ -> ../../deps/lib, wherever the package ends up
    '-Wl,-rpath,$ORIGIN/../../deps/lib',
  ];
  log(`${pkgName}: compiling the graph addon (${cxx}, about 10 s) ...`);
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    result.error = `${cxx} failed: ${(r.error?.message ?? r.stderr ?? '').trim().slice(-1200)}`;
    result.command = [cxx, ...args].join(' ');
    return result;
  }
  install(`${out}.build`, out);
  fs.rmSync(`${out}.build`, { force: true });
  result.tensorflow = verify(out);
  fs.mkdirSync(path.dirname(cached), { recursive: true });
  install(out, cached);
  result.ok = true;
  result.route = 'built';
  log(`${pkgName}: graph addon built and loaded (TensorFlow ${result.tensorflow})`);
  return result;
}

function main() {
  if (process.env.AFFECTLAB_SKIP_NATIVE) {
    log('AFFECTLAB_SKIP_NATIVE is set: skipped');
    return { ok: false, skipped: true, builds: [] };
  }
  const cacheRoot = path.resolve(
    process.env.AFFECTLAB_NATIVE_CACHE || path.join(os.homedir(), '.cache', 'affectlab', 'native'),
  );
  const sourceHash = createHash('sha256').update(fs.readFileSync(source)).digest('hex');
  const builds = [];
  for (const pkg of ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
    try {
      const b = buildFor(pkg, cacheRoot, sourceHash);
      if (b) builds.push(b);
    } catch (error) {
      builds.push({ package: pkg, ok: false, error: error.message });
    }
  }
  for (const b of builds.filter((x) => !x.ok))
    log(`${b.package}: no graph addon (${b.error}); runs use the eager engine`);
  return { ok: builds.some((b) => b.ok), builds };
}

let status;
try {
  status = main();
} catch (error) {
  status = { ok: false, error: error.message, builds: [] };
  log(`failed: ${error.message}`);
}
try {
  fs.mkdirSync(path.dirname(statusFile), { recursive: true });
  fs.writeFileSync(
    statusFile,
    JSON.stringify(
      { ...status, seconds: (Date.now() - started) / 1000, builtAt: new Date().toISOString() },
      null,
      2,
    ) + '\n',
  );
} catch (error) {
  log(`could not write ${statusFile}: ${error.message}`);
}
