import type { BackendPreference } from '../training/backend.js';

/** `training.execution`: the engine a run asks for (engine/ decides what `auto` gives). */
export type ExecutionPreference = 'auto' | 'eager' | 'graph';

/** `{ type: <registered name>, ...options }` */
export interface PluginRef {
  type: string;
  [option: string]: unknown;
}

export interface TrainingConfig {
  epochs: number;
  batchSize: number;
  stepsPerEpoch?: number;
  validationSteps?: number;
  backend: BackendPreference;
  execution: ExecutionPreference;
  /** A registered optimizer plugin and its hyperparameters (`learningRate` among them). */
  optimizer: PluginRef;
  /**
   * Shorthand for an LR-schedule callback: `schedule` is its registered schedule name (or
   * `constant`), the other keys its options.
   */
  learningRate?: { schedule: string; monitor?: string; [option: string]: unknown };
  earlyStopping?: {
    monitor: string;
    patience: number;
    mode: 'min' | 'max' | 'auto';
    minDelta: number;
  };
  checkpoint?: {
    monitor: string;
    mode: 'min' | 'max' | 'auto';
    saveBest: boolean;
  };
  loss?: {
    /** A registered loss plugin's name or `{ type, ...options }`. */
    classification: string | PluginRef;
    regression: string | PluginRef;
    expressionWeight: number;
    regressionWeight: number;
  };
}

export interface EvaluationConfig {
  split: 'test' | 'validation';
  normalized: boolean;
}

/** A random sweep's distribution of one parameter (bounds inclusive for `int`). */
export type SweepDistribution =
  | { choice: unknown[] }
  | { uniform: [number, number] }
  | { loguniform: [number, number] }
  | { int: [number, number] };

export interface SweepConfig {
  mode: 'grid' | 'zip' | 'random';
  group?: string;
  /** random: how many trials to draw. */
  trials?: number;
  /** random: the seed of the draws (default: the experiment's seed). */
  seed?: number;
  /** Runs per combination, each with its own seed (experiment seed + 0, 1, ...). */
  repeat?: number;
  /** A callback every trial gets, with the sweep as context (e.g. `asha`). */
  scheduler?: PluginRef;
  /** A list of values; in random mode also a distribution. */
  parameters: Record<string, unknown[] | SweepDistribution>;
}

/** A validated experiment, schema defaults filled in. */
export interface ExperimentConfig {
  name: string;
  description?: string;
  seed: number;
  plugins?: string[];
  tags?: Record<string, string>;
  runs?: { root: string };
  /** The preprocessed-image cache; schema default maxGiB 64 (0 = off). */
  imageCache?: { maxGiB: number };
  dataset: PluginRef;
  sampler?: PluginRef;
  architecture: PluginRef;
  training: TrainingConfig;
  evaluation?: EvaluationConfig;
  reporters?: PluginRef[];
  /** How a sweep's combinations run (local child processes by default). */
  launcher?: PluginRef;
  callbacks?: PluginRef[];
  sweep?: SweepConfig;
}
