import type * as tf from '@tensorflow/tfjs';
import type { DependencyContainer } from 'tsyringe';
import { BackendService } from '../training/backend.js';
import {
  createEngine,
  decideEngine,
  headLossPlugins,
  taskLoss,
  type LossSpec,
  type TaskLoss,
  type TrainingEngine,
} from '../engine/index.js';
import { UserError } from '../../sdk/errors.js';
import { asWriteFailure } from '../write-failure.js';
import type { MetricReport } from '../metrics/classification.js';
import type { RegressionReport } from '../metrics/regression.js';
import {
  ImagePipeline,
  formatBadRecordSummary,
  mergeBadRecordSummaries,
} from '../pipeline/index.js';
import type {
  ArchitecturePlugin,
  DatasetPlugin,
  DatasetSplits,
  SamplerPlugin,
} from '../../sdk/contracts/data.js';
import type {
  ReporterPlugin,
  RunInfo,
  RunStatus,
  TrainingCallback,
} from '../../sdk/contracts/run.js';
import { redactCredentials } from '../redact.js';
import type { ResolvedExperiment, Runtime } from '../host/runtime.js';
import { Logger } from '../../sdk/services.js';
import { writeFinalArtifacts } from './artifacts.js';
import { buildTrainingPlugins } from './training-plugins.js';
import { hasCheckpoint, type PartialEpoch } from './checkpoint.js';
import { CallbackList } from './callbacks.js';
import { FitLoop } from './fit-loop.js';
import { CheckpointListener, ReporterListener, RunRecordListener } from './run-listeners.js';
import { planSampling, type Sampling } from './sampling.js';
import { ReporterHub, type ProgressReporter } from '../reporting/reporter-hub.js';
import { RunStore } from '../reporting/run-store.js';
import { prefixed, scorePredictions } from './scoring.js';
import { predictSplit, seedModel } from './trainer.js';
import { isMixActive } from '../pipeline/mix.js';
import { datasetPipeline } from '../pipeline/dataset-pipeline.js';

export interface RunOptions {
  cacheDir: string;
  /** Continue this run (directory or id) from its last completed epoch or interrupted step. */
  resume?: string;
  /** Tag shared by the runs of a sweep. */
  group?: string;
  /** Id of the new run (a sweep assigns its combinations' ids up front). */
  runId?: string;
  /** Set by the signal handlers; the trainer stops after the current step. */
  stopSignal?: { stop: boolean; reason?: string };
  /** How long the run's end waits for reporters to deliver (default 30 s). */
  reporterDrainTimeoutMs?: number;
  /**
   * Feed the engine float32 batches even where it takes uint8 ones (tests compare the two
   * paths, which must give the same run).
   */
  floatBatches?: boolean;
  /** Called with the final evaluation before the run's end (the CLI prints its tables). */
  onEvaluated?: (evaluation: Evaluation) => void;
}

export interface RunResult {
  runDir: string;
  runId: string;
  status: RunStatus;
  testMetrics?: Record<string, number>;
  report?: MetricReport;
  regression?: RegressionReport;
}

/** Dotted keys of every leaf in the resolved config: MLflow params and params.json. */
export function flattenParams(
  value: unknown,
  prefix = '',
  out: Record<string, unknown> = {},
): Record<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value))
      flattenParams(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = value;
  }
  return out;
}

/**
 * A dataset whose validation split holds test examples makes checkpoint selection and early
 * stopping (which watch val_* metrics) choose on the test set, so its test score is optimistic:
 * said loudly, whatever the dataset plugin.
 */
export function warnIfValidationIsTest(splits: DatasetSplits, logger: Logger): void {
  const test = new Set(splits.test.map((e) => e.imagePath));
  let shared = 0;
  for (const e of splits.validation) if (test.has(e.imagePath)) shared++;
  if (shared > 0)
    logger.warn(
      `the validation split shares ${shared} of its ${splits.validation.length} images with the test split: ` +
        'checkpoint selection and early stopping watch validation metrics, so the test score is optimistic; ' +
        'hold validation out of the training data',
    );
}

