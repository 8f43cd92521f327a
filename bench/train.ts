/**
 * affectlab side by side with Keras on this machine: training throughput of the report's
 * VGG-type net (Appendix C) and the image pipeline alone, with peak memory, in one run.
 *
 *   npm run bench:train -- [--sizes 64,128,256] [--eager-sizes 64,128] [--batch 64,256:16]
 *                          [--steps 3,128:2,256:2]
 *                          [--reps 3] [--pipeline-sizes 224,256] [--pipeline-images 640]
 *                          [--backbones efficientnet-b0,mobilenet-v2] [--backbone-size 224]
 *                          [--backbone-batch 32] [--backbone-steps 2]
 *                          [--e2e-augment | --no-e2e-augment] [--skip-torch]
 *                          [--skip-train] [--skip-pipeline] [--verbose]
 *
 * `--batch` and `--steps` take a default and `size:value` overrides. `--backbones` adds step rows
 * for those architectures (their defaults, 6 classes) at `--backbone-size` px against the same
 * Keras Applications model in Keras graph mode (`--backbones ''` leaves them out). The VGG-type rows
 * also run the same net in PyTorch (CPU, channels_last, threads = cores; `--skip-torch` leaves it
 * out), and a 4096 x 4096 sgemm gives the cores' multiply ceiling: each step row prints the
 * step's GFLOP/s (PyTorch's FLOP count of a forward + backward) and its share of that ceiling.
 * affectlab's end-to-end rows keep the affectnet dataset's default augmentation (the Python
 * sides have none; `--no-e2e-augment` turns it off). Every figure comes from
 * worker processes (bench/train-worker.ts, bench/keras_train.py, bench/torch_train.py), one per measurement kind, so
 * each reports its own peak RSS; each worker warms up first, then the orchestrator asks the
 * affectlab and the Python workers for one repetition at a time, alternating (A B B A ...), so
 * load from other processes falls on both alike. Ratios are taken per repetition pair.
 *
 * Creates on first use: the synthetic AffectNet set (.cache/affectlab/bench-synth-<px>) and the
 * Python virtual environments with the pinned TensorFlow (bench/.venv-keras, from
 * bench/requirements-keras.txt) and PyTorch (bench/.venv-torch, bench/requirements-torch.txt). Writes bench/results/train.json and bench/results/train.md.
 */
import 'reflect-metadata';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { TENSORFLOW_VERSION, UserError, createRuntime, type DatasetPlugin } from '../src/index.js';
// the synthetic set's generator is the affectnet plugin's own tool (no plugin kind offers it)
import { ensureSyntheticAffectNet } from '../src/plugins/datasets/affectnet/index.js';
import {
  REPLY_MARKER,
  benchExperimentYaml,
  benchGatePlugin,
  type DoneReply,
  type MeasureReply,
  type ReadyReply,
  type WorkerCommand,
} from './train-common.js';
import type { ListedImage } from './train-worker.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const benchDir = join(repoRoot, 'bench');

const { values } = parseArgs({
  allowNegative: true,
  options: {
    sizes: { type: 'string', default: '64,128,256' },
    /** Sizes with the eager columns (affectlab eager, Keras eager): eager at 256 px, batch 64 needs > 23 GB. */
    'eager-sizes': { type: 'string', default: '64,128' },
    // 256 px at batch 64 needs ~30 GiB in tfjs (see RESULTS.md): 16 fits a 24 GiB machine
    batch: { type: 'string', default: '64,256:16' },
    steps: { type: 'string', default: '3,128:2,256:2' },
    reps: { type: 'string', default: '3' },
    'pipeline-sizes': { type: 'string', default: '224,256' },
    'pipeline-images': { type: 'string', default: '640' },
    'synth-count': { type: 'string', default: '1000' },
    'synth-size': { type: 'string', default: '320' },
    backbones: { type: 'string', default: 'efficientnet-b0,mobilenet-v2' },
    'backbone-size': { type: 'string', default: '224' },
    'backbone-batch': { type: 'string', default: '32' },
    'backbone-steps': { type: 'string', default: '2' },
    'e2e-augment': { type: 'boolean', default: true },
    'skip-torch': { type: 'boolean', default: false },
    'skip-train': { type: 'boolean', default: false },
    'skip-pipeline': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    out: { type: 'string', default: join('bench', 'results', 'train.json') },
  },
});

function positiveInteger(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UserError(`${what}: expected a positive integer, got '${text}'`);
  return n;
}

