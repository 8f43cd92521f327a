// Shared by scripts/native-backend.mjs (the CPU package from the tensorflow-cpu wheel) and
// scripts/gpu-backend.mjs (the -gpu package from the tensorflow wheel): process helpers, the
// deps/ layout tfjs-node's binding.gyp expects, and the offline node-gyp build of the binding.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * The TensorFlow release every native route builds on (the tensorflow-cpu and tensorflow wheels,
 * the Keras parity venv, the MLflow model environment): pinned once, in package.json's
 * "affectlab.tensorflow"; test/unit/core/versions.test.ts checks the requirements files agree.
 */
export const TENSORFLOW_VERSION = JSON.parse(
  fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).affectlab.tensorflow;

/** libtensorflow version tfjs-node's install.js looks for (deps/lib/libtensorflow.so.<v>). */
export const TFJS_NODE_LIBTF_VERSION = '2.9.1';

/** Cache root for extracted libraries and built bindings (AFFECTLAB_NATIVE_CACHE overrides). */
export function nativeCacheRoot() {
  return path.resolve(
    process.env.AFFECTLAB_NATIVE_CACHE || path.join(os.homedir(), '.cache', 'affectlab', 'native'),
  );
}

export class StepError extends Error {
  constructor(step, message, { command, output, fix } = {}) {
    super(message);
    this.step = step;
    this.command = command;
    this.output = output;
    this.fix = fix;
  }
}

export function tail(text, lines = 25) {
  const all = String(text ?? '')
    .trimEnd()
    .split('\n');
  return all.slice(-lines).join('\n');
}

export function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...opts,
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  const command = [cmd, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
  return {
    ok: res.status === 0 && !res.error,
    status: res.status,
    error: res.error,
    output,
    command,
  };
}

export function findPython() {
  const candidates = [process.env.AFFECTLAB_PYTHON, 'python3', 'python'].filter(Boolean);
  for (const py of candidates) {
    const r = run(py, ['-c', 'import sys, zipfile; print(sys.version_info[0])']);
    if (r.ok && r.output.trim().startsWith('3')) return py;
  }
  return null;
}

export function linkOrCopy(src, dst) {
  fs.rmSync(dst, { force: true });
  try {
    fs.linkSync(src, dst);
  } catch {
    fs.copyFileSync(src, dst);
  }
}

export function findNodeGyp() {
  const cands = [];
  if (process.env.npm_config_node_gyp) cands.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) {
    // .../npm/bin/npm-cli.js -> .../npm/node_modules/node-gyp/bin/node-gyp.js
    cands.push(
      path.resolve(
        path.dirname(process.env.npm_execpath),
        '..',
        'node_modules/node-gyp/bin/node-gyp.js',
      ),
    );
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  cands.push(path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  const r = run('npm', ['prefix', '-g']);
  if (r.ok)
    cands.push(
      path.join(r.output.trim(), 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    );
  return cands.find((c) => fs.existsSync(c)) ?? null;
}

export function findNodeDir() {
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm && fs.existsSync(path.join(fromNpm, 'include/node/node_api.h'))) return fromNpm;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) return prefix;
  return fromNpm || null;
}

