#!/usr/bin/env node
// Gives @tensorflow/tfjs-node a working native binding where its own install script cannot
// download libtensorflow (only the npm registry and PyPI are reachable).
//
// Route: the PyPI wheel tensorflow-cpu (pinned below) ships libtensorflow_cc.so.2 and
// libtensorflow_framework.so.2, which export the TF_* / TFE_* C API that tfjs-node's binding
// calls, plus the C headers. We download the wheel with pip (no Python import), extract just
// those files, lay them out as node_modules/@tensorflow/tfjs-node/deps/{lib,include}, build the
// binding from source with node-pre-gyp/node-gyp (offline, Node headers from nodedir), then load
// it in a child process and run an op. Extracted libs and the built .node are cached, keyed by
// versions, so a later `npm ci` re-lays them in seconds.
//
// Run from the project's postinstall. It never exits non-zero: failures are printed and written
// to node_modules/.affectlab-native.json for `affectlab doctor`.
//
// Env: AFFECTLAB_SKIP_NATIVE=1 skips everything; AFFECTLAB_NATIVE_CACHE overrides the cache dir
// (default ~/.cache/affectlab/native); AFFECTLAB_TF_WHEEL=/path/to/tensorflow_cpu-*.whl uses a
// local wheel instead of pip; AFFECTLAB_PYTHON picks the Python interpreter (default python3);
// AFFECTLAB_NATIVE_FORCE=1 re-lays and rebuilds even when the binding already loads.
// See docs/native-backend.md.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  StepError,
  TENSORFLOW_VERSION,
  TF_LIBRARIES,
  buildBinding,
  extractWheels,
  failureText,
  findPython,
  layOutDeps,
  napiBuildVersion,
  nativeCacheRoot,
  printFailure,
  run,
  statusWriter,
} from './native-common.mjs';

const TF_WHEEL_VERSION = TENSORFLOW_VERSION;
const TF_WHEEL_SPEC = `tensorflow-cpu==${TF_WHEEL_VERSION}`;
/** tfjs-node versions this route was verified with; others are attempted with a warning. */
const VERIFIED_TFJS_NODE = ['4.22.0'];
const LAYOUT_MARKER = '.affectlab-native.json';
const TAG = '[affectlab native]';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const statusFile = path.join(projectRoot, 'node_modules', '.affectlab-native.json');

const log = (msg) => console.log(`${TAG} ${msg}`);

const writeStatus = statusWriter(
  statusFile,
  { ok: false, route: 'none', tensorflowWheel: TF_WHEEL_SPEC, tfjsNode: null },
  log,
);

