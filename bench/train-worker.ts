/**
 * Node side of `npm run bench:train`: one measurement kind per process, so each gets its own
 * peak RSS. bench/train.ts starts it; the protocol is in train-common.ts.
 *
 *   node dist/bench/train-worker.js <mode> --size N --batch B --steps K [--reps R]
 *        [--experiment file.yaml] [--list images.json] [--images N] [--work DIR]
 *
 * Modes:
 *   affectlab-step      the engine's trainStep on one fixed in-memory batch (K timed steps;
 *                       --execution eager: tfjs-layers' trainOnBatch, graph: the compiled step)
 *   affectlab-e2e       the runner (runExperiment): JPEG files -> image pipeline -> training,
 *                       one epoch of K steps per repetition; epoch 0 is the warm-up
 *   affectlab-pipeline  ImagePipeline.batches over --images files (no cache; --workers N threads)
 */
import 'reflect-metadata';
import { readFileSync, readSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  BackendService,
  ImagePipeline,
  RunStore,
  createRuntime,
  runExperiment,
  type Example,
  type Runtime,
} from '../src/index.js';
import {
  REPLY_MARKER,
  benchGatePlugin,
  setEpochGate,
  type DoneReply,
  type MeasureReply,
  type ReadyReply,
  type WorkerCommand,
} from './train-common.js';
import { buildStepEngine } from './step-engine.js';

/** One image of the list bench/train.ts writes (shared with the Python workers). */
export interface ListedImage {
  path: string;
  /** Face box [x, y, width, height]. */
  box: [number, number, number, number];
  label: number;
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    size: { type: 'string' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
    reps: { type: 'string', default: '3' },
    images: { type: 'string', default: '640' },
    margin: { type: 'string', default: '0.1' },
    /** Pipeline worker threads; default: the pipeline's own default. */
    workers: { type: 'string' },
    experiment: { type: 'string' },
    /** affectlab-step: the execution engine (eager | graph). */
    execution: { type: 'string' },
    list: { type: 'string' },
    work: { type: 'string' },
  },
});
const mode = positionals[0];

function reply(payload: ReadyReply | MeasureReply | DoneReply): void {
  // synchronous: the end-to-end worker blocks its thread right after replying
  writeSync(1, REPLY_MARKER + JSON.stringify(payload) + '\n');
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function required(name: keyof typeof values): string {
  const value = values[name];
  if (typeof value !== 'string') throw new Error(`${mode}: --${name} is required`);
  return value;
}

/** Commands from the orchestrator, one per stdin line (opened on first use). */
let commandLines: AsyncIterator<string> | undefined;
async function nextCommand(): Promise<WorkerCommand> {
  commandLines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const { value, done } = await commandLines.next();
  return done ? { op: 'quit' } : (JSON.parse(value as string) as WorkerCommand);
}

/**
 * The next command read synchronously from fd 0, for a gate that must hold the training loop
 * (a callback cannot await). Never mixed with `nextCommand` in one process.
 */
let pendingInput = '';
function nextCommandSync(): WorkerCommand {
  const buffer = Buffer.alloc(4096);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!pendingInput.includes('\n')) {
    let n: number;
    try {
      n = readSync(0, buffer, 0, buffer.length, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 10);
      continue;
    }
    if (n === 0) return { op: 'quit' };
    pendingInput += buffer.toString('utf8', 0, n);
  }
  const newline = pendingInput.indexOf('\n');
  const line = pendingInput.slice(0, newline);
  pendingInput = pendingInput.slice(newline + 1);
  return JSON.parse(line) as WorkerCommand;
}

function quietRuntime(): Runtime {
  const runtime = createRuntime();
  runtime.logger.level = 'warn';
  runtime.registry.register(benchGatePlugin);
  // the gate is the only reporter: no console progress, no MLflow even if the env names one
  runtime.reportersFor = (config) => config.reporters ?? [];
  return runtime;
}

/** Serve `measure` commands with `measure` until `quit`. */
async function serve(measure: () => Promise<Omit<MeasureReply, 'peakRssMiB'>>): Promise<void> {
  for (;;) {
    const command = await nextCommand();
    if (command.op === 'quit') break;
    reply({ ...(await measure()), peakRssMiB: peakRssMiB() });
  }
  reply({ done: true, peakRssMiB: peakRssMiB() });
}

