import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What the GPU backend (@tensorflow/tfjs-node-gpu on the CUDA build of libtensorflow, laid out by
 * scripts/gpu-backend.mjs) needs and has: the install record, the CUDA libraries in its deps/,
 * the NVIDIA driver, and the devices TensorFlow itself reports.
 */

export const GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';
/** The command that installs (or, from the cache, restores) the GPU backend. */
export const GPU_SETUP_COMMAND = 'npx affectlab setup gpu';
/** The install record scripts/gpu-backend.mjs writes under node_modules/. */
export const GPU_RECORD = '.affectlab-gpu.json';

const require = createRequire(import.meta.url);
/** dist/src/core/training/gpu.js -> the project root */
export const projectRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** The TensorFlow release every native route builds on, pinned once in package.json. */
export const TENSORFLOW_VERSION: string = (
  JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    affectlab: { tensorflow: string };
  }
).affectlab.tensorflow;

/**
 * The libraries TensorFlow 2.18's CUDA build opens (dlopen, through the RUNPATH
 * $ORIGIN/../nvidia/<dir>/lib of libtensorflow), plus ptxas and libdevice that XLA uses, as laid
 * out from the `and-cuda` wheels: path under deps/nvidia/.
 */
export const CUDA_FILES: readonly { name: string; path: string }[] = [
  { name: 'CUDA runtime', path: 'cuda_runtime/lib/libcudart.so.12' },
  { name: 'cuBLAS', path: 'cublas/lib/libcublas.so.12' },
  { name: 'cuBLASLt', path: 'cublas/lib/libcublasLt.so.12' },
  { name: 'cuDNN', path: 'cudnn/lib/libcudnn.so.9' },
  { name: 'cuFFT', path: 'cufft/lib/libcufft.so.11' },
  { name: 'cuRAND', path: 'curand/lib/libcurand.so.10' },
  { name: 'cuSOLVER', path: 'cusolver/lib/libcusolver.so.11' },
  { name: 'cuSPARSE', path: 'cusparse/lib/libcusparse.so.12' },
  { name: 'nvJitLink', path: 'nvjitlink/lib/libnvJitLink.so.12' },
  { name: 'NVRTC', path: 'cuda_nvrtc/lib/libnvrtc.so.12' },
  { name: 'CUPTI', path: 'cuda_cupti/lib/libcupti.so.12' },
  { name: 'NCCL', path: 'nccl/lib/libnccl.so.2' },
  { name: 'ptxas', path: 'cuda_nvcc/bin/ptxas' },
  { name: 'libdevice', path: 'cuda_nvcc/nvvm/libdevice/libdevice.10.bc' },
];

export interface GpuInstallRecord {
  ok: boolean;
  version?: string;
  cache?: string;
  steps?: string[];
  libtensorflow?: string;
  gpuDevice?: boolean;
  graphAddon?: boolean;
  wheelBytes?: number;
  extractedBytes?: number;
  seconds?: number;
  error?: string;
  fix?: string;
}