/** The plugins one run is made of, built from the config through the run's container. */
interface RunPlugins {
  dataset: DatasetPlugin;
  sampler?: SamplerPlugin;
  architecture: ArchitecturePlugin;
  callbacks: CallbackList;
  training: ReturnType<typeof buildTrainingPlugins>;
  reporters: (ReporterPlugin & ProgressReporter)[];
}

function buildRunPlugins(
  runtime: Runtime,
  resolved: ResolvedExperiment,
  cacheDir: string,
): RunPlugins {
  const config = resolved.config;
  const scope: DependencyContainer = runtime.createRunContainer(resolved, cacheDir);
  return {
    dataset: runtime.instantiate<DatasetPlugin>(scope, 'dataset', config.dataset),
    sampler: config.sampler
      ? runtime.instantiate<SamplerPlugin>(scope, 'sampler', config.sampler)
      : undefined,
    architecture: runtime.instantiate<ArchitecturePlugin>(
      scope,
      'architecture',
      config.architecture,
    ),
    callbacks: new CallbackList(
      runtime.callbacksFor(config).map((ref) => ({
        ref,
        callback: runtime.instantiate<TrainingCallback>(scope, 'callback', ref),
      })),
    ),
    training: buildTrainingPlugins(runtime, scope, config.training),
    reporters: runtime
      .reportersFor(config)
      .map((ref) => runtime.instantiate<ReporterPlugin & ProgressReporter>(scope, 'reporter', ref)),
  };
}

/** A run in progress: what it was built from, and what its end must close and record. */
interface ExperimentRun {
  config: ResolvedExperiment['config'];
  options: RunOptions;
  logger: Logger;
  plugins: RunPlugins;
  store: RunStore;
  hub: ReporterHub;
  runInfo: RunInfo;
  resuming: boolean;
  stopSignal: { stop: boolean; reason?: string };
  started: boolean;
  status: RunStatus;
  failure?: string;
  splits?: DatasetSplits;
  pipeline?: ImagePipeline;
  model?: tf.LayersModel;
  engine?: TrainingEngine;
}

/**
 * The run directory (new, or the one resumed), its log, the reporters' hub, config.yaml and
 * run.json RUNNING. What is written and sent has URL credentials redacted.
 */
function openRun(
  resolved: ResolvedExperiment,
  options: RunOptions,
  backend: { name: string; devices: string[] },
  plugins: RunPlugins,
  logger: Logger,
): ExperimentRun {
  const config = resolved.config;
  const resuming = options.resume !== undefined;
  const store = resuming
    ? RunStore.open(options.resume as string, config.runs?.root ?? 'runs')
    : RunStore.create(config.runs?.root ?? 'runs', config.name, options.runId);
  logger.sink = logSink(store, logger);
  const hub = new ReporterHub(plugins.reporters, store, logger, {
    drainTimeoutMs: options.reporterDrainTimeoutMs,
  });
  logger.info(`run directory: ${store.dir}`);
  // the plugins were built from `config` and keep the real credentials
  const persistedConfig = redactCredentials(config);
  if (!resuming) store.writeYaml('config.yaml', persistedConfig);
  const runInfo: RunInfo = {
    runId: store.runId,
    experiment: config.name,
    runDir: store.dir,
    sourceFile: resolved.file,
    resolvedConfig: persistedConfig as unknown as Record<string, unknown>,
    params: { ...flattenParams(persistedConfig), 'backend.name': backend.name },
    backend: { name: backend.name, devices: backend.devices },
    dataset: {},
    group: options.group,
    startTime: Date.now(),
  };
  store.writeRecord({
    ...(resuming ? store.readRecord() : {}),
    runId: store.runId,
    experiment: config.name,
    status: 'RUNNING',
    startTime: runInfo.startTime,
    backend: runInfo.backend,
    group: options.group,
  });
  return {
    config,
    options,
    logger,
    plugins,
    store,
    hub,
    runInfo,
    resuming,
    stopSignal: options.stopSignal ?? { stop: false },
    started: false,
    status: 'FINISHED',
  };
}

