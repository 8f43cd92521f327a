/**
 * The plugin author's front door (`import … from 'affectlab'`): everything a plugin may use.
 * Plugins under src/plugins, bench/ and examples/ import from here (or from plugins of their
 * own kind folder), never from src/core directly. This first cut re-exports the contracts,
 * definePlugin and its TypeBox helpers, services, errors and the small utilities plugins use;
 * moving the definitions themselves here from src/core is the rest of issue 25.
 */
export * from '../core/plugin/plugin.js';
export * from '../core/errors.js';
export { definePlugin, Options, Type, Enum, type Static } from '../core/plugin/define.js';
export { Logger, Clock, Random, RunContext, hashSeed } from '../core/plugin/services.js';
export type { ExperimentConfig, PluginRef, TrainingConfig } from '../core/config/types.js';
export { resolveMode, improved, type Mode } from '../core/runner/callbacks.js';
export { MonitorTracker, metricOf } from './monitor.js';
export { Semaphore } from '../core/pipeline/semaphore.js';
export { eyeLineAngle, parseLandmarks, alignedBox } from '../core/pipeline/align.js';
export { Progress } from '../core/pipeline/progress.js';
export { readLines, splitCsvLine, parseCsvText } from '../core/pipeline/csv.js';
export type { CsvLine, CsvRecord } from '../core/pipeline/csv.js';
export { DType, type DTypeCode } from '../core/engine/graph/addon.js';
export {
  registerGraphLayer,
  graphLayerEmitter,
  unsupportedLayer,
  inputShapeOf,
  knownInputDims,
  emitActivation,
  type GraphLayerEmitter,
  type LayerEmitContext,
  type LayerConfig,
} from '../core/engine/graph/layers.js';
export {
  saveModel,
  loadModel,
  fileSystemHandler,
  readModelArtifacts,
  readWeightArtifacts,
} from '../core/training/model-io.js';
export { registerKerasLayerClass, type KerasLayerClass } from '../core/inference/keras-layers.js';
export { markPretrained } from '../core/training/seeding.js';
export { TENSORFLOW_VERSION } from '../core/training/gpu.js';
