/**
 * The types of a validated experiment. The core sections' types come from their TypeBox
 * definitions in schema.ts (one definition for the JSON Schema and the type); what stays
 * written here is the plugin reference and the learning-rate and loss settings, whose
 * sub-schemas are plain JSON Schema (learningRate made per registry).
 */
import type { Static } from '@sinclair/typebox';
import type {
  evaluationSchema,
  experimentSections,
  sweepSchema,
  trainingSchema,
} from './schema.js';
import type { TObject } from '@sinclair/typebox';

/** `{ type: <registered name>, ...options }` */
export interface PluginRef {
  type: string;
  [option: string]: unknown;
}

/** `training.loss`: the loss of each head, a registered loss plugin's name or `{ type, ...options }`. */
export interface LossConfig {
  classification: string | PluginRef;
  regression: string | PluginRef;
  expressionWeight: number;
  regressionWeight: number;
}

/** A random sweep's distribution of one parameter (bounds inclusive for `int`). */
export type SweepDistribution =
  | { choice: unknown[] }
  | { uniform: [number, number] }
  | { loguniform: [number, number] }
  | { int: [number, number] };

/**
 * `training:`, schema defaults filled in. `optimizer` is a registered optimizer plugin and its
 * hyperparameters; `learningRate` is the shorthand for an LR-schedule callback (`schedule` its
 * registered schedule name, or `constant`; the other keys its options), whose schema is made
 * per registry.
 */
export type TrainingConfig = Static<typeof trainingSchema> & {
  learningRate?: { schedule: string; monitor?: string; [option: string]: unknown };
};

/** `training.execution`: the engine a run asks for (engine/ decides what `auto` gives). */
export type ExecutionPreference = TrainingConfig['execution'];

export type EvaluationConfig = Static<typeof evaluationSchema>;

/** `sweep:`; `repeat` runs per combination, each with its own seed (experiment seed + 0, 1, ...). */
export type SweepConfig = Static<typeof sweepSchema>;

/** A validated experiment, schema defaults filled in. */
export type ExperimentConfig = Static<TObject<typeof experimentSections>> & {
  dataset: PluginRef;
  sampler?: PluginRef;
  architecture: PluginRef;
  reporters?: PluginRef[];
  /** How a sweep's combinations run (local child processes by default). */
  launcher?: PluginRef;
  callbacks?: PluginRef[];
};