/** The dataset's splits, checked and recorded, and how the training split is sampled. */
async function prepareData(
  run: ExperimentRun,
): Promise<{ splits: DatasetSplits; sampling: Sampling }> {
  const { config, logger, store } = run;
  const splits = await run.plugins.dataset.prepare();
  run.splits = splits;
  if (splits.badRecords.total > 0) logger.warn(formatBadRecordSummary(splits.badRecords));
  if (splits.train.length === 0)
    throw new UserError(`the training split of ${config.dataset.type} is empty`);
  if (config.training.batchSize > splits.train.length)
    logger.warn(
      `training.batchSize ${config.training.batchSize} is larger than the training split (${splits.train.length} images): ` +
        'every step trains on a smaller batch than configured; lower training.batchSize',
    );
  warnIfValidationIsTest(splits, logger);
  store.writeJson('class_map.json', splits.task.classes);
  store.writeJson('bad_records.json', splits.badRecords);
  const sampling = planSampling({
    splits,
    sampler: run.plugins.sampler,
    samplerType: config.sampler?.type,
    datasetType: config.dataset.type,
    seed: config.seed,
    logger,
  });
  return { splits, sampling };
}

/** The model, the engine that trains it, and the run's params and dataset profile. */
async function buildModelAndEngine(
  run: ExperimentRun,
  splits: DatasetSplits,
  sampling: Sampling,
  backendName: string,
): Promise<{ model: tf.LayersModel; engine: TrainingEngine; lossFn: TaskLoss }> {
  const { config, logger, plugins } = run;
  const { task } = splits;
  const model = await plugins.architecture.build({
    inputShape: [splits.image.height, splits.image.width, splits.image.channels],
    task,
  });
  run.model = model;
  seedModel(model, config.seed, logger);
  const lossSpec: LossSpec = {
    classWeights: sampling.classWeights,
    classification: plugins.training.classification,
    regression: plugins.training.regression,
    expressionWeight: config.training.loss?.expressionWeight ?? 1,
    regressionWeight: config.training.loss?.regressionWeight ?? 1,
  };
  const decision = await decideEngine(
    config.training.execution ?? 'auto',
    backendName,
    model,
    task,
    {
      optimizer: plugins.training.optimizer,
      losses: headLossPlugins(task, lossSpec),
    },
  );
  logger.info(`execution: ${decision.reason}`);
  const engine = await createEngine(decision, {
    model,
    task,
    loss: lossSpec,
    optimizer: plugins.training.optimizer,
    seed: config.seed,
    mixing: isMixActive(plugins.dataset.pipeline.augment),
    augment: plugins.dataset.pipeline.augment,
  });
  run.engine = engine;
  describeRun(run, splits, sampling, engine.kind);
  return { model, engine, lossFn: taskLoss(task, lossSpec) };
}

/** The run's params (data counts, sources, class weights, engine) and its dataset profile. */
function describeRun(
  run: ExperimentRun,
  splits: DatasetSplits,
  sampling: Sampling,
  engineKind: string,
): void {
  const { task } = splits;
  const weights = sampling.classWeights;
  Object.assign(run.runInfo.params, {
    'data.train_count': splits.train.length,
    'data.validation_count': splits.validation.length,
    'data.test_count': splits.test.length,
    // which split scored what: val_* (and checkpoint selection) vs the final evaluation
    'data.validation_source': splits.sources?.validation ?? 'unknown',
    'data.test_source': splits.sources?.test ?? 'unknown',
    'evaluation.split': run.config.evaluation?.split ?? 'test',
    ...(weights
      ? Object.fromEntries(task.classes.map((c, i) => [`loss.class_weight.${c.name}`, weights[i]]))
      : {}),
    'training.engine': engineKind,
  });
  run.runInfo.dataset = {
    ...splits.description,
    classes: task.classes,
    ...(task.strata ? { strata: task.strata } : {}),
    // per class (or per stratum when the task has no classes), as the sampler sees them
    trainCounts: sampling.counts,
    badRecords: splits.badRecords.total,
  };
}

/**
 * Where training starts: epoch 0 of a new run, or a resumed run's checkpoint (model, optimizer,
 * callbacks, learning rate), in the epoch it was cut from. Then the reporters hear the start
 * and the callbacks choose the first epoch's learning rate.
 */