/** The model step alone, built and compiled exactly as the runner does it. */
async function stepWorker(runtime: Runtime): Promise<void> {
  const started = performance.now();
  const { engine, batch, shape, x, labels } = await buildStepEngine(
    runtime,
    required('experiment'),
    required('work'),
    (values.execution ?? 'eager') as 'eager' | 'graph',
  );
  const steps = Number(required('steps'));
  const train = async (count: number): Promise<Omit<MeasureReply, 'peakRssMiB'>> => {
    const t0 = performance.now();
    let loss = NaN;
    for (let i = 0; i < count; i++) {
      loss = (await engine.trainStep({ x, shape }, { classes: labels }, i)).loss;
    }
    return { images: count * batch, seconds: (performance.now() - t0) / 1000, loss };
  };
  await train(1);
  reply({ ready: true, warmUpSeconds: (performance.now() - started) / 1000 });
  await serve(() => train(steps));
}

/**
 * The runner end to end: one run of 2 reps + 1 epochs, held at each epoch end by the bench-gate
 * callback (inside the loop: the only place a run can be held, since reporters are delivered in
 * the background). A `measure` received at epoch e's end measures epoch e + 1; its record (the
 * runner's own figure: data pipeline and training, no validation) is appended only after epoch
 * e + 1's callbacks, so the reply goes out at epoch e + 2's end. That extra epoch runs while the
 * orchestrator still waits for this worker, so no epoch overlaps the other side. Epoch 0 is the
 * warm-up.
 */
async function endToEndWorker(runtime: Runtime): Promise<void> {
  const started = performance.now();
  const resolved = await runtime.resolve(required('experiment'));
  const { config } = resolved;
  const runsDir = join(config.runs?.root ?? 'runs', config.name);
  const stopSignal = { stop: false, reason: 'bench quit' };
  let quit = false;
  let measured: number | undefined;
  const epochRecord = (epoch: number) => {
    const [id] = readdirSync(runsDir);
    const record = new RunStore(join(runsDir, id)).readEpochs().find((e) => e.epoch === epoch);
    if (!record) throw new Error(`bench-gate: ${runsDir} has no record of epoch ${epoch}`);
    return record;
  };
  setEpochGate((epoch, control) => {
    if (quit) return;
    if (epoch.epoch === 0)
      reply({ ready: true, warmUpSeconds: (performance.now() - started) / 1000 });
    else if (measured === epoch.epoch)
      return; // its record is appended after this callback
    else if (measured !== undefined) {
      const record = epochRecord(measured);
      reply({
        images: Math.round(record.imagesPerSecond * record.seconds),
        seconds: record.seconds,
        loss: record.metrics.loss,
        peakRssMiB: peakRssMiB(),
      });
    }
    const command = nextCommandSync();
    if (command.op === 'quit') {
      quit = true;
      stopSignal.stop = true;
      control.stopTraining('bench quit');
    } else measured = epoch.epoch + 1;
  });
  const result = await runExperiment(runtime, resolved, {
    cacheDir: required('work'),
    stopSignal,
  });
  if (!quit) throw new Error(`the run ended (${result.status}) before the last repetition`);
  reply({ done: true, peakRssMiB: peakRssMiB() });
}

/** affectlab's image pipeline alone: decode + crop + resize + float32, no cache, in batches. */
async function pipelineWorker(): Promise<void> {
  const started = performance.now();
  const size = Number(required('size'));
  const batch = Number(required('batch'));
  const listed = JSON.parse(readFileSync(required('list'), 'utf8')) as ListedImage[];
  const examples: Example[] = listed.slice(0, Number(values.images)).map((item) => ({
    id: item.path,
    imagePath: item.path,
    label: item.label,
    crop: { x: item.box[0], y: item.box[1], width: item.box[2], height: item.box[3] },
  }));
  const pipeline = new ImagePipeline({
    image: { height: size, width: size, channels: 3 },
    margin: Number(values.margin),
    workers: values.workers === undefined ? undefined : Number(values.workers),
  });
  const pass = async (list: Example[]): Promise<Omit<MeasureReply, 'peakRssMiB'>> => {
    const t0 = performance.now();
    let images = 0;
    const order = list.map((_, i) => i);
    for await (const b of pipeline.batches(list, order, batch)) images += b.shape[0];
    if (pipeline.stats.skipped > 0) throw new Error(`${pipeline.stats.skipped} images skipped`);
    return { images, seconds: (performance.now() - t0) / 1000 };
  };
  await pass(examples.slice(0, batch));
  reply({ ready: true, warmUpSeconds: (performance.now() - started) / 1000 });
  await serve(() => pass(examples));
  await pipeline.close();
}

async function main(): Promise<void> {
  if (mode === 'affectlab-pipeline') return pipelineWorker();
  const runtime = quietRuntime();
  await runtime.container.resolve(BackendService).activate('tensorflow');
  if (mode === 'affectlab-step') return stepWorker(runtime);
  if (mode === 'affectlab-e2e') return endToEndWorker(runtime);
  throw new Error(`unknown mode ${String(mode)}`);
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`[${String(mode)}] ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}
