#!/usr/bin/env node
// Opt-in GPU backend (issue 20): @tensorflow/tfjs-node-gpu on the CUDA build of libtensorflow
// from the PyPI wheel tensorflow (the release pinned in package.json), with the CUDA 12 libraries of its `and-cuda` extra
// (scripts/gpu-requirements.txt), all from the registries npm and pip already use.
//
// Run by `affectlab setup gpu`, and by the postinstall hook (`--postinstall`) when
// AFFECTLAB_GPU=1 or when this project was set up before (so a later `npm ci`, which wipes
// node_modules, re-lays it from the cache in seconds); AFFECTLAB_GPU=0 turns that off.
//
// Cache: <native cache>/gpu/<key>/ (default ~/.cache/affectlab/native/gpu/<key>/):
//   tensorflow/  libtensorflow_cc.so.2, libtensorflow_framework.so.2, include/ (C headers)
//   nvidia/      <lib>/lib/*.so* of each CUDA wheel, cuda_nvcc/bin/ptxas, cuda_nvcc/nvvm/libdevice
//   package/     the npm tarball of @tensorflow/tfjs-node-gpu (fetched with `npm pack`)
//   binding/     the built tfjs_binding.node
// tensorflow/ and nvidia/ sit side by side as in site-packages, which is what the libraries'
// RUNPATH ($ORIGIN/../nvidia/<lib>/lib) expects: no LD_LIBRARY_PATH is needed. The package is
// copied into node_modules/@tensorflow/tfjs-node-gpu with deps/lib/* symlinked to tensorflow/
// and deps/nvidia symlinked to nvidia/, so $ORIGIN resolves the same through either path.
//
// It never exits non-zero from the postinstall hook; `affectlab setup gpu` gets exit 1 on
// failure. The outcome is written to node_modules/.affectlab-gpu.json for `affectlab doctor`.
// Env: AFFECTLAB_GPU_WHEELS=DIR takes the wheels from DIR (no download); AFFECTLAB_GPU_FORCE=1
// re-extracts and rebuilds; AFFECTLAB_NATIVE_CACHE, AFFECTLAB_PYTHON as for native-backend.mjs.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  StepError,
  TENSORFLOW_VERSION,
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

const TF_VERSION = TENSORFLOW_VERSION;
const TF_WHEEL_SPEC = `tensorflow==${TF_VERSION}`;
const PACKAGE = '@tensorflow/tfjs-node-gpu';
const PACKAGE_VERSION = '4.22.0';
const TAG = '[affectlab gpu]';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const requirementsFile = path.join(projectRoot, 'scripts', 'gpu-requirements.txt');
const statusFile = path.join(projectRoot, 'node_modules', '.affectlab-gpu.json');
const packageDir = path.join(projectRoot, 'node_modules', '@tensorflow', 'tfjs-node-gpu');
const log = (msg) => console.log(`${TAG} ${msg}`);