async function startTraining(
  run: ExperimentRun,
  checkpoints: CheckpointListener,
  engine: TrainingEngine,
): Promise<{ startEpoch: number; partial?: PartialEpoch }> {
  const { config, store, logger, plugins } = run;
  const epochs = config.training.epochs;
  let startEpoch = 0;
  let partial: PartialEpoch | undefined;
  if (run.resuming) {
    const state = await checkpoints.restore();
    startEpoch = state.epoch + 1;
    partial = state.partial?.epoch === startEpoch ? state.partial : undefined;
    if (store.readRecord().stopped) {
      // a callback had ended training (early stopping): the resume only evaluates
      startEpoch = epochs;
      partial = undefined;
    }
    const dropped = plugins.callbacks.restore(state.callbacks ?? {});
    if (dropped.length > 0)
      logger.warn(
        `resume: saved state of callbacks no longer configured is ignored: ${dropped.join(', ')}`,
      );
    engine.setLearningRate(state.learningRate);
    store.truncateEpochs(startEpoch);
    logger.info(
      partial
        ? `resuming ${store.runId} in epoch ${startEpoch + 1} of ${epochs}, after step ${partial.steps}`
        : `resuming ${store.runId} after epoch ${state.epoch + 1} of ${epochs}`,
    );
  } else {
    store.writeJson('dataset.json', run.runInfo.dataset);
    store.writeJson('params.json', run.runInfo.params);
  }
  void run.hub.runStarted(run.runInfo);
  run.started = true;
  const firstRate = plugins.callbacks.trainBegin({
    epochs,
    baseLearningRate: plugins.training.optimizer.plugin.learningRate,
    startEpoch,
  });
  // a warm-up sets epoch 0's rate; a resumed run goes on with its checkpoint's rate
  if (!run.resuming && firstRate !== engine.learningRate) engine.setLearningRate(firstRate);
  return { startEpoch, partial };
}

/** Data, model and engine; the fit loop with its listeners; the final evaluation. */
async function trainAndEvaluate(run: ExperimentRun, backendName: string): Promise<RunResult> {
  const { config, store, logger, plugins } = run;
  const { splits, sampling } = await prepareData(run);
  const { model, engine, lossFn } = await buildModelAndEngine(run, splits, sampling, backendName);
  const checkpoints = new CheckpointListener(store, model, engine, plugins.callbacks);
  const { startEpoch, partial } = await startTraining(run, checkpoints, engine);
  const pipeline = datasetPipeline(plugins.dataset, splits, {
    ...imageCacheOptions(config.imageCache?.maxGiB ?? 64, `${run.options.cacheDir}/images`),
    logger,
  });
  run.pipeline = pipeline;
  const fitted = await new FitLoop({
    engine,
    splits,
    source: pipeline,
    training: config.training,
    seed: config.seed,
    order: sampling.order,
    augment: plugins.dataset.pipeline.augment,
    floatBatches: run.options.floatBatches,
    callbacks: plugins.callbacks,
    lossFn,
    stopSignal: run.stopSignal,
    onStep: (p) => run.hub.stepEnded(run.runInfo, p),
    listeners: [
      checkpoints,
      new RunRecordListener(store, () => checkpoints.bestEpoch),
      new ReporterListener(run.hub, run.runInfo),
    ],
    logger,
  }).fit(startEpoch, partial);
  if (fitted.status === 'KILLED') {
    run.status = 'KILLED';
    run.failure = `${fitted.failure}; resume with affectlab run --resume ${store.dir}`;
    logger.warn(run.failure);
  }
  plugins.callbacks.trainEnd(store.readEpochs().at(-1)?.epoch ?? -1, run.status);
  if (run.status !== 'FINISHED')
    return { runDir: store.dir, runId: store.runId, status: run.status };
  const evaluated = await finalEvaluation({ run, engine, checkpoints, splits, pipeline, lossFn });
  if (evaluated.stopped) {
    run.status = 'KILLED';
    run.failure = evaluated.stopped;
    logger.warn(run.failure);
    return { runDir: store.dir, runId: store.runId, status: run.status };
  }
  run.options.onEvaluated?.(evaluated);
  void run.hub.evaluated(run.runInfo, evaluated.testMetrics, evaluated.lastEpoch);
  return {
    runDir: store.dir,
    runId: store.runId,
    status: run.status,
    testMetrics: evaluated.testMetrics,
    report: evaluated.report,
    regression: evaluated.regression,
  };
}