/** "64,256:16" -> 64 everywhere but 16 at 256 px. */
function perSize(spec: string, what: string): (size: number) => number {
  let fallback: number | undefined;
  const bySize = new Map<number, number>();
  for (const part of spec.split(',').filter(Boolean)) {
    const [a, b] = part.split(':');
    if (b === undefined) fallback = positiveInteger(a, what);
    else bySize.set(positiveInteger(a, what), positiveInteger(b, what));
  }
  return (size) => {
    const value = bySize.get(size) ?? fallback;
    if (value === undefined) throw new UserError(`${what}: no value for ${size} px in '${spec}'`);
    return value;
  };
}

const list = (spec: string, what: string): number[] =>
  spec
    .split(',')
    .filter(Boolean)
    .map((s) => positiveInteger(s, what));

const sizes = list(values.sizes, '--sizes');
const eagerSizes = list(values['eager-sizes'], '--eager-sizes');
const batchFor = perSize(values.batch, '--batch');
const stepsFor = perSize(values.steps, '--steps');
const reps = positiveInteger(values.reps, '--reps');
const BACKBONES = ['efficientnet-b0', 'mobilenet-v2'];
const backbones = values.backbones.split(',').filter(Boolean);
for (const b of backbones)
  if (!BACKBONES.includes(b))
    throw new UserError(`--backbones: '${b}' is not one of ${BACKBONES.join(', ')}`);
const backboneSize = positiveInteger(values['backbone-size'], '--backbone-size');
const backboneBatch = positiveInteger(values['backbone-batch'], '--backbone-batch');
const backboneSteps = positiveInteger(values['backbone-steps'], '--backbone-steps');
const withTorch = !values['skip-torch'];
const pipelineSizes = list(values['pipeline-sizes'], '--pipeline-sizes');
const pipelineImages = positiveInteger(values['pipeline-images'], '--pipeline-images');
const synthCount = positiveInteger(values['synth-count'], '--synth-count');
const synthSize = positiveInteger(values['synth-size'], '--synth-size');
const PIPELINE_BATCH = 64;
const MARGIN = 0.1;

const log = (message: string): void => void process.stderr.write(`[bench] ${message}\n`);

// ---- statistics -------------------------------------------------------------------------------

interface Spread {
  min: number;
  median: number;
  max: number;
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { min: s[0], median, max: s[s.length - 1] };
}

const loadSamples: number[] = [];
function sampleLoad(): number {
  const one = loadavg()[0];
  loadSamples.push(one);
  return one;
}

// ---- workers ----------------------------------------------------------------------------------