/** node_modules/.affectlab-gpu.json of the project at `root`, if any. */
export function readGpuRecord(root = projectRoot): GpuInstallRecord | undefined {
  const file = join(root, 'node_modules', GPU_RECORD);
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return value && typeof value === 'object' ? (value as GpuInstallRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** The installed GPU package's directory, resolved the way the backend imports it. */
export function gpuPackageDir(): string | undefined {
  try {
    return dirname(require.resolve(`${GPU_PACKAGE}/package.json`));
  } catch {
    return undefined;
  }
}

export interface LibraryCheck {
  libtensorflow: { found: string[]; missing: string[] };
  cuda: { found: string[]; missing: string[] };
}

/** Which of libtensorflow and the CUDA files resolve (through the cache symlinks) in deps/. */
export function checkLibraries(packageDir: string): LibraryCheck {
  const deps = join(packageDir, 'deps');
  const tf = ['lib/libtensorflow_cc.so.2', 'lib/libtensorflow_framework.so.2'];
  const out: LibraryCheck = {
    libtensorflow: { found: [], missing: [] },
    cuda: { found: [], missing: [] },
  };
  for (const f of tf)
    (existsSync(join(deps, f)) ? out.libtensorflow.found : out.libtensorflow.missing).push(f);
  for (const f of CUDA_FILES)
    (existsSync(join(deps, 'nvidia', f.path)) ? out.cuda.found : out.cuda.missing).push(
      `${f.name} (${f.path.split('/').pop()})`,
    );
  return out;
}

/**
 * Where the dynamic loader would find the driver's libcuda.so.1: LD_LIBRARY_PATH, the ldconfig
 * cache, then the usual driver directories. undefined: no NVIDIA driver installed.
 */
export function findDriverLibrary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean);
  for (const dir of dirs)
    if (existsSync(join(dir, 'libcuda.so.1'))) return join(dir, 'libcuda.so.1');
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    const r = spawnSync(ldconfig, ['-p'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const m = /libcuda\.so\.1 \(.*x86-64.*\) => (\S+)/.exec(r.stdout);
    if (m) return m[1];
    break;
  }
  for (const dir of [
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib64',
    '/usr/lib/wsl/lib',
    '/usr/local/cuda/compat',
  ])
    if (existsSync(join(dir, 'libcuda.so.1'))) return join(dir, 'libcuda.so.1');
  return undefined;
}

export interface SmiGpu {
  name: string;
  computeCapability: string;
  driverVersion: string;
  memoryMiB: number;
}

/** nvidia-smi's view: the GPUs, their compute capability and the driver version. */
export function queryNvidiaSmi(): { gpus: SmiGpu[] } | { error: string } {
  const r = spawnSync(
    'nvidia-smi',
    ['--query-gpu=name,compute_cap,driver_version,memory.total', '--format=csv,noheader,nounits'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (r.error)
    return {
      error: `nvidia-smi not found (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`,
    };
  if (r.status !== 0)
    return { error: `nvidia-smi failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  return { gpus: parseNvidiaSmi(r.stdout) };
}

export function parseNvidiaSmi(text: string): SmiGpu[] {
  return text
    .split('\n')
    .map((l) => l.split(',').map((s) => s.trim()))
    .filter((f) => f.length >= 4 && f[0])
    .map(([name, computeCapability, driverVersion, memory]) => ({
      name,
      computeCapability,
      driverVersion,
      memoryMiB: Number(memory),
    }));
}

export interface TfGpuDevice {
  device: string;
  memoryMiB?: number;
  name?: string;
  computeCapability?: string;
}

export interface TfGpuProbe {
  loaded: boolean;
  usingGpu: boolean;
  libtensorflow?: string;
  devices: TfGpuDevice[];
  /** TensorFlow's own lines on why it uses no GPU (cuInit, missing libraries) */
  notes: string[];
  error?: string;
}

/** TF's "Created device ..." and GPU-related error lines, from its log at level 0. */
export function parseTensorFlowLog(log: string): { devices: TfGpuDevice[]; notes: string[] } {
  const devices: TfGpuDevice[] = [];
  const notes: string[] = [];
  for (const line of log.split('\n')) {
    const created = /Created device (\S+device:GPU:\d+) with (\d+) MB memory:\s*->\s*(.*)$/.exec(
      line,
    );
    if (created) {
      const desc = created[3];
      devices.push({
        device: created[1],
        memoryMiB: Number(created[2]),
        name: /name: ([^,]+)/.exec(desc)?.[1]?.trim(),
        computeCapability: /compute capability: ([\d.]+)/.exec(desc)?.[1],
      });
      continue;
    }
    const note =
      /(failed call to cuInit.*|Could not find cuda drivers.*|Cannot dlopen some GPU libraries.*|Could not load dynamic library.*|CUDA driver version is insufficient.*|no CUDA-capable device.*|Ignoring visible gpu device.*)$/.exec(
        line,
      );
    if (note && !notes.includes(note[1].trim())) notes.push(note[1].trim());
  }
  return { devices, notes };
}

/**
 * Loads the GPU package in a child process with TensorFlow's log on (its device list and its
 * reasons for not using a GPU go to stderr, which this process could not read from its own).
 */
export function probeTensorFlowGpu(root = projectRoot): TfGpuProbe {
  const code = `
    const tf = require(${JSON.stringify(GPU_PACKAGE)});
    tf.tensor1d([1, 2]).square().dataSync();
    const b = tf.backend();
    console.log('AFFECTLAB_GPU_PROBE ' + JSON.stringify({ gpu: b.isUsingGpuDevice, tf: b.binding.TF_Version }));
  `;
  const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '0' };
  applyGpuEnvironment(env);
  const r = spawnSync(process.execPath, ['-e', code], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const { devices, notes } = parseTensorFlowLog(output);
  const m = /AFFECTLAB_GPU_PROBE (.*)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) {
    const last = (r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ');
    return { loaded: false, usingGpu: false, devices, notes, error: last || `exit ${r.status}` };
  }
  const res = JSON.parse(m[1]) as { gpu: boolean; tf: string };
  return { loaded: true, usingGpu: res.gpu, libtensorflow: res.tf, devices, notes };
}

/**
 * TensorFlow maps all GPU memory at start unless told to grow; affectlab asks it to grow, so
 * `nvidia-smi` shows what a run uses and other processes keep theirs. A value the user already
 * set wins (TF_FORCE_GPU_ALLOW_GROWTH=false turns growth off).
 */
/** The user's own TF_FORCE_GPU_ALLOW_GROWTH, read before applyGpuEnvironment can set it. */
export const userAllowGrowth: string | undefined = process.env.TF_FORCE_GPU_ALLOW_GROWTH;

export function applyGpuEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  env.TF_FORCE_GPU_ALLOW_GROWTH ??= 'true';
}

/** Cache root scripts/native-backend.mjs and scripts/gpu-backend.mjs share. */
export function nativeCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.AFFECTLAB_NATIVE_CACHE || join(homedir(), '.cache', 'affectlab', 'native'));
}
