/**
 * Running from code (benchmarks, notebooks, embedders), as `affectlab run` does from a YAML file:
 * resolve an experiment and run it, build plugins and open a dataset's image pipeline outside a
 * run, build a run's training engine for a model and train an epoch on it, activate the
 * TensorFlow backend. The runtime with the built-in plugins is `createRuntime()` from
 * 'affectlab' (the composition root, src/main.ts: it imports the built-in plugins, which import
 * this SDK, so the SDK itself does not re-export it). Everything here is core's own code,
 * re-exported or wrapped thinly.
 *
 *   const runtime = createRuntime();
 *   await activateBackend(runtime, 'tensorflow');
 *   const result = await runExperiment(runtime, await runtime.resolve('experiments/x.yaml'));
 */
import { resolve } from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { DatasetPlugin } from './contracts/data.js';
import type { PluginDefinition, PluginKind } from './contracts/plugin.js';
import type { PluginRef } from '../core/config/types.js';
import { Registry } from '../core/host/registry.js';
import { Runtime } from '../core/host/runtime.js';
import { RunContext } from './services.js';
import {
  BackendService,
  type ActiveBackend,
  type BackendPreference,
} from '../core/training/backend.js';

// experiments: resolve a YAML file (runtime.resolve) and run it as `affectlab run` does
export type { ResolveOptions, ResolvedExperiment } from '../core/host/runtime.js';
export { runExperiment, type RunOptions, type RunResult } from '../core/runner/experiment-run.js';

/**
 * A runtime holding only `plugins` (no built-ins, no defaults that name plugins): for a tool that
 * needs a few plugins in a lean process. With the built-ins: `createRuntime()`.
 */
export function createPluginRuntime(plugins: Iterable<PluginDefinition>): Runtime {
  const registry = new Registry();
  registry.registerAll(plugins);
  return new Runtime(registry);
}

// the backend: which TensorFlow build runs the tensors
export type { ActiveBackend, BackendName, BackendPreference } from '../core/training/backend.js';

/** Activate the best backend `preference` allows (as a run does) on the runtime's service. */
export function activateBackend(
  runtime: Runtime,
  preference: BackendPreference = 'auto',
): Promise<ActiveBackend> {
  return runtime.container.resolve(BackendService).activate(preference);
}

/** Where plugins built outside a run read their name, seed and cache folder from. */
export interface ScopeOptions {
  /** Experiment name and source file the plugins see (default 'from-code'). */
  name?: string;
  seed?: number;
  /** Root of caches (synthetic data, preprocessed images); default .cache/affectlab. */
  cacheDir?: string;
  /** Folder relative paths in plugin options resolve from (default: the working directory). */
  baseDir?: string;
}

/** A container to build plugins in outside a run: a run's scope made from `options`. */
export function pluginScope(runtime: Runtime, options: ScopeOptions = {}): DependencyContainer {
  const name = options.name ?? 'from-code';
  return runtime.createScope(
    new RunContext(
      name,
      name,
      options.seed ?? 1,
      resolve(options.cacheDir ?? '.cache/affectlab'),
      options.baseDir ?? process.cwd(),
    ),
  );
}

/** One plugin of the runtime's registry, by kind and ref, its options' defaults filled in. */
export function buildPlugin<T>(
  runtime: Runtime,
  kind: PluginKind,
  ref: PluginRef,
  options: ScopeOptions = {},
): T {
  return runtime.instantiate<T>(pluginScope(runtime, options), kind, ref);
}

/** A dataset plugin by ref (e.g. `{ type: 'affectnet', root }`): `prepare()` gives its splits. */
export function openDataset<T extends DatasetPlugin = DatasetPlugin>(
  runtime: Runtime,
  ref: PluginRef,
  options: ScopeOptions = {},
): T {
  return buildPlugin<T>(runtime, 'dataset', ref, options);
}

// the image pipeline a run feeds from (decode, crop, resize, cache, batch) and its parts
export {
  ImagePipeline,
  DEFAULT_PIPELINE_WORKERS,
  decodeAndCrop,
  batchAugmentParams,
  toUnitFloat,
  type Batch,
  type ImagePipelineOptions,
  type PipelineStats,
} from '../core/pipeline/index.js';
export { shrinkOnLoadFrom } from '../core/pipeline/preprocess.js';
export { datasetPipeline } from '../core/pipeline/dataset-pipeline.js';
/** The preprocessed-image cache the pipeline reads from epoch 2 on: its keys, entries, size. */
export {
  PreprocessedCache,
  CACHE_HEADER_BYTES,
  scanCacheBytes,
  type CacheKeyParts,
} from '../core/pipeline/cache.js';

// a run's training engine: its optimizer and losses, the engine choice, one epoch of steps
export { buildTrainingPlugins, type TrainingPlugins } from '../core/runner/training-plugins.js';
export {
  createEngine,
  decideEngine,
  headLossPlugins,
  loadGraphModule,
  type EngineDecision,
  type EngineOptions,
  type ExecutionPreference,
  type GraphEngineModule,
  type LossSpec,
  type Named,
  type StepInputs,
  type StepTargets,
  type TrainingEngine,
} from '../core/engine/index.js';
export { trainEpoch, type BatchSource, type EpochResult } from '../core/runner/trainer.js';
/** Trace every session run of the compiled step (TensorFlow step stats); never on in a run. */
export { setRunTracer, type RunTracer } from '../core/engine/graph/addon.js';

// faces in whole photos, as `affectlab predict` prepares them for a model
export { decodeRgb, prepareFace } from '../core/inference/faces.js';
