/**
 * The types of a validated experiment. The core sections' types come from their TypeBox
 * definitions in schema.ts (one definition for the JSON Schema and the type, the training's
 * learning-rate and loss settings included); the plugin reference lives with the plugin
 * contracts (plugin/plugin.ts), so config/ and plugin/ do not import each other.
 */
import type { Static, TObject } from '@sinclair/typebox';
import type { PluginRef } from '../../sdk/contracts/plugin.js';
import type {
  evaluationSchema,
  experimentSections,
  sweepSchema,
  TrainingConfig,
} from './schema.js';

export type { PluginRef } from '../../sdk/contracts/plugin.js';
export type { LossConfig, SweepDistribution, TrainingConfig } from './schema.js';

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
