import 'reflect-metadata';
export * from './core/plugin/plugin.js';
export * from './core/errors.js';
export { definePlugin, Options, Type, Enum, type Static } from './core/plugin/define.js';
export { Registry, UnknownPluginError } from './core/plugin/registry.js';
export { Runtime } from './core/plugin/runtime.js';
export { Logger, Clock, Random, RunContext, hashSeed } from './core/plugin/services.js';
export { BackendService } from './core/training/backend.js';
export type { ExperimentConfig, PluginRef, TrainingConfig } from './core/config/types.js';
export { createRuntime } from './main.js';
export { builtinPlugins } from './plugins/index.js';
export * as tf from '@tensorflow/tfjs';
export {
  saveModel,
  loadModel,
  fileSystemHandler,
  readModelArtifacts,
  readWeightArtifacts,
} from './core/training/model-io.js';
export { markPretrained } from './core/training/seeding.js';
export {
  buildTaskHeads,
  buildTaskModel,
  headOptionsSchema,
  taskOutputNames,
  EXPRESSION_OUTPUT,
  VALENCE_AROUSAL_OUTPUT,
  LayerNames,
  requireInputSide,
  loadWeightsByLayerName,
  summarizeModel,
  type HeadOptions,
  type ModelSummary,
} from './plugins/architectures/index.js';