/**
 * The run's end, whatever happened: the pipeline closed, temporary files removed, bad records
 * and run.json's final status written, every artifact and the end sent to the reporters. Each
 * step runs even when one before it failed (a full disk).
 */
async function finishRun(run: ExperimentRun): Promise<void> {
  const { store, hub, runInfo, logger, splits, pipeline } = run;
  await safelyAsync(async () => pipeline?.close());
  // the half-written files of a failed write hold the space the run's end (and a resume) needs
  safely(() => store.removeTemporaryFiles());
  if (splits) {
    const bad = pipeline
      ? mergeBadRecordSummaries(splits.badRecords, pipeline.badRecords)
      : splits.badRecords;
    safely(() => store.writeJson('bad_records.json', bad));
  }
  if (pipeline && pipeline.badRecords.total > 0)
    logger.warn(`images skipped during the run: ${formatBadRecordSummary(pipeline.badRecords)}`);
  // the final record first, so the run.json reporters upload says how the run ended
  recordEnd(store, run.status, run.failure);
  // a run that failed before it started is still a run every reporter hears of
  if (!run.started) safely(() => void hub.runStarted(runInfo));
  for (const rel of safely(() => store.files()) ?? []) {
    if (rel.startsWith('checkpoints/') || rel.includes('.tmp') || rel === 'events.jsonl') continue;
    safely(() => void hub.artifact(runInfo, { path: rel, absolutePath: store.path(rel) }));
  }
  await safelyAsync(() => hub.runEnded(runInfo, run.status, run.failure));
  logger.sink = undefined;
  run.engine?.dispose();
  run.model?.dispose();
  logger.info(`run ${run.status.toLowerCase()}; results in ${store.dir}`);
}

/**
 * One run of an experiment, start to end: data, model, epochs with validation, checkpoints,
 * the final test evaluation, and every artifact in the run store and the reporters. Once the
 * run directory exists, any failure leaves run.json FAILED with the error, config.yaml, and a
 * runEnded event for every reporter.
 */
export async function runExperiment(
  runtime: Runtime,
  resolved: ResolvedExperiment,
  options: RunOptions,
): Promise<RunResult> {
  const logger = runtime.container.resolve(Logger);
  // backend and plugins first: a missing native backend or a bad option fails before a run
  // directory exists
  const training = resolved.config.training;
  const backend = await runtime.container.resolve(BackendService).activate(training.backend);
  logger.info(
    `backend: ${backend.name} on ${backend.devices.join(', ')} (${Object.entries(backend.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  );
  const plugins = buildRunPlugins(runtime, resolved, options.cacheDir);
  for (const reporter of plugins.reporters)
    await reporter.preflight?.({ experiment: resolved.config.name });
  const run = openRun(resolved, options, backend, plugins, logger);
  try {
    return await trainAndEvaluate(run, backend.name);
  } catch (error) {
    run.status = 'FAILED';
    const explained = explainFailure(error, run.store);
    run.failure = explained.message;
    // the CLI prints the error; log.txt keeps it with the run
    safely(() => run.store.appendLog(`run failed: ${run.failure}`));
    throw explained;
  } finally {
    await finishRun(run);
  }
}

/** The pipeline's cache settings for `imageCache.maxGiB` (0 = no cache). */
function imageCacheOptions(
  maxGiB: number,
  dir: string,
): { cacheDir?: string; cacheMaxBytes?: number } {
  return maxGiB > 0 ? { cacheDir: dir, cacheMaxBytes: maxGiB * 2 ** 30 } : {};
}

/** Run a bookkeeping step of a run's end; a failure (a full disk) must not skip the others. */
function safely<T>(step: () => T): T | undefined {
  try {
    return step();
  } catch {
    return undefined;
  }
}

async function safelyAsync(step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch {
    // as safely()
  }
}

/**
 * log.txt as the logger's second output. A write that fails (a full disk) turns it off with
 * one line on stderr, instead of failing whatever was being logged.
 */
function logSink(store: RunStore, logger: Logger): (line: string) => void {
  return (line) => {
    try {
      store.appendLog(line);
    } catch (error) {
      logger.sink = undefined;
      process.stderr.write(
        `affectlab: ${(error as Error).message}; the run's log lines go to the terminal only\n`,
      );
    }
  };
}

