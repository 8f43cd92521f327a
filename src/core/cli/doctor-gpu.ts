import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GPU_PACKAGE,
  GPU_SETUP_COMMAND,
  checkLibraries,
  findDriverLibrary,
  probeTensorFlowGpu,
  projectRoot,
  queryNvidiaSmi,
  readGpuRecord,
  type GpuInstallRecord,
  type LibraryCheck,
  type SmiGpu,
  type TfGpuProbe,
  userAllowGrowth,
} from '../training/gpu.js';

/** `affectlab doctor`'s GPU section: one function, so it can be registered as a section later. */
export interface GpuSection {
  installed: boolean;
  package?: { dir: string; version: string };
  record: GpuInstallRecord | null;
  libraries?: LibraryCheck;
  driver: { libcuda: string | null; nvidiaSmi: { gpus: SmiGpu[] } | { error: string } };
  tensorflow?: TfGpuProbe;
  allowGrowth: string;
  /** one line: what TensorFlow uses and, when not a GPU, why */
  summary: string;
  /** the command that fixes what is wrong, if anything */
  fix?: string;
}

export interface GpuSectionOptions {
  /** project whose node_modules to inspect (default: this installation) */
  root?: string;
  /** load the GPU package in a child process to ask TensorFlow (default true; needs the package) */
  probe?: boolean;
}

const SIZE_NOTE = 'downloads about 2.4 GB once; about 4.1 GB in ~/.cache/affectlab/native/gpu';

export function gpuSection(options: GpuSectionOptions = {}): GpuSection {
  const root = options.root ?? projectRoot;
  const record = readGpuRecord(root) ?? null;
  const dir = join(root, 'node_modules', GPU_PACKAGE);
  const libcuda = findDriverLibrary() ?? null;
  const driver = { libcuda, nvidiaSmi: queryNvidiaSmi() };
  const allowGrowth = userAllowGrowth ?? 'true (affectlab default)';
  const base = { record, driver, allowGrowth };
  if (!existsSync(join(dir, 'package.json'))) {
    const removed = record?.ok === true;
    return {
      ...base,
      installed: false,
      summary: removed
        ? `${GPU_PACKAGE} was set up here but is no longer in node_modules (a later npm install pruned it)`
        : `${GPU_PACKAGE} is not installed`,
      fix: removed
        ? `${GPU_SETUP_COMMAND} (restores it from the cache in seconds)`
        : `${GPU_SETUP_COMMAND} (${SIZE_NOTE})`,
    };
  }
  const version = (
    JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const libraries = checkLibraries(dir);
  const section: GpuSection = {
    ...base,
    installed: true,
    package: { dir, version },
    libraries,
    summary: '',
  };
  if (libraries.libtensorflow.missing.length || libraries.cuda.missing.length) {
    section.fix = `AFFECTLAB_GPU_FORCE=1 ${GPU_SETUP_COMMAND} (re-extracts the libraries into the cache)`;
  }
  if (options.probe === false) {
    section.summary = 'TensorFlow not asked (probe off)';
    return section;
  }
  const tf = probeTensorFlowGpu(root);
  section.tensorflow = tf;
  if (!tf.loaded) {
    section.summary = `${GPU_PACKAGE} does not load: ${tf.error ?? 'unknown error'}`;
    section.fix ??= `AFFECTLAB_GPU_FORCE=1 ${GPU_SETUP_COMMAND}`;
  } else if (tf.usingGpu) {
    section.summary = `TensorFlow uses ${tf.devices.length || 'a'} GPU device(s)`;
  } else {
    section.summary = `no GPU device found: ${noGpuReason(libcuda, driver.nvidiaSmi, tf)}; TensorFlow runs on the CPU`;
  }
  return section;
}

function noGpuReason(
  libcuda: string | null,
  smi: { gpus: SmiGpu[] } | { error: string },
  tf: TfGpuProbe,
): string {
  const said = tf.notes.length ? ` (TensorFlow: ${tf.notes.join('; ')})` : '';
  if (!libcuda) return `no NVIDIA driver (libcuda.so.1 not found)${said}`;
  if ('gpus' in smi && smi.gpus.length === 0) return `the driver sees no GPU${said}`;
  return `the driver is at ${libcuda} but TensorFlow did not create a GPU device${said}`;
}

export function gpuSectionLines(s: GpuSection): string[] {
  const lines: string[] = [];
  const r = s.record;
  if (!s.installed || !s.package) {
    lines.push(`gpu         ${s.summary}`);
    if (r && !r.ok && r.error)
      lines.push(`gpu         last setup failed: ${r.error.split('\n')[0]}`);
  } else {
    lines.push(
      `gpu         ${GPU_PACKAGE} ${s.package.version}` +
        (s.tensorflow?.libtensorflow ? ` on libtensorflow ${s.tensorflow.libtensorflow}` : '') +
        (r?.cache ? ` (cache ${r.cache})` : ''),
    );
    const l = s.libraries;
    if (l) {
      const total = l.cuda.found.length + l.cuda.missing.length;
      lines.push(
        `gpu libs    libtensorflow ${l.libtensorflow.missing.length ? `MISSING ${l.libtensorflow.missing.join(', ')}` : 'found'}; ` +
          `CUDA ${l.cuda.found.length}/${total} found` +
          (l.cuda.missing.length ? `, missing: ${l.cuda.missing.join(', ')}` : ''),
      );
    }
  }
  const smi = s.driver.nvidiaSmi;
  lines.push(
    `gpu driver  libcuda.so.1 ${s.driver.libcuda ?? 'not found (no NVIDIA driver installed)'}; ` +
      ('gpus' in smi
        ? smi.gpus.length
          ? `driver ${smi.gpus[0].driverVersion}`
          : 'nvidia-smi lists no GPU'
        : smi.error),
  );
  if ('gpus' in smi)
    for (const g of smi.gpus)
      lines.push(
        `gpu nvidia  ${g.name}, compute capability ${g.computeCapability}, ${g.memoryMiB} MiB`,
      );
  if (s.tensorflow) {
    for (const d of s.tensorflow.devices)
      lines.push(
        `gpu device  ${d.device}: ${d.name ?? '?'}, compute capability ${d.computeCapability ?? '?'}, ${d.memoryMiB ?? '?'} MiB`,
      );
    if (s.installed) lines.push(`gpu devices ${s.summary}`);
  }
  lines.push(
    `gpu memory  TF_FORCE_GPU_ALLOW_GROWTH=${s.allowGrowth} (TF_FORCE_GPU_ALLOW_GROWTH=false maps all GPU memory at start)`,
  );
  if (s.fix) lines.push(`gpu fix     ${s.fix}`);
  return lines;
}
