import 'reflect-metadata';
export * from './core/plugin.js';
export * from './core/errors.js';
export { Registry, UnknownPluginError } from './core/registry.js';
export { Runtime } from './core/runtime.js';
export { Logger, Clock, Random, RunContext, hashSeed } from './core/services.js';
export { BackendService } from './core/backend.js';
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
} from './core/model-io.js';
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