/**
 * The error a failed run ends with: a write failure (disk full, read-only, permissions) says
 * what to do and, where a checkpoint exists, how to continue.
 */
function explainFailure(error: unknown, store: RunStore): Error {
  const write = asWriteFailure(error);
  if (!write) return error as Error;
  const remedy =
    write.code === 'ENOSPC' || write.code === 'EDQUOT'
      ? 'free some space'
      : write.code === 'EROFS'
        ? 'make the file system writable'
        : 'make it writable';
  const resumable =
    hasCheckpoint(store.path('checkpoints/last')) ||
    hasCheckpoint(store.path('checkpoints/interrupted'));
  const next = resumable
    ? `${remedy}, then continue with affectlab run --resume ${store.dir}`
    : `${remedy}, then run the experiment again (no checkpoint to resume from yet)`;
  return new UserError(`${write.message}: ${next}`, { cause: error });
}

/** run.json's final status; when even that cannot be written, stderr says so. */
function recordEnd(store: RunStore, status: RunStatus, failure: string | undefined): void {
  try {
    store.updateRecord({ status, endTime: Date.now(), ...(failure ? { error: failure } : {}) });
  } catch (error) {
    process.stderr.write(
      `affectlab: could not record the run's end (${status}) in ${store.path('run.json')}: ` +
        `${(error as Error).message}\n`,
    );
  }
}

/** What the final evaluation scored (the CLI prints its tables). */
export interface Evaluation {
  testMetrics: Record<string, number>;
  report?: MetricReport;
  regression?: RegressionReport;
  lastEpoch: number;
}

/**
 * The final evaluation: the best checkpoint (when one was kept) on the evaluation split, its
 * artifacts and the model. Ctrl-C stops it between batches: `stopped` then says why, and the
 * trained model is kept (a resume evaluates again).
 */
async function finalEvaluation(args: {
  run: ExperimentRun;
  engine: TrainingEngine;
  checkpoints: CheckpointListener;
  splits: DatasetSplits;
  pipeline: ImagePipeline;
  lossFn: TaskLoss;
}): Promise<Evaluation & { stopped?: string }> {
  const { run, engine, checkpoints, splits } = args;
  const { store, config, logger } = run;
  const task = splits.task;
  const bestEpoch = await checkpoints.restoreForEvaluation();
  if (bestEpoch !== undefined)
    logger.info(`evaluating the best checkpoint (epoch ${bestEpoch + 1})`);
  const keepModel = (): void => checkpoints.copyEvaluatedModel(store.path('model'));
  const splitName = config.evaluation?.split ?? 'test';
  const evalExamples = splitName === 'test' ? splits.test : splits.validation;
  const pred = await predictSplit({
    engine,
    task,
    examples: evalExamples,
    source: args.pipeline,
    batchSize: config.training.batchSize,
    lossFn: args.lossFn,
    floatBatches: run.options.floatBatches,
    shouldStop: () => run.stopSignal.stop,
  });
  const lastEpoch = Math.max(0, store.readEpochs().at(-1)?.epoch ?? 0);
  if (pred.interrupted) {
    keepModel();
    return {
      stopped:
        `stopped by ${run.stopSignal.reason ?? 'signal'} during the final evaluation ` +
        `(${pred.indices.length} of ${evalExamples.length} ${splitName} images scored); training is ` +
        `complete and kept: evaluate with affectlab run --resume ${store.dir}`,
      testMetrics: {},
      lastEpoch,
    };
  }
  const scored = scorePredictions(task, evalExamples, pred, config.evaluation?.normalized ?? true);
  const testMetrics = prefixed(scored.flat, `${splitName}_`);
  // the images actually scored: one that failed to decode is skipped (and counted apart)
  await writeFinalArtifacts(
    store,
    scored.report,
    scored.regression,
    testMetrics,
    pred.indices.length,
    splitName,
    splits.sources,
    evalExamples.length - pred.indices.length,
  );
  keepModel();
  return { testMetrics, report: scored.report, regression: scored.regression, lastEpoch };
}