/** `name==version` lines of scripts/gpu-requirements.txt. */
function cudaPins() {
  return fs
    .readFileSync(requirementsFile, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/** Cache key: versions and the CUDA pins, so a changed pin gets a fresh directory. */
function cacheKey(pins) {
  const hash = createHash('sha256')
    .update([TF_WHEEL_SPEC, PACKAGE_VERSION, ...pins].join('\n'))
    .digest('hex')
    .slice(0, 10);
  return `tensorflow-${TF_VERSION}-cuda12-linux-x64-${hash}`;
}

/** Wheel file name prefix pip uses for a `name==version` pin (dashes become underscores). */
function wheelPrefix(pin) {
  const [name, version] = pin.split('==');
  return `${name.replace(/-/g, '_')}-${version}-`;
}

function findWheels(dir, pins) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const found = {};
  for (const pin of pins) {
    const f = files.find((n) => n.startsWith(wheelPrefix(pin)) && n.endsWith('.whl'));
    if (f) found[pin] = path.join(dir, f);
  }
  return found;
}

function downloadWheels(python, dir, pins) {
  fs.mkdirSync(dir, { recursive: true });
  const args = [
    '-m',
    'pip',
    'download',
    '--no-deps',
    '--only-binary=:all:',
    '--no-cache-dir',
    // the .so files do not link libpython: any CPython tag works, pinned for reproducibility
    '--python-version',
    '3.11',
    '--implementation',
    'cp',
    '--abi',
    'cp311',
    '--platform',
    'manylinux2014_x86_64',
    '--platform',
    'manylinux_2_17_x86_64',
    '--platform',
    'manylinux_2_27_x86_64',
    '-d',
    dir,
    ...pins,
  ];
  log(
    `downloading ${pins.length} wheels with pip (about 2.4 GB: ${TF_WHEEL_SPEC} and CUDA 12) ...`,
  );
  const r = run(python, args, {
    timeout: 3_600_000, // pip's progress goes to the terminal: 2.4 GB takes minutes
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  const found = findWheels(dir, pins);
  const missing = pins.filter((p) => !found[p]);
  if (!r.ok || missing.length) {
    throw new StepError(
      'pip download',
      `pip could not download ${missing.join(', ') || 'the wheels'}`,
      {
        command: r.command,
        output: r.output || String(r.error ?? ''),
        fix:
          'Check that PyPI is reachable (pip config list; proxies), or download them elsewhere with ' +
          `pip download --no-deps --only-binary=:all: ${TF_WHEEL_SPEC} -r scripts/gpu-requirements.txt -d DIR ` +
          'and re-run with AFFECTLAB_GPU_WHEELS=DIR npx affectlab setup gpu',
      },
    );
  }
  return found;
}

function dirBytes(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

function extractAll(python, wheels, tfPin, dest) {
  const tmp = `${dest}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const cuda = Object.entries(wheels)
    .filter(([pin]) => pin !== tfPin)
    .map(([, f]) => f);
  log(`extracting libtensorflow (CUDA build), headers and ${cuda.length} CUDA wheels ...`);
  // libtensorflow beside nvidia/, as in site-packages (the libraries' RUNPATH expects it)
  const r = extractWheels(python, tmp, {
    tfWheel: wheels[tfPin],
    cudaWheels: cuda,
    libDir: 'tensorflow',
    includeDir: 'tensorflow/include',
    timeout: 1_800_000,
  });
  if (!r.ok) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new StepError('extract', 'could not extract the wheels', {
      output: r.output || String(r.error ?? ''),
      fix: 'A wheel may be truncated: delete the wheels and re-run, or free disk space (about 6 GB needed while extracting).',
    });
  }
  for (const sub of ['tensorflow', 'nvidia']) {
    fs.rmSync(path.join(dest, sub), { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    fs.renameSync(path.join(tmp, sub), path.join(dest, sub));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

/** The package from the npm registry, once, into the cache (`npm pack`, the ordinary client). */
function fetchPackage(cacheDir) {
  const dest = path.join(cacheDir, 'package');
  if (fs.existsSync(path.join(dest, 'package.json'))) return { dest, fetched: false };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'affectlab-gpu-pack-'));
  log(`fetching ${PACKAGE}@${PACKAGE_VERSION} with npm pack ...`);
  const r = run(
    'npm',
    ['pack', `${PACKAGE}@${PACKAGE_VERSION}`, '--json', '--pack-destination', tmp],
    {
      cwd: tmp,
      timeout: 600_000,
    },
  );
  const tgz = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (!r.ok || !tgz) {
    throw new StepError('npm pack', `npm could not fetch ${PACKAGE}@${PACKAGE_VERSION}`, {
      command: r.command,
      output: r.output,
      fix: 'Check that the npm registry is reachable (npm config get registry; proxies), then re-run npx affectlab setup gpu',
    });
  }
  const x = run('tar', ['-xzf', path.join(tmp, tgz), '-C', tmp]);
  if (!x.ok) throw new StepError('npm pack', `could not unpack ${tgz}`, { output: x.output });
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.renameSync(path.join(tmp, 'package'), dest);
  fs.rmSync(tmp, { recursive: true, force: true });
  return { dest, fetched: true };
}

/**
 * Copies the package into node_modules. Its dependencies are tfjs-node's (same versions), which
 * the project already has at the top level; @tensorflow/tfjs must be the project's own copy or
 * the backend would register with a second tfjs engine.
 */
function installPackage(pristine) {
  const pkg = JSON.parse(fs.readFileSync(path.join(pristine, 'package.json'), 'utf8'));
  const req = createRequire(path.join(projectRoot, 'package.json'));
  const missing = [];
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    try {
      req.resolve(`${dep}/package.json`);
    } catch {
      missing.push(dep);
    }
  }
  const tfjs = req('@tensorflow/tfjs/package.json').version;
  if (missing.length || tfjs !== pkg.dependencies['@tensorflow/tfjs']) {
    throw new StepError('dependencies', `${PACKAGE}'s dependencies are not in node_modules`, {
      output: `missing: ${missing.join(', ') || 'none'}; @tensorflow/tfjs ${tfjs}, wanted ${pkg.dependencies['@tensorflow/tfjs']}`,
      fix: 'Run npm ci in the affectlab directory first (it installs @tensorflow/tfjs-node, whose dependencies these are).',
    });
  }
  fs.rmSync(packageDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(packageDir), { recursive: true });
  fs.cpSync(pristine, packageDir, { recursive: true });
  return pkg;
}

/** Loads the GPU package in a child process, runs a matMul, and says whether TF uses a GPU. */
function probe() {
  const code = `
    const tf = require(${JSON.stringify(PACKAGE)});
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const v = Array.from(a.matMul(a).dataSync());
    if (v.join(',') !== '7,10,15,22') throw new Error('matMul gave ' + v);
    const b = tf.backend();
    console.log('AFFECTLAB_PROBE ' + JSON.stringify({ tf: b.binding.TF_Version, gpu: b.isUsingGpuDevice }));
  `;
  const r = run(process.execPath, ['-e', code], {
    cwd: projectRoot,
    timeout: 300_000,
    env: { TF_CPP_MIN_LOG_LEVEL: '2', TF_FORCE_GPU_ALLOW_GROWTH: 'true' },
  });
  const m = /AFFECTLAB_PROBE (.*)/.exec(r.output);
  if (r.ok && m) return { ok: true, ...JSON.parse(m[1]) };
  return { ok: false, output: r.output || String(r.error ?? '') };
}

/** Projects set up with this cache, so their postinstall re-lays the GPU package after npm ci. */
function enabledFile(cacheRoot) {
  return path.join(cacheRoot, 'gpu', 'projects.json');
}

function readEnabled(cacheRoot) {
  try {
    const v = JSON.parse(fs.readFileSync(enabledFile(cacheRoot), 'utf8'));
    return Array.isArray(v.projects) ? v.projects.filter((p) => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

function rememberProject(cacheRoot) {
  const projects = [...new Set([...readEnabled(cacheRoot), projectRoot])];
  fs.mkdirSync(path.dirname(enabledFile(cacheRoot)), { recursive: true });
  fs.writeFileSync(enabledFile(cacheRoot), JSON.stringify({ projects }, null, 2) + '\n');
}

const writeStatus = statusWriter(
  statusFile,
  { ok: false, package: PACKAGE, version: PACKAGE_VERSION, tensorflowWheel: TF_WHEEL_SPEC },
  log,
);

/**
 * libtensorflow (CUDA build) and the CUDA libraries under `cacheDir`, extracted once from the
 * wheels (downloaded with pip unless AFFECTLAB_GPU_WHEELS names them); `libs.json` records the
 * wheels and sizes, and says the extraction is done.
 */
function extractedLibs({ cacheRoot, cacheDir, pins, force, steps }) {
  const libsRecord = path.join(cacheDir, 'libs.json');
  if (!force && fs.existsSync(libsRecord)) {
    steps.push('cached-libs');
    return JSON.parse(fs.readFileSync(libsRecord, 'utf8'));
  }
  const python = findPython();
  if (!python) {
    throw new StepError('python', 'python3 with pip is needed to download and unpack the wheels', {
      fix: 'apt-get install -y python3 python3-pip, or set AFFECTLAB_PYTHON',
    });
  }
  const wheelDir = process.env.AFFECTLAB_GPU_WHEELS || path.join(cacheRoot, 'gpu', 'wheels');
  let wheels = findWheels(wheelDir, pins);
  const toFetch = pins.filter((p) => !wheels[p]);
  if (toFetch.length) {
    if (process.env.AFFECTLAB_GPU_WHEELS)
      throw new StepError('wheels', `AFFECTLAB_GPU_WHEELS=${wheelDir} lacks ${toFetch.join(', ')}`);
    const t = Date.now();
    wheels = { ...wheels, ...downloadWheels(python, wheelDir, toFetch) };
    steps.push(`pip-download ${Math.round((Date.now() - t) / 1000)}s`);
  }
  const wheelBytes = Object.values(wheels).reduce((s, f) => s + fs.statSync(f).size, 0);
  const t = Date.now();
  extractAll(python, wheels, TF_WHEEL_SPEC, cacheDir);
  steps.push(`extract ${Math.round((Date.now() - t) / 1000)}s`);
  const libs = {
    wheels: Object.fromEntries(Object.entries(wheels).map(([p, f]) => [p, path.basename(f)])),
    wheelBytes,
    extractedBytes:
      dirBytes(path.join(cacheDir, 'tensorflow')) + dirBytes(path.join(cacheDir, 'nvidia')),
  };
  fs.writeFileSync(libsRecord, JSON.stringify(libs, null, 2) + '\n');
  // the extracted files are what is kept; the wheels go unless the user supplied them
  if (!process.env.AFFECTLAB_GPU_WHEELS && process.env.AFFECTLAB_NATIVE_KEEP_WHEEL !== '1')
    fs.rmSync(wheelDir, { recursive: true, force: true });
  return libs;
}

/**
 * The graph addon for the -gpu package: scripts/graph-addon.mjs builds it for every native
 * package present (cached per package version and source hash); true when the -gpu one built.
 */
function buildGraphAddon() {
  const g = run(process.execPath, [path.join(projectRoot, 'scripts', 'graph-addon.mjs')], {
    cwd: projectRoot,
  });
  process.stdout.write(
    g.output
      .split('\n')
      .filter((l) => l.includes('tfjs-node-gpu'))
      .map((l) => `${l}\n`)
      .join(''),
  );
  try {
    const graph = JSON.parse(
      fs.readFileSync(path.join(projectRoot, 'node_modules', '.affectlab-graph.json'), 'utf8'),
    );
    return Boolean(graph.builds?.find((b) => b.package === PACKAGE)?.ok);
  } catch {
    return false; // no record
  }
}

function setup() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new StepError(
      'platform',
      `the GPU route supports linux x64 only (this is ${process.platform} ${process.arch})`,
    );
  }
  const cacheRoot = nativeCacheRoot();
  const pins = [TF_WHEEL_SPEC, ...cudaPins()];
  const key = cacheKey(pins.slice(1));
  const cacheDir = path.join(cacheRoot, 'gpu', key);
  const force = process.env.AFFECTLAB_GPU_FORCE === '1';
  const steps = [];

  // 1. The package (npm tarball, cached) copied into node_modules.
  const { dest: pristine, fetched } = fetchPackage(cacheDir);
  steps.push(fetched ? 'npm-pack' : 'cached-package');
  const pkg = installPackage(pristine);

  // 2. libtensorflow (CUDA build) + CUDA libraries, extracted once into the cache.
  const libs = extractedLibs({ cacheRoot, cacheDir, pins, force, steps });

  // 3. deps/ layout: symlinks into the cache; deps/nvidia beside deps/lib for $ORIGIN/../nvidia.
  const tfDir = path.join(cacheDir, 'tensorflow');
  layOutDeps(tfDir, path.join(tfDir, 'include'), packageDir, { symlink: true });
  fs.symlinkSync(path.join(cacheDir, 'nvidia'), path.join(packageDir, 'deps', 'nvidia'));

  // 4. The binding: from the cache, else built like the CPU package's.
  const napi = napiBuildVersion(pkg);
  const bindingCache = path.join(
    cacheDir,
    'binding',
    `napi-v${napi}-node-abi-${process.versions.modules}`,
    'tfjs_binding.node',
  );
  const bindingDest = path.join(packageDir, `lib/napi-v${napi}/tfjs_binding.node`);
  if (!force && fs.existsSync(bindingCache)) {
    fs.mkdirSync(path.dirname(bindingDest), { recursive: true });
    fs.copyFileSync(bindingCache, bindingDest);
    steps.push('cached-binding');
  } else {
    const t = Date.now();
    buildBinding(packageDir, napi, log);
    fs.mkdirSync(path.dirname(bindingCache), { recursive: true });
    fs.copyFileSync(bindingDest, `${bindingCache}.tmp`);
    fs.renameSync(`${bindingCache}.tmp`, bindingCache);
    steps.push(`build ${Math.round((Date.now() - t) / 1000)}s`);
  }

  // 5. Verify in a child process.
  const p = probe();
  if (!p.ok) {
    fs.rmSync(bindingCache, { force: true });
    throw new StepError('verify', `${PACKAGE} does not load or compute correctly`, {
      output: p.output,
      fix: `Inspect with: ldd ${bindingDest}; then AFFECTLAB_GPU_FORCE=1 npx affectlab setup gpu`,
    });
  }

  // 6. The graph addon for the -gpu package.
  const graphAddon = buildGraphAddon();

  rememberProject(cacheRoot);
  const status = writeStatus({
    ok: true,
    cache: cacheDir,
    steps,
    napi,
    libtensorflow: p.tf,
    gpuDevice: p.gpu,
    graphAddon,
    wheelBytes: libs.wheelBytes,
    extractedBytes: libs.extractedBytes,
  });
  const cached = steps.every((s) => s.startsWith('cached'));
  log(
    `${PACKAGE} ${PACKAGE_VERSION} ready on libtensorflow ${p.tf} (CUDA build) from ${TF_WHEEL_SPEC}` +
      ` (${cached ? 'everything from the cache' : steps.join(', ')}; ${status.seconds}s).`,
  );
  log(
    p.gpu
      ? 'TensorFlow uses a GPU device.'
      : 'TensorFlow found no GPU device here and runs on the CPU; `npx affectlab doctor` says why.',
  );
  return status;
}

/** Where the GPU setup failed, and how to retry. */
function printGpuFailure(err) {
  printFailure(err, {
    tag: TAG,
    head: [
      `${TAG} GPU backend setup failed at ${err.step ?? 'an unexpected step'}: ${err.message}`,
    ],
    outputLines: 20,
    commandChars: 400,
    footer: [
      `${TAG} Retry with: npx affectlab setup gpu   (status: node_modules/.affectlab-gpu.json)`,
    ],
  });
}

const postinstall = process.argv.includes('--postinstall');
if (postinstall) {
  // Off by default: only on request, or to restore a setup an `npm ci` just wiped.
  const flag = process.env.AFFECTLAB_GPU;
  const before = readEnabled(nativeCacheRoot()).includes(projectRoot);
  if (flag === '0' || process.env.AFFECTLAB_SKIP_NATIVE === '1' || (flag !== '1' && !before)) {
    process.exit(0);
  }
  if (flag !== '1')
    log(
      'this project had the GPU backend set up before: restoring it from the cache (AFFECTLAB_GPU=0 skips)',
    );
}
try {
  setup();
} catch (err) {
  printGpuFailure(err);
  writeStatus({
    ok: false,
    error: failureText(err),
    fix: err.fix,
  });
  if (!postinstall) process.exitCode = 1;
}