/** Loads tfjs-node in a child process and runs a matMul; returns {ok, tfVersion, output}. */
function probeBinding() {
  const code = `
    const tf = require('@tensorflow/tfjs-node');
    if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend());
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const v = Array.from(a.matMul(a).dataSync());
    if (v.join(',') !== '7,10,15,22') throw new Error('matMul gave ' + v);
    const b = tf.backend().binding;
    console.log('AFFECTLAB_PROBE ' + JSON.stringify({ tf: b.TF_Version, tfjsNode: tf.version['tfjs-node'] }));
  `;
  const res = run(process.execPath, ['-e', code], {
    cwd: projectRoot,
    timeout: 180_000,
    env: { TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  const m = /AFFECTLAB_PROBE (.*)/.exec(res.output);
  if (res.ok && m) return { ok: true, ...JSON.parse(m[1]), output: res.output };
  return { ok: false, output: res.output || String(res.error ?? ''), command: res.command };
}

function findWheel(dir) {
  if (!fs.existsSync(dir)) return null;
  const name = fs
    .readdirSync(dir)
    .find((f) => f.startsWith(`tensorflow_cpu-${TF_WHEEL_VERSION}-`) && f.endsWith('.whl'));
  return name ? path.join(dir, name) : null;
}

function downloadWheel(python, wheelsDir) {
  fs.mkdirSync(wheelsDir, { recursive: true });
  // The .so files do not link libpython, so any CPython tag works; pinning the tag makes the
  // download independent of the local Python version.
  const args = [
    '-m',
    'pip',
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--no-cache-dir',
    '--python-version',
    '3.11',
    '--implementation',
    'cp',
    '--abi',
    'cp311',
    '--platform',
    'manylinux2014_x86_64',
    TF_WHEEL_SPEC,
    '-d',
    wheelsDir,
  ];
  log(`downloading ${TF_WHEEL_SPEC} (~230 MB) with pip ...`);
  const r = run(python, args, { timeout: 1_800_000 });
  const wheel = findWheel(wheelsDir);
  if (!r.ok || !wheel) {
    throw new StepError('pip download', `pip could not download ${TF_WHEEL_SPEC}`, {
      command: r.command,
      output: r.output || String(r.error ?? ''),
      fix:
        'Check that PyPI is reachable (pip config list; proxies), or download the wheel elsewhere ' +
        `(pip download --no-deps --only-binary=:all: ${TF_WHEEL_SPEC}) and point ` +
        'AFFECTLAB_TF_WHEEL=/path/to/that.whl at it, then re-run: node scripts/native-backend.mjs',
    });
  }
  return wheel;
}

function extractWheel(python, wheel, dest) {
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  log(`extracting ${TF_LIBRARIES.join(', ')} and C headers ...`);
  let r;
  if (python) {
    r = extractWheels(python, tmp, { tfWheel: wheel, libDir: 'lib', includeDir: 'include' });
  } else {
    r = run(
      'unzip',
      [
        '-q',
        '-o',
        wheel,
        ...TF_LIBRARIES.map((l) => `tensorflow/${l}`),
        'tensorflow/include/tensorflow/c/*',
        'tensorflow/include/tensorflow/core/platform/ctstring*',
        'tensorflow/include/tsl/platform/ctstring*',
        'tensorflow/include/xla/tsl/c/*',
        '-d',
        `${tmp}/raw`,
      ],
      { timeout: 600_000 },
    );
    if (r.ok) {
      fs.mkdirSync(path.join(tmp, 'lib'));
      for (const l of TF_LIBRARIES) {
        fs.renameSync(path.join(tmp, 'raw/tensorflow', l), path.join(tmp, 'lib', l));
      }
      fs.renameSync(path.join(tmp, 'raw/tensorflow/include'), path.join(tmp, 'include'));
      fs.rmSync(path.join(tmp, 'raw'), { recursive: true, force: true });
    }
  }
  if (!r.ok) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new StepError('extract', `could not extract ${path.basename(wheel)}`, {
      command: r.command.slice(0, 300),
      output: r.output || String(r.error ?? ''),
      fix: 'The wheel may be truncated: delete it and re-run, or check free disk space (~1 GB needed).',
    });
  }
  fs.rmSync(dest, { recursive: true, force: true });
  fs.renameSync(tmp, dest);
}

/** Why the native backend is not available, and how to retry. */
function printNativeFailure(err) {
  printFailure(err, {
    tag: TAG,
    head: [
      '',
      `${TAG} ------------------------------------------------------------------`,
      `${TAG} The native TensorFlow backend (@tensorflow/tfjs-node) is NOT available.`,
      `${TAG} Training still works on the pure-JS 'cpu' backend, ~100x slower.`,
      `${TAG} Failed step: ${err.step ?? 'unexpected'}: ${err.message}`,
    ],
    outputHeading: 'Output (last lines):',
    footer: [
      `${TAG} Retry with: node scripts/native-backend.mjs   (AFFECTLAB_SKIP_NATIVE=1 skips this step)`,
      `${TAG} Details: docs/native-backend.md; status written to node_modules/.affectlab-native.json`,
      `${TAG} ------------------------------------------------------------------`,
      '',
    ],
  });
}

/** libtensorflow and its C headers under `extracted`: from the cache, else from the wheel. */
function ensureExtracted(cacheRoot, extracted, steps) {
  const extractedOk = () =>
    [...TF_LIBRARIES.map((l) => `lib/${l}`), 'include/tensorflow/c/eager/c_api.h'].every((f) =>
      fs.existsSync(path.join(extracted, f)),
    );
  if (extractedOk()) {
    steps.push('cached-libs');
    return;
  }
  const python = findPython();
  let wheel = process.env.AFFECTLAB_TF_WHEEL || findWheel(path.join(cacheRoot, 'wheels'));
  if (!wheel) {
    if (!python) {
      throw new StepError(
        'python',
        'python3 (with pip) is needed to download the tensorflow-cpu wheel',
        {
          fix: 'apt-get install -y python3 python3-pip, or set AFFECTLAB_PYTHON, or set AFFECTLAB_TF_WHEEL to a downloaded wheel.',
        },
      );
    }
    wheel = downloadWheel(python, path.join(cacheRoot, 'wheels'));
    steps.push('pip-download');
  }
  extractWheel(python, wheel, extracted);
  steps.push('extract');
  // The extracted files are what we keep; drop the downloaded wheel (~230 MB) unless user-provided.
  if (!process.env.AFFECTLAB_TF_WHEEL && process.env.AFFECTLAB_NATIVE_KEEP_WHEEL !== '1') {
    fs.rmSync(wheel, { force: true });
  }
}

/**
 * The binding in tfjs-node's lib/: the cached .node (relocatable: RUNPATH is
 * $ORIGIN/../../deps/lib), else built; then verified in a child process, a stale cached binding
 * getting one rebuild. A binding built here is cached. Returns the probe.
 */
function installBinding({ tfjsNodeDir, napi, bindingCache, cacheRoot, steps }) {
  const bindingDest = path.join(tfjsNodeDir, `lib/napi-v${napi}/tfjs_binding.node`);
  let usedCachedBinding = false;
  if (fs.existsSync(bindingCache)) {
    fs.mkdirSync(path.dirname(bindingDest), { recursive: true });
    fs.copyFileSync(bindingCache, bindingDest);
    usedCachedBinding = true;
  } else {
    buildBinding(tfjsNodeDir, napi, log);
    steps.push('build');
  }

  let probe = probeBinding();
  if (!probe.ok && usedCachedBinding) {
    log('cached binding did not load; rebuilding ...');
    fs.rmSync(bindingCache, { force: true });
    buildBinding(tfjsNodeDir, napi, log);
    steps.push('rebuild');
    usedCachedBinding = false;
    probe = probeBinding();
  }
  if (!probe.ok) {
    throw new StepError('verify', 'the built binding does not load or compute correctly', {
      command: probe.command
        ? `${process.execPath} -e "require('@tensorflow/tfjs-node') ..."`
        : undefined,
      output: probe.output,
      fix: `Inspect with: ldd ${bindingDest}; remove the cache ${cacheRoot} and re-run node scripts/native-backend.mjs`,
    });
  }
  if (usedCachedBinding) steps.push('cached-binding');
  else {
    try {
      fs.mkdirSync(path.dirname(bindingCache), { recursive: true });
      fs.copyFileSync(bindingDest, `${bindingCache}.tmp`);
      fs.renameSync(`${bindingCache}.tmp`, bindingCache);
    } catch (err) {
      log(`note: could not cache the binding: ${err.message}`);
    }
  }

  return probe;
}

function main() {
  if (process.env.AFFECTLAB_SKIP_NATIVE === '1') {
    log('AFFECTLAB_SKIP_NATIVE=1: skipping the native backend setup.');
    writeStatus({ ok: false, route: 'skipped', error: 'skipped by AFFECTLAB_SKIP_NATIVE=1' });
    return;
  }

  const req = createRequire(path.join(projectRoot, 'package.json'));
  let tfjsNodeDir;
  try {
    tfjsNodeDir = path.dirname(req.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    log('@tensorflow/tfjs-node is not installed; nothing to do.');
    writeStatus({ ok: false, route: 'absent', error: '@tensorflow/tfjs-node is not installed' });
    return;
  }
  const tfjsNodePkg = JSON.parse(fs.readFileSync(path.join(tfjsNodeDir, 'package.json'), 'utf8'));
  const tfjsNode = tfjsNodePkg.version;
  const marker = path.join(tfjsNodeDir, 'deps', LAYOUT_MARKER);

  // Fast path: the binding already loads (tfjs-node's own download worked, or we laid it out before).
  if (process.env.AFFECTLAB_NATIVE_FORCE !== '1') {
    const probe = probeBinding();
    if (probe.ok) {
      const ours = fs.existsSync(marker);
      log(`@tensorflow/tfjs-node ${tfjsNode} loads (libtensorflow ${probe.tf}); nothing to do.`);
      writeStatus({
        ok: true,
        route: ours ? 'wheel-existing' : 'preinstalled',
        tensorflowWheel: ours ? TF_WHEEL_SPEC : null,
        tfjsNode,
        libtensorflow: probe.tf,
      });
      return;
    }
  }

  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new StepError(
      'platform',
      `the wheel route supports linux x64 only (this is ${process.platform} ${process.arch})`,
      {
        fix: "Let tfjs-node's own install download libtensorflow (allow its install script), or use the 'cpu' backend.",
      },
    );
  }
  if (!VERIFIED_TFJS_NODE.includes(tfjsNode)) {
    log(
      `warning: route verified with tfjs-node ${VERIFIED_TFJS_NODE.join(', ')}, found ${tfjsNode}; trying anyway.`,
    );
  }

  const cacheRoot = nativeCacheRoot();
  const napi = napiBuildVersion(tfjsNodePkg);
  const extracted = path.join(cacheRoot, `tensorflow-cpu-${TF_WHEEL_VERSION}-linux-x64`);
  const bindingCache = path.join(
    cacheRoot,
    'binding',
    `tfjs-node-${tfjsNode}-tf-${TF_WHEEL_VERSION}-linux-x64-napi-v${napi}`,
    'tfjs_binding.node',
  );
  const steps = [];

  // 1. Extracted libtensorflow + headers (from cache, else from the wheel).
  ensureExtracted(cacheRoot, extracted, steps);

  // 2. deps/ layout inside tfjs-node.
  layOutDeps(path.join(extracted, 'lib'), path.join(extracted, 'include'), tfjsNodeDir);

  // 3. and 4. The binding, verified.
  const probe = installBinding({ tfjsNodeDir, napi, bindingCache, cacheRoot, steps });

  const info = {
    route: 'wheel',
    tensorflowWheel: TF_WHEEL_SPEC,
    tfjsNode,
    napi,
    steps,
    cache: cacheRoot,
  };
  fs.writeFileSync(marker, JSON.stringify(info, null, 2) + '\n');
  const status = writeStatus({ ok: true, ...info, libtensorflow: probe.tf });
  log(
    `native backend ready: tfjs-node ${tfjsNode} on libtensorflow ${probe.tf} from ${TF_WHEEL_SPEC} ` +
      `(${steps.join(', ')}; ${status.seconds}s).`,
  );
}

try {
  main();
} catch (err) {
  printNativeFailure(err);
  let tfjsNode = null;
  try {
    tfjsNode = createRequire(path.join(projectRoot, 'package.json'))(
      '@tensorflow/tfjs-node/package.json',
    ).version;
  } catch {
    /* not installed */
  }
  writeStatus({
    ok: false,
    route: 'wheel',
    tfjsNode,
    error: failureText(err),
    command: err.command,
  });
}
process.exitCode = 0;