export function buildBinding(tfjsNodeDir, napi, log = console.log) {
  const req = createRequire(path.join(tfjsNodeDir, 'package.json'));
  let preGyp;
  try {
    preGyp = path.join(
      path.dirname(req.resolve('@mapbox/node-pre-gyp/package.json')),
      'bin/node-pre-gyp',
    );
  } catch (err) {
    throw new StepError('build', 'cannot find @mapbox/node-pre-gyp (a dependency of tfjs-node)', {
      output: err.message,
      fix: 'Reinstall: rm -rf node_modules && npm ci',
    });
  }
  const nodeGyp = findNodeGyp();
  const nodeDir = findNodeDir();
  const args = [preGyp, 'install', '--build-from-source'];
  if (nodeDir) args.push(`--nodedir=${nodeDir}`);
  log(
    `building tfjs_binding.node (napi-v${napi}) with node-gyp${nodeDir ? ` (nodedir=${nodeDir})` : ''} ...`,
  );
  const env = { npm_config_build_from_source: 'true' };
  if (nodeGyp) env.npm_config_node_gyp = nodeGyp;
  const r = run(process.execPath, args, { cwd: tfjsNodeDir, env, timeout: 900_000 });
  for (const d of fs.readdirSync(tfjsNodeDir)) {
    if (d.startsWith('build-tmp-napi-'))
      fs.rmSync(path.join(tfjsNodeDir, d), { recursive: true, force: true });
  }
  const out = path.join(tfjsNodeDir, `lib/napi-v${napi}/tfjs_binding.node`);
  if (!r.ok || !fs.existsSync(out)) {
    throw new StepError(
      'build',
      `node-gyp could not build the ${path.basename(tfjsNodeDir)} binding`,
      {
        command: r.command,
        output: r.output || String(r.error ?? ''),
        fix:
          'Needs a C++ toolchain (apt-get install -y g++ make python3) and Node headers offline: ' +
          'set `nodedir=/usr` (or your Node prefix holding include/node) in ~/.npmrc. ' +
          `node-gyp used: ${nodeGyp ?? 'not found (set npm_config_node_gyp)'}.`,
      },
    );
  }
  return out;
}

export function napiBuildVersion(tfjsNodePkg) {
  const supported = Number(process.versions.napi);
  const list = (tfjsNodePkg.binary?.napi_versions ?? []).filter((v) => v <= supported);
  return list.length ? Math.max(...list) : supported;
}

/**
 * Lays out <package>/deps/{lib,include} from extracted libtensorflow files: `libDir` holds
 * libtensorflow_cc.so.2 and libtensorflow_framework.so.2, `includeDir` the C headers. With
 * `symlink`, deps/lib entries point at the files (the GPU route keeps them where their RUNPATH,
 * $ORIGIN/../nvidia/..., finds the CUDA libraries); otherwise they are hard links or copies.
 */