/** A worker process speaking the line protocol of train-common.ts. */
class WorkerProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: string[] = [];
  private waiting?: { resolve: (line: string) => void; reject: (error: Error) => void };
  private exit?: Error;
  private readonly stderrTail: string[] = [];

  constructor(
    readonly label: string,
    command: string,
    args: string[],
  ) {
    this.child = spawn(command, args, {
      cwd: repoRoot,
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith(REPLY_MARKER)) {
        if (values.verbose) process.stderr.write(`  ${label} | ${line}\n`);
        return;
      }
      const payload = line.slice(REPLY_MARKER.length);
      if (this.waiting) {
        this.waiting.resolve(payload);
        this.waiting = undefined;
      } else this.replies.push(payload);
    });
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
      if (values.verbose) process.stderr.write(`  ${label} ! ${line}\n`);
    });
    this.child.on('exit', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.exit = new Error(
        `${label} ${how}${code === 0 ? ' before replying' : ''}; its last stderr lines:\n  ${this.stderrTail.join('\n  ')}`,
      );
      this.waiting?.reject(this.exit);
      this.waiting = undefined;
    });
  }

  private async next<T>(): Promise<T> {
    const queued = this.replies.shift();
    if (queued !== undefined) return JSON.parse(queued) as T;
    if (this.exit) throw this.exit;
    const line = await new Promise<string>((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
    return JSON.parse(line) as T;
  }

  private send(command: WorkerCommand): void {
    this.child.stdin.write(JSON.stringify(command) + '\n');
  }

  ready(): Promise<ReadyReply> {
    return this.next<ReadyReply>();
  }

  measure(): Promise<MeasureReply> {
    this.send({ op: 'measure' });
    return this.next<MeasureReply>();
  }

  async quit(): Promise<DoneReply> {
    this.send({ op: 'quit' });
    const done = await this.next<DoneReply>();
    if (this.child.exitCode === null) {
      await new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    }
    return done;
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

const nodeWorker = (label: string, args: string[]): WorkerProcess =>
  new WorkerProcess(label, process.execPath, [
    join(repoRoot, 'dist', 'bench', 'train-worker.js'),
    ...args,
  ]);

let python = '';
const pythonWorker = (label: string, args: string[]): WorkerProcess =>
  new WorkerProcess(label, python, [join(benchDir, 'keras_train.py'), ...args]);

let torchPython = '';
const torchWorker = (label: string, args: string[]): WorkerProcess =>
  new WorkerProcess(label, torchPython, [join(benchDir, 'torch_train.py'), ...args]);

/** What one framework measured for one figure. */
interface Side {
  imagesPerSecond: number[];
  spread: Spread;
  seconds: number[];
  images: number;
  warmUpSeconds: number;
  peakRssMiB: number;
  /** FLOPs of one training step per image, where the worker counts them (PyTorch). */
  flopsPerImage?: number;
}

/**
 * Start the workers one after the other (their warm-ups then never overlap), then take `reps`
 * repetitions from each, alternating the order each round (A B, B A, ...).
 */
async function interleaved(
  title: string,
  starts: Record<string, () => WorkerProcess>,
): Promise<Record<string, Side>> {
  const names = Object.keys(starts);
  const workers = new Map<string, WorkerProcess>();
  const results: Record<string, Side> = {};
  try {
    for (const name of names) {
      const worker = starts[name]();
      workers.set(name, worker);
      const ready = await worker.ready();
      if (ready.versions) Object.assign(pythonVersions, ready.versions);
      results[name] = {
        imagesPerSecond: [],
        spread: { min: 0, median: 0, max: 0 },
        seconds: [],
        images: 0,
        warmUpSeconds: ready.warmUpSeconds,
        peakRssMiB: 0,
        ...(ready.flopsPerImage ? { flopsPerImage: ready.flopsPerImage } : {}),
      };
      log(`${title}: ${name} ready (set-up and warm-up ${ready.warmUpSeconds.toFixed(1)} s)`);
    }
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? names : [...names].reverse();
      for (const name of order) {
        const load = sampleLoad();
        const m = await (workers.get(name) as WorkerProcess).measure();
        const rate = m.images / m.seconds;
        const side = results[name];
        side.imagesPerSecond.push(rate);
        side.seconds.push(m.seconds);
        side.images = m.images;
        log(
          `${title}: ${name} rep ${rep + 1}/${reps}: ${rate.toFixed(2)} images/s (${m.images} in ${m.seconds.toFixed(2)} s, load ${load.toFixed(2)})`,
        );
      }
    }
    for (const name of names) {
      const done = await (workers.get(name) as WorkerProcess).quit();
      results[name].peakRssMiB = done.peakRssMiB;
      results[name].spread = spread(results[name].imagesPerSecond);
    }
    return results;
  } finally {
    for (const worker of workers.values()) worker.kill();
  }
}

/** Ratios a_i / b_i of the interleaved repetitions. */
function ratio(a: Side, b: Side): { values: number[]; spread: Spread } {
  const ratios = a.imagesPerSecond.map((x, i) => x / b.imagesPerSecond[i]);
  return { values: ratios, spread: spread(ratios) };
}

// ---- set-up -----------------------------------------------------------------------------------

const pythonVersions: Record<string, string> = {};

function requirementPins(file: string): Map<string, string> {
  const text = readFileSync(join(benchDir, file), 'utf8');
  const pins = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z0-9_.-]+)==([^\s#]+)/.exec(line);
    if (match) pins.set(match[1], match[2]);
  }
  // TensorFlow is pinned once, in package.json (affectlab.tensorflow): the Keras side gets it here
  if (file === 'requirements-keras.txt') pins.set('tensorflow-cpu', TENSORFLOW_VERSION);
  return pins;
}

/** Installed versions of the pinned packages in the venv (undefined: not importable). */
function installedPins(
  pythonPath: string,
  names: string[],
): Record<string, string | null> | undefined {
  const code =
    'import importlib.metadata as m, json, sys\n' +
    'def v(p):\n  try: return m.version(p)\n  except m.PackageNotFoundError: return None\n' +
    'print(json.dumps({p: v(p) for p in sys.argv[1:]}))';
  const probe = spawnSync(pythonPath, ['-c', code, ...names], { encoding: 'utf8' });
  if (probe.status !== 0) return undefined;
  return JSON.parse(probe.stdout) as Record<string, string | null>;
}

/** A pin `==2.13.0` is met by 2.13.0 and by a local build of it (2.13.0+cpu), as pip says. */
const meetsPin = (found: string | null, pin: string): boolean =>
  found === pin || (found?.startsWith(`${pin}+`) ?? false);

/**
 * bench/.venv-<name> with the pins of bench/requirements-<name>.txt (keras: the pinned
 * TensorFlow, Keras and Pillow; torch: PyTorch); created or fixed as needed. Its python.
 */
function ensureVenv(name: 'keras' | 'torch'): string {
  const venv = join(benchDir, `.venv-${name}`);
  const requirements = `requirements-${name}.txt`;
  const venvPython = join(venv, 'bin', 'python');
  const pins = requirementPins(requirements);
  if (!existsSync(venvPython)) {
    const base = process.env.AFFECTLAB_PYTHON ?? 'python3';
    log(`creating ${venv} with ${base}`);
    const made = spawnSync(base, ['-m', 'venv', venv], { stdio: ['ignore', 2, 2] });
    if (made.status !== 0) {
      throw new UserError(
        `could not create the ${name} virtual environment with '${base} -m venv ${venv}' ` +
          '(Debian: apt-get install python3-venv; or set AFFECTLAB_PYTHON to a Python >= 3.9)',
      );
    }
  }
  const matches = (): boolean => {
    const found = installedPins(venvPython, [...pins.keys()]);
    return found !== undefined && [...pins].every(([pkg, pin]) => meetsPin(found[pkg], pin));
  };
  if (!matches()) {
    log(`installing ${[...pins].map(([n, v]) => `${n}==${v}`).join(' ')} into ${venv} (once)`);
    const pip = spawnSync(
      venvPython,
      [
        ...['-m', 'pip', 'install', '--disable-pip-version-check'],
        ...['-r', join(benchDir, requirements), ...[...pins].map(([n, v]) => `${n}==${v}`)],
      ],
      { stdio: ['ignore', 2, 2] },
    );
    if (pip.status !== 0 || !matches()) {
      throw new UserError(
        `pip could not install bench/${requirements} into ${venv}; see pip's output above`,
      );
    }
  }
  return venvPython;
}

/**
 * The runner's training split of the synthetic set, written for the Python workers so both
 * frameworks read the same files with the same face boxes.
 */
async function writeImageList(root: string, work: string, file: string): Promise<ListedImage[]> {
  const runtime = createRuntime();
  runtime.logger.level = 'warn';
  runtime.registry.register(benchGatePlugin);
  const experiment = join(work, 'list.yaml');
  writeFileSync(
    experiment,
    benchExperimentYaml({
      name: 'bench-list',
      root,
      size: 64,
      batch: 64,
      stepsPerEpoch: 1,
      epochs: 1,
      runsRoot: join(work, 'runs'),
      gate: false,
    }),
  );
  const resolved = await runtime.resolve(experiment);
  const scope = runtime.createRunContainer(resolved, work);
  const dataset = runtime.instantiate<DatasetPlugin>(scope, 'dataset', resolved.config.dataset);
  const splits = await dataset.prepare();
  const images: ListedImage[] = splits.train.map((e) => {
    if (!e.crop) throw new Error(`${e.source ?? e.id}: the synthetic set should have face boxes`);
    return {
      path: e.imagePath,
      box: [e.crop.x, e.crop.y, e.crop.width, e.crop.height],
      label: e.label,
    };
  });
  writeFileSync(file, JSON.stringify(images));
  return images;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line?.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function packageVersion(name: string): string {
  const file = join(repoRoot, 'node_modules', name, 'package.json');
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    : 'missing';
}

// ---- the benchmark ----------------------------------------------------------------------------

interface TrainingFigure {
  /** The architecture type (vgg-type: the report's Appendix C net). */
  model: string;
  size: number;
  batch: number;
  stepsPerRepetition: number;
  figure: 'step' | 'end-to-end';
  /** affectlab with the compiled step (training.execution: graph). */
  affectlab: Side;
  /** affectlab's eager engine (tfjs-layers' trainOnBatch); step figures only. */
  eager?: Side;
  /** Keras graph mode (fit / train_on_batch default). */
  keras: Side;
  /** Keras with run_eagerly=True; step figures only. */
  kerasEager?: Side;
  /** PyTorch eager (CPU, channels_last), the VGG-type rows. */
  torch?: Side;
  /** affectlab (graph) / PyTorch. */
  torchRatio?: { values: number[]; spread: Spread };
  /** affectlab's end-to-end run kept the dataset's default augmentation. */
  augmented?: boolean;
  /** FLOPs of one training step per image (PyTorch's count of the same net), when measured. */
  flopsPerImage?: number;
  /** affectlab (graph) / Keras graph. */
  ratio: { values: number[]; spread: Spread };
  /** affectlab eager / Keras graph. */
  eagerRatio?: { values: number[]; spread: Spread };
}

/** The pipelines compared; ratios are affectlab's default loader against each reference. */
const PIPELINES = {
  affectlab: 'affectlab, 1 worker thread (default)',
  affectlabInProcess: 'affectlab, in-process',
  pil: 'PIL, one thread per core',
  tfdata: 'tf.data',
} as const;
type PipelineName = keyof typeof PIPELINES;

interface PipelineFigure {
  size: number;
  images: number;
  sides: Record<PipelineName, Side>;
  ratioToPil: { values: number[]; spread: Spread };
  ratioToTfData: { values: number[]; spread: Spread };
}

/** What the figures of one input size share: its batch, steps, worker arguments, files. */
interface SizeSetup {
  size: number;
  batch: number;
  steps: number;
  /** The workers' --size/--batch/--steps arguments. */
  common: string[];
  work: string;
  /** Write the bench experiment for this size; its path. */
  experiment: (
    name: string,
    epochs: number,
    gate: boolean,
    execution?: 'graph' | 'eager',
    augment?: boolean,
  ) => string;
  /** The PyTorch worker of a mode, as a starts entry (none with --skip-torch). */
  torch: (mode: string, extra?: string[]) => Record<string, () => WorkerProcess>;
}

function sizeSetup(root: string, work: string, size: number): SizeSetup {
  const batch = batchFor(size);
  const steps = stepsFor(size);
  const common = ['--size', String(size), '--batch', String(batch), '--steps', String(steps)];
  return {
    size,
    batch,
    steps,
    common,
    work,
    experiment: (name, epochs, gate, execution, augment = false) => {
      const file = join(work, `${name}.yaml`);
      writeFileSync(
        file,
        benchExperimentYaml({
          name,
          root,
          size,
          batch,
          stepsPerEpoch: steps,
          epochs,
          runsRoot: join(work, 'runs'),
          gate,
          execution,
          augment,
        }),
      );
      return file;
    },
    torch: (mode, extra = []): Record<string, () => WorkerProcess> =>
      withTorch ? { torch: () => torchWorker(`${mode} ${size}`, [mode, ...common, ...extra]) } : {},
  };
}

/** The step-only row of one size: affectlab graph (and eager), Keras graph (and eager), PyTorch. */
async function stepFigure(setup: SizeSetup): Promise<TrainingFigure> {
  const { size, batch, steps, common, work, torch } = setup;
  const stepFile = setup.experiment(`bench-step-${size}`, 1, false);
  const affectlabStep = (execution: 'graph' | 'eager') => () =>
    nodeWorker(`affectlab ${execution} step ${size}`, [
      'affectlab-step',
      ...common,
      '--experiment',
      stepFile,
      '--work',
      work,
      '--execution',
      execution,
    ]);
  const withEager = eagerSizes.includes(size);
  const step = await interleaved(`${size} px step`, {
    graph: affectlabStep('graph'),
    keras: () => pythonWorker(`keras step ${size}`, ['keras-step', ...common]),
    ...torch('torch-step'),
    ...(withEager
      ? {
          eager: affectlabStep('eager'),
          kerasEager: () =>
            pythonWorker(`keras eager step ${size}`, ['keras-step', ...common, '--run-eagerly']),
        }
      : {}),
  });
  return {
    model: 'vgg-type',
    size,
    batch,
    stepsPerRepetition: steps,
    figure: 'step',
    affectlab: step.graph,
    eager: step.eager,
    keras: step.keras,
    kerasEager: step.kerasEager,
    torch: step.torch,
    ratio: ratio(step.graph, step.keras),
    eagerRatio: step.eager ? ratio(step.eager, step.keras) : undefined,
    torchRatio: step.torch ? ratio(step.graph, step.torch) : undefined,
    flopsPerImage: step.torch?.flopsPerImage,
  };
}

/** The end-to-end row of one size: JPEG files to weights, alternating. */
async function endToEndFigure(
  setup: SizeSetup,
  listFile: string,
  flopsPerImage: number | undefined,
): Promise<TrainingFigure> {
  const { size, batch, steps, common, work, torch } = setup;
  // epoch 0 warms up; each repetition measures one epoch and runs one more (train-worker.ts)
  const e2eFile = setup.experiment(
    `bench-e2e-${size}`,
    2 * reps + 2,
    true,
    'graph',
    values['e2e-augment'],
  );
  const cacheDir = mkdtempSync(join(work, 'cache-'));
  const e2e = await interleaved(`${size} px end-to-end`, {
    affectlab: () =>
      nodeWorker(`affectlab e2e ${size}`, [
        'affectlab-e2e',
        ...common,
        '--experiment',
        e2eFile,
        '--work',
        cacheDir,
      ]),
    keras: () =>
      pythonWorker(`keras e2e ${size}`, [
        'keras-e2e',
        ...common,
        '--list',
        listFile,
        '--margin',
        String(MARGIN),
      ]),
    ...torch('torch-e2e', ['--list', listFile, '--margin', String(MARGIN)]),
  });
  return {
    model: 'vgg-type',
    size,
    batch,
    stepsPerRepetition: steps,
    figure: 'end-to-end',
    affectlab: e2e.affectlab,
    keras: e2e.keras,
    torch: e2e.torch,
    ratio: ratio(e2e.affectlab, e2e.keras),
    torchRatio: e2e.torch ? ratio(e2e.affectlab, e2e.torch) : undefined,
    augmented: values['e2e-augment'],
    flopsPerImage,
  };
}

async function trainingFigures(
  root: string,
  listFile: string,
  work: string,
): Promise<TrainingFigure[]> {
  const figures: TrainingFigure[] = [];
  for (const size of sizes) {
    const setup = sizeSetup(root, work, size);
    const step = await stepFigure(setup);
    figures.push(step, await endToEndFigure(setup, listFile, step.flopsPerImage));
  }
  return figures;
}

/**
 * The backbone rows: one training step of each Keras Applications backbone (its affectlab
 * defaults, 6 classes) in the compiled graph against the same model in Keras graph mode
 * (train_on_batch), alternating.
 */
async function backboneFigures(root: string, work: string): Promise<TrainingFigure[]> {
  const figures: TrainingFigure[] = [];
  const [size, batch, steps] = [backboneSize, backboneBatch, backboneSteps];
  for (const architecture of backbones) {
    const name = `bench-${architecture}-${size}`;
    const file = join(work, `${name}.yaml`);
    writeFileSync(
      file,
      benchExperimentYaml({
        name,
        root,
        size,
        batch,
        stepsPerEpoch: steps,
        epochs: 1,
        runsRoot: join(work, 'runs'),
        gate: false,
        architecture,
      }),
    );
    const common = ['--size', String(size), '--batch', String(batch), '--steps', String(steps)];
    const label = `${architecture} ${size} px step`;
    const step = await interleaved(label, {
      graph: () =>
        nodeWorker(`affectlab graph ${label}`, [
          'affectlab-step',
          ...common,
          '--experiment',
          file,
          '--work',
          work,
          '--execution',
          'graph',
        ]),
      keras: () =>
        pythonWorker(`keras ${label}`, ['keras-step', ...common, '--architecture', architecture]),
    });
    figures.push({
      model: architecture,
      size,
      batch,
      stepsPerRepetition: steps,
      figure: 'step',
      affectlab: step.graph,
      keras: step.keras,
      ratio: ratio(step.graph, step.keras),
    });
  }
  return figures;
}

/** The cores' float32 multiply ceiling: a 4096 x 4096 sgemm in PyTorch (GFLOP/s per repetition). */
async function sgemmCeiling(): Promise<Spread> {
  const n = 4096;
  const side = (
    await interleaved('sgemm', { sgemm: () => torchWorker('sgemm', ['sgemm', '--steps', '2']) })
  ).sgemm;
  return spread(side.imagesPerSecond.map((products) => (products * 2 * n ** 3) / 1e9));
}

async function pipelineFigures(listFile: string): Promise<PipelineFigure[]> {
  const figures: PipelineFigure[] = [];
  for (const size of pipelineSizes) {
    const common = [
      '--size',
      String(size),
      '--batch',
      String(PIPELINE_BATCH),
      '--images',
      String(pipelineImages),
      '--list',
      listFile,
      '--margin',
      String(MARGIN),
    ];
    const sides = (await interleaved(`${size} px pipeline`, {
      affectlab: () => nodeWorker(`affectlab pipeline ${size}`, ['affectlab-pipeline', ...common]),
      affectlabInProcess: () =>
        nodeWorker(`affectlab in-process pipeline ${size}`, [
          'affectlab-pipeline',
          ...common,
          '--workers',
          '0',
        ]),
      pil: () => pythonWorker(`pil ${size}`, ['pil', ...common]),
      tfdata: () => pythonWorker(`tf.data ${size}`, ['tfdata', ...common]),
    })) as Record<PipelineName, Side>;
    figures.push({
      size,
      images: sides.affectlab.images,
      sides,
      ratioToPil: ratio(sides.affectlab, sides.pil),
      ratioToTfData: ratio(sides.affectlab, sides.tfdata),
    });
  }
  return figures;
}

const f = (x: number, digits = 2): string => x.toFixed(digits);
const triple = (s: Spread, digits = 2): string =>
  `${f(s.min, digits)} / **${f(s.median, digits)}** / ${f(s.max, digits)}`;
const mib = (x: number): string => x.toFixed(0);

function figureName(t: TrainingFigure): string {
  const steps = `${t.stepsPerRepetition} steps`;
  if (t.figure === 'step') return `step only (${steps})`;
  return `end to end (${steps}${t.augmented ? ', affectlab with the default augmentation' : ''})`;
}

function trainingRow(t: TrainingFigure, ceiling: number | undefined): string {
  const dash = (side?: Side): string => (side ? triple(side.spread) : '-');
  const ratioText = (r?: { spread: Spread }): string => (r ? triple(r.spread) : '-');
  const gflops = (side?: Side): string => {
    if (!side || !t.flopsPerImage) return '-';
    const rate = (side.spread.median * t.flopsPerImage) / 1e9;
    return `${f(rate, 1)}${ceiling ? ` (${f((100 * rate) / ceiling, 0)} %)` : ''}`;
  };
  const rss = [t.affectlab, t.eager, t.keras, t.torch]
    .map((side) => (side ? mib(side.peakRssMiB) : '-'))
    .join(' / ');
  return `| ${t.model} | ${t.size} px | ${t.batch} | ${figureName(t)} | ${triple(t.affectlab.spread)} | ${dash(t.eager)} | ${triple(t.keras.spread)} | ${dash(t.kerasEager)} | ${dash(t.torch)} | ${triple(t.ratio.spread)} | ${ratioText(t.eagerRatio)} | ${ratioText(t.torchRatio)} | ${gflops(t.affectlab)} / ${gflops(t.torch)} | ${rss} |`;
}

function markdown(report: {
  machine: string;
  load: { before: number; during: Spread };
  training: TrainingFigure[];
  sgemmGflops?: Spread;
  pipeline: PipelineFigure[];
  command: string;
  versions: string;
}): string {
  const lines: string[] = [];
  lines.push(`machine: ${report.machine}`);
  lines.push(`versions: ${report.versions}`);
  lines.push(
    `load average (1 min): ${f(report.load.before)} before the bench; ${triple(report.load.during)} (min / median / max) at the start of the measurements (the bench itself adds ~1-2)`,
  );
  lines.push(
    `repetitions: ${reps} per figure, affectlab and the reference alternating (A B, B A, ...); values are min / **median** / max`,
  );
  if (report.training.length) {
    const ceiling = report.sgemmGflops;
    lines.push(
      '',
      "### Training throughput (images/s), native CPU backend (vgg-type: the report's Appendix C net)",
      '',
    );
    if (ceiling)
      lines.push(
        `sgemm ceiling (4096 x 4096 float32, PyTorch, all cores): ${triple(ceiling, 1)} GFLOP/s; a row's GFLOP/s is its median images/s x PyTorch's FLOP count of one forward + backward of the same net (optimizer not counted), its share of the median ceiling in brackets.`,
        '',
      );
    lines.push(
      '| model | input | batch | figure | affectlab graph | affectlab eager | Keras graph | Keras eager | PyTorch | affectlab graph / Keras graph | affectlab eager / Keras graph | affectlab graph / PyTorch | GFLOP/s affectlab graph / PyTorch | peak RSS affectlab graph / eager / Keras graph / PyTorch (MiB) |',
    );
    lines.push('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const t of report.training) lines.push(trainingRow(t, ceiling?.median));
  }
  if (report.pipeline.length) {
    const names = Object.keys(PIPELINES) as PipelineName[];
    lines.push(
      '',
      `### Image pipeline alone (images/s): decode JPEG, crop face box +10%, bilinear resize (antialiased) on every side, /255, batches of ${PIPELINE_BATCH}`,
      '',
    );
    lines.push(
      `| output | ${names.map((n) => PIPELINES[n]).join(' | ')} | affectlab / PIL | affectlab / tf.data | peak RSS, same order (MiB) |`,
    );
    lines.push(`|---:|${names.map(() => '---:|').join('')}---:|---:|---:|`);
    for (const p of report.pipeline) {
      lines.push(
        `| ${p.size} px | ${names.map((n) => triple(p.sides[n].spread, 0)).join(' | ')} | ${triple(p.ratioToPil.spread)} | ${triple(p.ratioToTfData.spread)} | ${names.map((n) => mib(p.sides[n].peakRssMiB)).join(' / ')} |`,
      );
    }
  }
  lines.push('', `reproduce: \`${report.command}\``);
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadBefore = loadavg()[0];
  if (!existsSync(join(repoRoot, 'dist', 'bench', 'train-worker.js'))) {
    throw new UserError(
      'dist/bench/train-worker.js is missing: run `npm run build` first (npm run bench:train does)',
    );
  }
  // oneDNN's CPU kernels on for both TensorFlow sides (TensorFlow enables them by itself only on
  // AVX-512 VNNI/AMX CPUs): the two compare the same kernels, the fast ones; an explicit
  // TF_ENABLE_ONEDNN_OPTS=0 compares TensorFlow's own kernels instead
  process.env.TF_ENABLE_ONEDNN_OPTS ??= '1';
  python = ensureVenv('keras');
  if (withTorch) torchPython = ensureVenv('torch');

  const root = join(repoRoot, '.cache', 'affectlab', `bench-synth-${synthSize}`);
  const synth = await ensureSyntheticAffectNet({
    out: root,
    count: synthCount,
    size: synthSize,
    seed: 1,
  });
  log(
    synth.reused
      ? `using ${root}`
      : `generated ${synth.images} images at ${synthSize} px in ${synth.seconds.toFixed(1)} s`,
  );

  const work = mkdtempSync(join(tmpdir(), 'affectlab-bench-train-'));
  try {
    const listFile = join(work, 'train-list.json');
    const images = await writeImageList(root, work, listFile);
    log(`${images.length} training images listed`);
    const pipeline = values['skip-pipeline'] ? [] : await pipelineFigures(listFile);
    const sgemmGflops = withTorch && !values['skip-train'] ? await sgemmCeiling() : undefined;
    const training = values['skip-train']
      ? []
      : [...(await trainingFigures(root, listFile, work)), ...(await backboneFigures(root, work))];

    const cores = availableParallelism();
    const machine = `${cores} x ${cpuModel()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}`;
    const versions =
      `node ${process.version}, @tensorflow/tfjs ${packageVersion('@tensorflow/tfjs')}, @tensorflow/tfjs-node ${packageVersion('@tensorflow/tfjs-node')} (libtensorflow from tensorflow-cpu ${TENSORFLOW_VERSION}; TF_ENABLE_ONEDNN_OPTS=${process.env.TF_ENABLE_ONEDNN_OPTS} for affectlab and Keras, set by the bench), sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}); ` +
      Object.entries(pythonVersions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    const command = `npm run bench:train${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const load = {
      before: loadBefore,
      during: spread(loadSamples.length ? loadSamples : [loadBefore]),
    };
    const report = { machine, versions, load, training, sgemmGflops, pipeline, command };
    const table = markdown(report);
    process.stdout.write('\n' + table);
    const out = resolve(values.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      JSON.stringify(
        {
          benchmark: 'train',
          date: new Date().toISOString(),
          command,
          machine: {
            cores,
            cpuModel: cpuModel(),
            memoryGiB: totalmem() / 2 ** 30,
            kernel: release(),
          },
          versions,
          load,
          loadSamples,
          settings: {
            reps,
            synthetic: {
              root,
              count: synthCount,
              sourceSize: synthSize,
              trainingImages: images.length,
            },
            margin: MARGIN,
            pipelineImages,
            pipelineBatch: PIPELINE_BATCH,
          },
          sgemmGflops,
          training,
          pipeline,
          seconds: (performance.now() - started) / 1000,
        },
        null,
        2,
      ) + '\n',
    );
    writeFileSync(out.replace(/\.json$/, '.md'), table);
    log(
      `wrote ${values.out} and ${values.out.replace(/\.json$/, '.md')} in ${((performance.now() - started) / 60000).toFixed(1)} min`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(
    `bench:train: ${error instanceof UserError ? error.message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exitCode = 1;
}
