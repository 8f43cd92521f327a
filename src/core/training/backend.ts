import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { singleton } from 'tsyringe';
import { UserError } from '../../sdk/errors.js';
import { GPU_SETUP_COMMAND, applyGpuEnvironment, findDriverLibrary } from './gpu.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

/** Which npm package provides each native backend. */
const NATIVE_PACKAGES: Record<Exclude<BackendName, 'cpu'>, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
};

export interface BackendProbe {
  name: BackendName;
  package?: string;
  available: boolean;
  version?: string;
  error?: string;
  /** false: loaded in a child process, because another native package holds this one */
  inProcess?: boolean;
}

export interface ActiveBackend {
  /** affectlab's name for it */
  name: BackendName;
  /** tfjs' registered backend name (`tensorflow` for both native packages, `cpu`) */
  tfjsBackend: string;
  devices: string[];
  versions: Record<string, string>;
}

const require = createRequire(import.meta.url);

function packageVersion(name: string): string | undefined {
  try {
    const pkgPath = require.resolve(`${name}/package.json`);
    return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** A status file written at install time (scripts/native-backend.mjs by default, or the graph addon's), if any. */
export function nativeInstallStatus(
  record = '.affectlab-native.json',
): Record<string, unknown> | undefined {
  for (const base of [
    process.cwd(),
    join(require.resolve('@tensorflow/tfjs/package.json'), '../../../..'),
  ]) {
    const file = join(base, 'node_modules', record);
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

const HOW_TO_GET: Record<BackendName, string> = {
  tensorflow:
    'Run `npm install` (or `node scripts/native-backend.mjs`) in the affectlab directory to build the native ' +
    'binding from the tensorflow-cpu wheel; `affectlab doctor` shows what went wrong last time.',
  'tensorflow-gpu':
    `Run \`${GPU_SETUP_COMMAND}\` in the affectlab directory (installs @tensorflow/tfjs-node-gpu on the CUDA ` +
    'build of libtensorflow and the CUDA 12 libraries, about 2.4 GB of downloads); `affectlab doctor` shows what it found. ' +
    'See docs/native-backend.md.',
  cpu: 'The pure-JS backend is always available.',
};

/** Loads a native package in a child process; throws with its first error line if it fails. */
function probeInChild(pkg: string, gpu: boolean): void {
  const env: NodeJS.ProcessEnv = { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' };
  if (gpu) applyGpuEnvironment(env);
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(pkg)})`], {
    env,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status !== 0)
    throw new Error(
      (r.stderr || r.error?.message || `exit ${r.status}`)
        .trim()
        .split('\n')
        .find((l) => /Error/.test(l)) ?? `exit ${r.status}`,
    );
}

/** Selects and activates the TensorFlow.js backend; one per process. */
@singleton()
export class BackendService {
  private active?: ActiveBackend;
  private probes = new Map<BackendName, BackendProbe>();
  /** the native package imported into this process, if any: both register the 'tensorflow' backend */
  private loadedNative?: Exclude<BackendName, 'cpu'>;

  /** Try to load a backend's package without activating it. */
  async probe(name: BackendName): Promise<BackendProbe> {
    const cached = this.probes.get(name);
    if (cached) return cached;
    let result: BackendProbe;
    if (name === 'cpu') {
      result = { name, available: true, version: tf.version.tfjs };
    } else {
      const pkg = NATIVE_PACKAGES[name];
      try {
        if (this.loadedNative && this.loadedNative !== name) {
          // a second native package in one process would reuse the first one's kernels (and its
          // libtensorflow, same soname): check that it loads in a child process instead
          probeInChild(pkg, name === 'tensorflow-gpu');
          result = {
            name,
            package: pkg,
            available: true,
            version: packageVersion(pkg),
            inProcess: false,
          };
        } else {
          if (name === 'tensorflow-gpu') applyGpuEnvironment();
          await import(pkg);
          this.loadedNative = name;
          result = { name, package: pkg, available: true, version: packageVersion(pkg) };
        }
      } catch (error) {
        const message = (error as Error).message.split('\n')[0];
        result = {
          name,
          package: pkg,
          available: false,
          version: packageVersion(pkg),
          error: message,
        };
      }
    }
    this.probes.set(name, result);
    return result;
  }

  async probeAll(): Promise<BackendProbe[]> {
    const out: BackendProbe[] = [];
    for (const n of ['tensorflow-gpu', 'tensorflow', 'cpu'] as BackendName[])
      out.push(await this.probe(n));
    return out;
  }

  /**
   * Activate the preferred backend; `auto` takes the first available of gpu, native, cpu, but
   * puts the CUDA build after the CPU build where no NVIDIA driver is found (it would only run
   * on the CPU, and once loaded the CPU package cannot be loaded into the process).
   */
  async activate(preference: BackendPreference = 'auto'): Promise<ActiveBackend> {
    if (this.active && (preference === 'auto' || preference === this.active.name))
      return this.active;
    const autoOrder: BackendName[] = findDriverLibrary()
      ? ['tensorflow-gpu', 'tensorflow', 'cpu']
      : ['tensorflow', 'tensorflow-gpu', 'cpu'];
    const order: BackendName[] = preference === 'auto' ? autoOrder : [preference];
    for (const name of order) {
      const probe = await this.probe(name);
      if (!probe.available) {
        if (preference !== 'auto') {
          throw new UserError(
            `training.backend '${name}' is not available: ${probe.error ?? 'not installed'}. ${HOW_TO_GET[name]}`,
          );
        }
        continue;
      }
      if (probe.inProcess === false) {
        if (preference !== 'auto')
          throw new UserError(
            `training.backend '${name}' cannot be activated: this process already loaded ${this.loadedNative ? NATIVE_PACKAGES[this.loadedNative] : 'another native package'}, and the two native packages cannot share a process`,
          );
        continue;
      }
      const tfjsBackend = name === 'cpu' ? 'cpu' : 'tensorflow';
      if (!(await tf.setBackend(tfjsBackend))) {
        if (preference !== 'auto')
          throw new UserError(
            `tfjs could not activate backend '${tfjsBackend}'. ${HOW_TO_GET[name]}`,
          );
        continue;
      }
      await tf.ready();
      this.active = {
        name,
        tfjsBackend,
        devices: this.devices(name),
        versions: this.versions(name, probe),
      };
      return this.active;
    }
    throw new UserError('no TensorFlow.js backend could be activated');
  }

  private versions(name: BackendName, probe: BackendProbe): Record<string, string> {
    const v: Record<string, string> = { tfjs: tf.version.tfjs };
    if (probe.package && probe.version) v[probe.package] = probe.version;
    if (name !== 'cpu') {
      const nodeVersions = (tf.backend() as unknown as { binding?: { TF_Version?: string } })
        .binding;
      if (nodeVersions?.TF_Version) v.libtensorflow = nodeVersions.TF_Version;
    }
    return v;
  }

  private devices(name: BackendName): string[] {
    if (name === 'cpu') return ['cpu:0 (pure JavaScript)'];
    if (name === 'tensorflow') return ['/device:CPU:0'];
    // the GPU package runs on the CPU when TensorFlow finds no GPU device
    const usingGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
    return usingGpu
      ? ['/device:GPU:0']
      : ['/device:CPU:0 (no GPU device found; `affectlab doctor` says why)'];
  }
}
