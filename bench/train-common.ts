/**
 * What bench/train.ts (the orchestrator) and bench/train-worker.ts (its Node workers) share:
 * the benchmark experiment, the reporter that pauses the runner between epochs, and the line
 * protocol every worker (Node or Python) speaks.
 */
import 'reflect-metadata';
import { inject, injectable } from 'tsyringe';
import {
  PLUGIN_OPTIONS,
  type EpochEndInfo,
  type PluginDefinition,
  type TrainingCallback,
  type TrainingControl,
} from '../src/index.js';

/** Worker replies on stdout start with this; any other stdout line is a stray log line. */
export const REPLY_MARKER = '@@bench ';

/** A worker's first reply, once it has set up and warmed up. */
export interface ReadyReply {
  ready: true;
  warmUpSeconds: number;
  versions?: Record<string, string>;
  /** Floating-point operations of one training step per image (the PyTorch step worker). */
  flopsPerImage?: number;
}

/** One timed repetition. */
export interface MeasureReply {
  images: number;
  seconds: number;
  loss?: number;
  /** The worker process's peak resident set size so far. */
  peakRssMiB: number;
}

export interface DoneReply {
  done: true;
  peakRssMiB: number;
}

export type WorkerCommand = { op: 'measure' } | { op: 'quit' };

export interface BenchExperimentOptions {
  name: string;
  /** Synthetic AffectNet root. */
  root: string;
  size: number;
  batch: number;
  stepsPerEpoch: number;
  epochs: number;
  runsRoot: string;
  /** List the pausing reporter (the Node end-to-end worker); the orchestrator needs no reporter. */
  gate: boolean;
  /** training.execution of the run (the runner's engine choice). */
  execution?: 'auto' | 'graph' | 'eager';
  /** The architecture type with its defaults (vgg-type unless given). */
  architecture?: string;
  /** Keep the affectnet dataset's default augmentation (else none, as the Python sides). */
  augment?: boolean;
}

/**
 * The benchmark as an affectlab experiment: the report's VGG-type net (Appendix C defaults), or
 * another architecture with its defaults (the backbone rows), on
 * the synthetic set, Adam 0.001 and plain cross-entropy (no sampler: the weighted loss costs the
 * same), on the native backend. Augmentation is off because the Keras pipeline has none, unless
 * `augment` asks for the dataset's default (the end-to-end rows: is augmenting free?); the
 * validation and test splits are tiny so the untimed work between epochs stays short.
 */
export function benchExperimentYaml(o: BenchExperimentOptions): string {
  const q = (s: string): string => JSON.stringify(s);
  return `name: ${o.name}
seed: 1
runs: { root: ${q(o.runsRoot)} }
dataset:
  type: affectnet
  root: ${q(o.root)}
  classes: report6
  imageSize: ${o.size}
  split: { policy: report-table3, validationPerClass: 1, limit: { test: 8 } }
${o.augment ? '' : '  augment: { flip: false, shift: 0, rotate: 0, brightness: 0, contrast: 0 }\n'}architecture: { type: ${o.architecture ?? 'vgg-type'} }
training:
  epochs: ${o.epochs}
  batchSize: ${o.batch}
  stepsPerEpoch: ${o.stepsPerEpoch}
  validationSteps: 1
  backend: tensorflow
  execution: ${o.execution ?? 'auto'}
  optimizer: { type: adam, learningRate: 0.001 }
reporters: []
callbacks: [${o.gate ? `{ type: ${BENCH_GATE_TYPE} }` : ''}]
`;
}

/**
 * Called at each epoch's end; training resumes when it returns. Synchronous on purpose: it runs
 * as a training callback, inside the loop (reporters are delivered in the background and cannot
 * hold the runner).
 */
export type EpochGate = (epoch: EpochEndInfo, control: TrainingControl) => void;

let epochGate: EpochGate | undefined;

/** Install the function the bench-gate callback calls at each epoch's end. */
export function setEpochGate(gate: EpochGate): void {
  epochGate = gate;
}

/**
 * Holds the runner at each epoch's end until the orchestrator asks for the next repetition, so
 * one run (one model, one warm-up) yields every repetition, interleaved with Keras'.
 */
@injectable()
export class BenchGateCallback implements TrainingCallback {
  constructor(@inject(PLUGIN_OPTIONS) _options: Record<string, never>) {}

  onEpochEnd(epoch: EpochEndInfo, control: TrainingControl): void {
    if (!epochGate) throw new Error('bench-gate: no epoch gate installed');
    epochGate(epoch, control);
  }
}

export const BENCH_GATE_TYPE = 'bench-gate';

export const benchGatePlugin: PluginDefinition<BenchGateCallback> = {
  kind: 'callback',
  type: BENCH_GATE_TYPE,
  description: 'Benchmark only: pauses the runner at each epoch end until the next repetition',
  optionsSchema: { type: 'object', properties: {} },
  implementation: BenchGateCallback,
};
