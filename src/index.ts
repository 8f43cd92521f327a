import 'reflect-metadata';
export * from './sdk/index.js';
export { Registry, UnknownPluginError } from './core/host/registry.js';
export { Runtime } from './core/host/runtime.js';
export { BackendService } from './core/training/backend.js';
export { createRuntime } from './main.js';
export { builtinPlugins } from './plugins/index.js';
export * as tf from '@tensorflow/tfjs';
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