export function layOutDeps(libDir, includeDir, tfjsNodeDir, { symlink = false } = {}) {
  const deps = path.join(tfjsNodeDir, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  const lib = path.join(deps, 'lib');
  fs.mkdirSync(lib, { recursive: true });
  for (const l of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    const src = path.join(libDir, l);
    if (symlink) fs.symlinkSync(src, path.join(lib, l));
    else linkOrCopy(src, path.join(lib, l));
  }
  // binding.gyp links -ltensorflow -ltensorflow_framework; the linker records the sonames
  // (libtensorflow_cc.so.2, libtensorflow_framework.so.2), found at run time via the binding's
  // RUNPATH $ORIGIN/../../deps/lib. The *.so.2.9.1 names make tfjs-node's own install.js skip its
  // download if someone runs `npm rebuild @tensorflow/tfjs-node` later.
  const links = {
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    'libtensorflow.so.2': 'libtensorflow_cc.so.2',
    [`libtensorflow.so.${TFJS_NODE_LIBTF_VERSION}`]: 'libtensorflow_cc.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
    [`libtensorflow_framework.so.${TFJS_NODE_LIBTF_VERSION}`]: 'libtensorflow_framework.so.2',
  };
  for (const [name, target] of Object.entries(links)) fs.symlinkSync(target, path.join(lib, name));
  fs.cpSync(includeDir, path.join(deps, 'include'), { recursive: true, force: true });
}

/** The two shared libraries of the TensorFlow wheels that export the C API the bindings call. */
export const TF_LIBRARIES = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'];

// Extracts from a tensorflow(-cpu) wheel the two libraries (into <dest>/<lib_dir>) and the C
// headers the binding includes (closure computed with g++ -MM against the full include tree;
// into <dest>/<include_dir>), and from any CUDA wheels after it their shared libraries plus
// ptxas and libdevice (XLA compiles PTX), kept at their nvidia/... paths. Executable bits stay.
const EXTRACT_PY = `
import sys, zipfile, os, shutil
dest, lib_dir, inc_dir, tf_whl, cuda = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
libs = ${JSON.stringify(TF_LIBRARIES.map((l) => `tensorflow/${l}`))}
inc = 'tensorflow/include/'
keep = ('tensorflow/c/', 'tensorflow/core/platform/ctstring', 'tsl/platform/ctstring', 'tsl/c/', 'xla/tsl/c/')
def copy(z, info, out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with z.open(info) as src, open(out, 'wb') as dst:
        shutil.copyfileobj(src, dst, 16 << 20)
    if info.external_attr >> 16 & 0o111:
        os.chmod(out, 0o755)
n = 0
with zipfile.ZipFile(tf_whl) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith('/'):
            continue
        if name in libs:
            copy(z, info, os.path.join(dest, lib_dir, os.path.basename(name))); n += 1
        elif name.startswith(inc) and name[len(inc):].startswith(keep):
            copy(z, info, os.path.join(dest, inc_dir, name[len(inc):])); n += 1
for whl in cuda:
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            name = info.filename
            parts = name.split('/')
            if not name.startswith('nvidia/') or name.endswith('/') or name.endswith('.py'):
                continue
            if ('/lib/' in name and '.so' in parts[-1]) or '/bin/' in name or '/nvvm/' in name:
                copy(z, info, os.path.join(dest, name)); n += 1
missing = [l for l in libs if not os.path.exists(os.path.join(dest, lib_dir, os.path.basename(l)))]
if missing:
    sys.exit('wheel lacks ' + ', '.join(missing))
print('extracted', n, 'files')
`;

/**
 * Runs the extraction with `python` (zipfile only, no TensorFlow import): the libraries into
 * `<dest>/<libDir>`, the headers into `<dest>/<includeDir>`, the CUDA wheels' files under
 * `<dest>/nvidia`. Returns run()'s result.
 */
export function extractWheels(
  python,
  dest,
  { tfWheel, cudaWheels = [], libDir, includeDir, timeout = 600_000 },
) {
  return run(python, ['-c', EXTRACT_PY, dest, libDir, includeDir, tfWheel, ...cudaWheels], {
    timeout,
  });
}

/**
 * A writer of the install record (`node_modules/.affectlab-*.json`, read by `affectlab
 * doctor`): `defaults`, then the fields given, then when it was written and how long the
 * script had run. A failed write is logged, never thrown.
 */
export function statusWriter(statusFile, defaults, log) {
  const started = Date.now();
  return (fields) => {
    const status = {
      ...defaults,
      ...fields,
      builtAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    try {
      fs.mkdirSync(path.dirname(statusFile), { recursive: true });
      fs.writeFileSync(statusFile, JSON.stringify(status, null, 2) + '\n');
    } catch (err) {
      log(`could not write ${statusFile}: ${err.message}`);
    }
    return status;
  };
}

/**
 * A failed setup on stdout: `head` lines, then the failing command, the output's last lines,
 * the stack of an unexpected error and the fix, each line tagged, then `footer`.
 */
export function printFailure(
  err,
  { tag, head, footer, outputLines = 25, outputHeading, commandChars = Infinity },
) {
  const indented = (text, lines) =>
    tail(text, lines)
      .split('\n')
      .map((l) => `${tag}   ${l}`);
  const lines = [...head];
  if (err.command) lines.push(`${tag} Command: ${err.command.slice(0, commandChars)}`);
  if (err.output)
    lines.push(
      ...(outputHeading ? [`${tag} ${outputHeading}`] : []),
      ...indented(err.output, outputLines),
    );
  if (!err.step && err.stack) lines.push(...indented(err.stack, 8));
  if (err.fix) lines.push(`${tag} Fix: ${err.fix}`);
  lines.push(...footer);
  console.log(lines.join('\n'));
}

/** The install record's `error` for a failure: the step, the message, the output's tail. */
export function failureText(err) {
  return `${err.step ?? 'unexpected'}: ${err.message}${err.output ? `\n${tail(err.output, 15)}` : ''}`;
}

/** The folder with node_api.h for the addons (graph, JPEG): npm_config_nodedir, Node's own, /usr. */
export function nodeIncludeDir() {
  const candidates = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
}
