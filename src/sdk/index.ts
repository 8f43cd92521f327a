/**
 * The plugin author's front door (`import … from 'affectlab'`): everything a plugin may use.
 * Plugins under src/plugins, bench/ and examples/ import from here (or from plugins of their
 * own kind folder), never from src/core directly. Defined here: the plugin contracts (by
 * concern, under contracts/), definePlugin and its TypeBox helpers, the services plugins
 * inject, the errors, the graph op builder, and MonitorTracker. Re-exported from the host:
 * the small utilities plugins use, what plugin modules add to the CLI, and (host.ts) what
 * running from code needs (runExperiment, openDataset, the engines). The host (src/core)
 * imports these definitions from their own modules here, never through this index.
 */
// the plugin contracts, by concern
export * from './contracts/plugin.js';
export * from './contracts/data.js';
export * from './contracts/optimisation.js';
export * from './contracts/run.js';
export * from './contracts/inference.js';
export * from './errors.js';
export { definePlugin, Options, Type, Enum, OneOf, FixedArray, type Static } from './define.js';
export { Logger, Clock, Random, RunContext, hashSeed } from './services.js';
export type { ExperimentConfig, TrainingConfig } from '../core/config/types.js';
export { processAlive } from './process.js';
export { MonitorTracker, metricOf, resolveMode, improved, type Mode } from './monitor.js';
export {
  GraphBuilder,
  opName,
  type Output,
  type GraphVariable,
  type OpOptions,
} from './graph-builder.js';
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
  batchNormalizationEmitter,
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
  type WeightArtifacts,
} from '../core/training/model-io.js';
export {
  registerKerasLayerClass,
  kerasLayerClass,
  kerasLayersModuleSource,
  kerasRegisteredName,
  tfjsClassOfKeras,
  KERAS_LAYERS_MODULE,
  type KerasLayerClass,
} from '../core/inference/keras-layers.js';
export { markPretrained } from '../core/training/seeding.js';
export { TENSORFLOW_VERSION } from '../core/training/gpu.js';
export { LOSS_EPSILON } from '../core/training/loss.js';
export { withOptionDefaults } from '../core/host/defaults.js';
export { BackendService } from '../core/training/backend.js';

// the data pipeline's pieces a dataset plugin reuses
export { BadRecordLog, checkBadFraction } from '../core/pipeline/bad-records.js';
export { ERASING_DEFAULTS } from '../core/pipeline/augment.js';
export { MIXUP_DEFAULTS, CUTMIX_DEFAULTS } from '../core/pipeline/mix.js';
export { envReferences, unresolvedEnvDiagnostics } from '../core/config/compose.js';

// files downloaded on demand (pretrained weights), as Keras' get_file
export { fetchFile, cacheStatus, type RemoteFile } from '../core/download.js';

// what a reporter plugin reads and writes: the run store, training progress
export { RunStore } from '../core/reporting/run-store.js';
export type { ProgressReporter } from '../core/reporting/reporter-hub.js';
export type { StepProgress } from '../core/runner/trainer.js';

// what a plugin module may add to the CLI: commands, doctor sections, run sources for
// `compare --from`, export formats; the runtime they are handed
export type { Runtime } from '../core/host/runtime.js';
export type { CommandModule } from '../core/cli/command.js';
export { setOption, allowPluginsOption } from '../core/cli/command.js';
export type {
  DoctorSection,
  PluginExtensions,
  RunSourceDefinition,
} from '../core/cli/extensions.js';
export {
  globToRegExp,
  unprefixMetrics,
  type RunSource,
  type RunSummary,
} from '../core/reporting/compare.js';
export type { ExportContext, ExportFormat } from '../core/inference/export-formats.js';
export { describeModel } from '../core/inference/trained-run.js';
export { CLI_ENTRY } from '../core/sweep/launch.js';

// running from code (benchmarks, notebooks): experiments, plugins outside a run, the image
// pipeline, a run's training engine, the backend
export * from './host.js';
