import { cpSync, rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
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
import { UserError } from '../errors.js';
import { asWriteFailure, guardWrite } from '../write-failure.js';
import { NonFiniteLossError } from '../training/loss.js';
import type { MetricReport } from '../metrics/classification.js';
import {
  formatConfusionMatrix,
  formatMetricTable,
  formatRegressionTable,
} from '../metrics/format.js';
import {
  ImagePipeline,
  formatBadRecordSummary,
  mergeBadRecordSummaries,
} from '../pipeline/index.js';
import type {
  ArchitecturePlugin,
  DatasetPlugin,
  DatasetSplits,
  ReporterPlugin,
  RunInfo,
  RunStatus,
  SamplerPlugin,
  TrainingCallback,
} from '../plugin/plugin.js';
import { redactCredentials } from '../redact.js';
import type { ResolvedExperiment, Runtime } from '../plugin/runtime.js';
import { Logger, Random } from '../plugin/services.js';
import { writeCurves, writeFinalArtifacts } from './artifacts.js';
import { buildTrainingPlugins } from './training-plugins.js';
import {
  hasCheckpoint,
  readTrainingState,
  restoreCheckpoint,
  saveCheckpoint,
  type PartialEpoch,
} from './checkpoint.js';
import { CallbackList } from './callbacks.js';
import { ReporterHub, type ProgressReporter } from '../reporting/reporter-hub.js';
import { RunStore, type EpochRecord } from '../reporting/run-store.js';
import { prefixed, scorePredictions } from './scoring.js';
import { predictSplit, seedModel, trainEpoch } from './trainer.js';
import { isMixActive } from '../pipeline/mix.js';

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
}

export interface RunResult {
  runDir: string;
  runId: string;
  status: RunStatus;
  testMetrics?: Record<string, number>;
  report?: MetricReport;
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
 * What a sampler balances: the classes, or for a task without classes its strata (the
 * expression categories of valence-arousal), or nothing.
 */
function samplingGroups(
  splits: DatasetSplits,
): { names: string[]; labels: number[]; strata?: (number | undefined)[] } | undefined {
  const { task } = splits;
  const strata = splits.train.some((e) => e.stratum !== undefined)
    ? splits.train.map((e) => e.stratum)
    : undefined;
  if (task.classes.length > 0)
    return {
      names: task.classes.map((c) => c.name),
      labels: splits.train.map((e) => e.label),
      strata,
    };
  if (task.strata && task.strata.length > 0)
    return {
      names: task.strata.map((c) => c.name),
      labels: splits.train.map((e) => e.stratum ?? -1),
      strata,
    };
  return undefined;
}

function groupCounts(groups: { names: string[]; labels: number[] }): number[] {
  const counts = new Array<number>(groups.names.length).fill(0);
  for (const label of groups.labels) if (label >= 0) counts[label]++;
  return counts;
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

/**
 * The checkpoint a resumed run continues from: `interrupted` (Ctrl-C mid-epoch) when it is
 * newer than `last` (the last completed epoch), else `last`.
 */
function resumeCheckpoint(store: RunStore): string {
  const last = store.path('checkpoints/last');
  const interrupted = store.path('checkpoints/interrupted');
  const hasLast = hasCheckpoint(last);
  if (hasCheckpoint(interrupted)) {
    if (!hasLast || readTrainingState(interrupted).savedAt >= readTrainingState(last).savedAt)
      return interrupted;
  }
  if (!hasLast)
    throw new UserError(
      `${store.dir} has nothing to resume from (no checkpoints/last or checkpoints/interrupted)`,
    );
  return last;
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
  const config = resolved.config;
  const training = config.training;
  const logger = runtime.container.resolve(Logger);
  const scope: DependencyContainer = runtime.createRunContainer(resolved, options.cacheDir);
  const stopSignal = options.stopSignal ?? { stop: false };

  // Backend and plugins first: a missing native backend or a bad option fails before a run
  // directory exists.
  const backend = await runtime.container.resolve(BackendService).activate(training.backend);
  logger.info(
    `backend: ${backend.name} on ${backend.devices.join(', ')} (${Object.entries(backend.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  );
  const dataset = runtime.instantiate<DatasetPlugin>(scope, 'dataset', config.dataset);
  const sampler = config.sampler
    ? runtime.instantiate<SamplerPlugin>(scope, 'sampler', config.sampler)
    : undefined;
  const architecture = runtime.instantiate<ArchitecturePlugin>(
    scope,
    'architecture',
    config.architecture,
  );
  const callbacks = new CallbackList(
    runtime.callbacksFor(config).map((ref) => ({
      ref,
      callback: runtime.instantiate<TrainingCallback>(scope, 'callback', ref),
    })),
  );
  const trainingPlugins = buildTrainingPlugins(runtime, scope, training);
  const reporters = runtime
    .reportersFor(config)
    .map((ref) => runtime.instantiate<ReporterPlugin & ProgressReporter>(scope, 'reporter', ref));
  for (const reporter of reporters) await reporter.preflight?.({ experiment: config.name });

  const resuming = options.resume !== undefined;
  const store = resuming
    ? RunStore.open(options.resume as string, config.runs?.root ?? 'runs')
    : RunStore.create(config.runs?.root ?? 'runs', config.name, options.runId);
  logger.sink = logSink(store, logger);
  const hub = new ReporterHub(reporters, store, logger, {
    drainTimeoutMs: options.reporterDrainTimeoutMs,
  });
  logger.info(`run directory: ${store.dir}`);
  // what is written and sent has URL credentials (user:password@) redacted; the plugins were
  // built from `config` and keep the real ones
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

  let started = false;
  let status: RunStatus = 'FINISHED';
  let failure: string | undefined;
  let result: RunResult = { runDir: store.dir, runId: store.runId, status };
  let splits: DatasetSplits | undefined;
  let pipeline: ImagePipeline | undefined;
  let model: tf.LayersModel | undefined;
  let engine: TrainingEngine | undefined;
  try {
    splits = await dataset.prepare();
    const { task } = splits;
    if (splits.badRecords.total > 0) logger.warn(formatBadRecordSummary(splits.badRecords));
    if (splits.train.length === 0)
      throw new UserError(`the training split of ${config.dataset.type} is empty`);
    if (training.batchSize > splits.train.length)
      logger.warn(
        `training.batchSize ${training.batchSize} is larger than the training split (${splits.train.length} images): ` +
          'every step trains on a smaller batch than configured; lower training.batchSize',
      );
    warnIfValidationIsTest(splits, logger);
    store.writeJson('class_map.json', task.classes);
    store.writeJson('bad_records.json', splits.badRecords);
    const groups = samplingGroups(splits);
    const counts = groups ? groupCounts(groups) : [];
    if (sampler && !groups)
      logger.warn(
        `sampler ${config.sampler?.type} ignored: ${config.dataset.type} gives no classes or strata to balance`,
      );
    // class weights scale the cross-entropy; pure regression has none to scale
    const classWeights = groups ? sampler?.lossWeighting?.classWeights(counts) : undefined;
    if (classWeights && task.kind === 'valence-arousal')
      logger.warn(
        `sampler ${config.sampler?.type}: class weights do not apply to the valence/arousal loss; ` +
          'pick a sampler that balances the expression categories by drawing instead',
      );
    const weights = task.kind === 'valence-arousal' ? undefined : classWeights;
    if (weights)
      logger.info(
        `class weights: ${task.classes.map((c, i) => `${c.name} ${weights[i].toFixed(4)}`).join(', ')}`,
      );

    model = await architecture.build({
      inputShape: [splits.image.height, splits.image.width, splits.image.channels],
      task,
    });
    seedModel(model, config.seed, logger);
    const lossSpec: LossSpec = {
      classWeights: weights,
      classification: trainingPlugins.classification,
      regression: trainingPlugins.regression,
      expressionWeight: training.loss?.expressionWeight ?? 1,
      regressionWeight: training.loss?.regressionWeight ?? 1,
    };
    const decision = await decideEngine(training.execution ?? 'auto', backend.name, model, task, {
      optimizer: trainingPlugins.optimizer,
      losses: headLossPlugins(task, lossSpec),
    });
    logger.info(`execution: ${decision.reason}`);
    engine = await createEngine(decision, {
      model,
      task,
      loss: lossSpec,
      optimizer: trainingPlugins.optimizer,
      seed: config.seed,
      mixing: isMixActive(dataset.pipeline.augment),
    });
    const lossFn: TaskLoss = taskLoss(task, lossSpec);

    Object.assign(runInfo.params, {
      'data.train_count': splits.train.length,
      'data.validation_count': splits.validation.length,
      'data.test_count': splits.test.length,
      // which split scored what: val_* (and checkpoint selection) vs the final evaluation
      'data.validation_source': splits.sources?.validation ?? 'unknown',
      'data.test_source': splits.sources?.test ?? 'unknown',
      'evaluation.split': config.evaluation?.split ?? 'test',
      ...(weights
        ? Object.fromEntries(
            task.classes.map((c, i) => [`loss.class_weight.${c.name}`, weights[i]]),
          )
        : {}),
      'training.engine': engine.kind,
    });
    runInfo.dataset = {
      ...splits.description,
      classes: task.classes,
      ...(task.strata ? { strata: task.strata } : {}),
      // per class (or per stratum when the task has no classes), as the sampler sees them
      trainCounts: counts,
      badRecords: splits.badRecords.total,
    };

    let learningRate = trainingPlugins.optimizer.plugin.learningRate;
    let bestEpoch: number | undefined;
    let startEpoch = 0;
    let partial: PartialEpoch | undefined;
    const lastDir = store.path('checkpoints/last');
    const bestDir = store.path('checkpoints/best');
    const interruptedDir = store.path('checkpoints/interrupted');
    if (resuming) {
      const from = resumeCheckpoint(store);
      const state = await restoreCheckpoint(from, model, engine);
      startEpoch = state.epoch + 1;
      partial = state.partial?.epoch === startEpoch ? state.partial : undefined;
      learningRate = state.learningRate;
      bestEpoch = state.bestEpoch;
      if (store.readRecord().stopped) {
        // a callback had ended training (early stopping): the resume only evaluates
        startEpoch = training.epochs;
        partial = undefined;
      }
      const dropped = callbacks.restore(state.callbacks ?? {});
      if (dropped.length > 0)
        logger.warn(
          `resume: saved state of callbacks no longer configured is ignored: ${dropped.join(', ')}`,
        );
      engine.setLearningRate(learningRate);
      store.truncateEpochs(startEpoch);
      logger.info(
        partial
          ? `resuming ${store.runId} in epoch ${startEpoch + 1} of ${training.epochs}, after step ${partial.steps}`
          : `resuming ${store.runId} after epoch ${state.epoch + 1} of ${training.epochs}`,
      );
    } else {
      store.writeJson('dataset.json', runInfo.dataset);
      store.writeJson('params.json', runInfo.params);
    }
    void hub.runStarted(runInfo);
    started = true;
    const firstRate = callbacks.trainBegin({
      epochs: training.epochs,
      baseLearningRate: trainingPlugins.optimizer.plugin.learningRate,
      startEpoch,
    });
    // a warm-up sets epoch 0's rate; a resumed run goes on with its checkpoint's rate
    if (!resuming && firstRate !== engine.learningRate) engine.setLearningRate(firstRate);

    pipeline = new ImagePipeline({
      image: splits.image,
      margin: dataset.pipeline.margin,
      ...imageCacheOptions(config.imageCache?.maxGiB ?? 64, `${options.cacheDir}/images`),
      onBadRecord: dataset.pipeline.onBadRecord,
      maxBadFraction: dataset.pipeline.maxBadFraction,
      splits: { train: splits.train, validation: splits.validation, test: splits.test },
      logger,
    });
    for (let epoch = startEpoch; epoch < training.epochs; epoch++) {
      const order =
        !sampler || !groups
          ? Random.fork(config.seed, 'order', epoch).shuffle(splits.train.map((_, i) => i))
          : sampler.epochPlan({
              labels: groups.labels,
              numClasses: groups.names.length,
              strata: groups.strata,
              epoch,
              seed: config.seed,
            });
      const trained = await trainEpoch({
        engine,
        task,
        examples: splits.train,
        order,
        source: pipeline,
        training,
        epoch,
        seed: config.seed,
        augment: dataset.pipeline.augment,
        resumeFrom: epoch === startEpoch ? partial : undefined,
        floatBatches: options.floatBatches,
        shouldStop: () => stopSignal.stop,
        onStep: (p) => hub.stepEnded(runInfo, p),
      });
      if (trained.interrupted || stopSignal.stop) {
        await saveCheckpoint(interruptedDir, model, engine, {
          epoch: epoch - 1,
          learningRate: engine.learningRate,
          bestEpoch,
          callbacks: callbacks.state(),
          savedAt: Date.now(),
          partial: trained.partial,
        });
        status = 'KILLED';
        failure =
          `stopped by ${stopSignal.reason ?? 'signal'} in epoch ${epoch + 1} after step ` +
          `${trained.steps}; resume with affectlab run --resume ${store.dir}`;
        logger.warn(failure);
        break;
      }
      const val = await predictSplit({
        engine,
        task,
        examples: splits.validation,
        source: pipeline,
        batchSize: training.batchSize,
        maxSteps: training.validationSteps,
        lossFn,
        floatBatches: options.floatBatches,
      });
      if (splits.validation.length > 0 && !Number.isFinite(val.loss))
        throw new NonFiniteLossError(
          val.loss,
          `the validation after epoch ${epoch + 1} (training loss ${trained.loss})`,
          'an update late in the epoch made the weights non-finite (the weights diverged)',
        );
      const valScores = scorePredictions(task, splits.validation, val, false).flat;
      const metrics: Record<string, number> = {
        loss: trained.loss,
        ...(trained.accuracy !== undefined ? { accuracy: trained.accuracy } : {}),
        ...prefixed(valScores, 'val_'),
      };
      const decisionAfter = callbacks.epochEnd({
        epoch,
        epochs: training.epochs,
        metrics,
        learningRate: engine.learningRate,
      });
      if (decisionAfter.keepAsBest) bestEpoch = epoch;
      const record: EpochRecord = {
        epoch,
        metrics,
        timestamp: Date.now(),
        learningRate: engine.learningRate,
        images: trained.images,
        seconds: trained.seconds,
        imagesPerSecond: trained.images / Math.max(trained.seconds, 1e-9),
        liveTensors: tf.memory().numTensors,
      };
      await saveCheckpoint(lastDir, model, engine, {
        epoch,
        learningRate: decisionAfter.learningRate,
        bestEpoch,
        callbacks: callbacks.state(),
        savedAt: Date.now(),
      });
      // the epoch an interrupted checkpoint was cut from is complete now
      rmSync(interruptedDir, { recursive: true, force: true });
      if (decisionAfter.keepAsBest) {
        rmSync(bestDir, { recursive: true, force: true });
        guardWrite(bestDir, () => cpSync(lastDir, bestDir, { recursive: true }));
      }
      store.appendEpoch(record);
      store.writeRecord({
        ...store.readRecord(),
        lastCompletedEpoch: epoch,
        bestEpoch,
      });
      void hub.epochEnded(runInfo, { epoch, metrics, timestamp: record.timestamp });
      await writeCurves(store);
      engine.setLearningRate(decisionAfter.learningRate);
      if (decisionAfter.stop) {
        logger.info(`stopping after epoch ${epoch + 1}: ${decisionAfter.stop}`);
        store.writeRecord({
          ...store.readRecord(),
          stopped: { epoch, reason: decisionAfter.stop },
        });
        break;
      }
    }
    callbacks.trainEnd(store.readEpochs().at(-1)?.epoch ?? -1, status);

    if (status === 'FINISHED') {
      const evaluated = await finalEvaluation({
        store,
        engine,
        model,
        task,
        splits,
        pipeline,
        config,
        lossFn,
        floatBatches: options.floatBatches,
        stopSignal,
        logger,
      });
      if (evaluated.stopped) {
        status = 'KILLED';
        failure = evaluated.stopped;
        logger.warn(failure);
      } else {
        void hub.evaluated(runInfo, evaluated.testMetrics, evaluated.lastEpoch);
        result = {
          runDir: store.dir,
          runId: store.runId,
          status,
          testMetrics: evaluated.testMetrics,
          report: evaluated.report,
        };
      }
    }
  } catch (error) {
    status = 'FAILED';
    const explained = explainFailure(error, store);
    failure = explained.message;
    // the CLI prints the error; log.txt keeps it with the run
    safely(() => store.appendLog(`run failed: ${failure}`));
    throw explained;
  } finally {
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
    recordEnd(store, status, failure);
    // a run that failed before it started is still a run every reporter hears of
    if (!started) safely(() => void hub.runStarted(runInfo));
    for (const rel of safely(() => store.files()) ?? []) {
      if (rel.startsWith('checkpoints/') || rel.includes('.tmp') || rel === 'events.jsonl')
        continue;
      safely(() => void hub.artifact(runInfo, { path: rel, absolutePath: store.path(rel) }));
    }
    await safelyAsync(() => hub.runEnded(runInfo, status, failure));
    logger.sink = undefined;
    engine?.dispose();
    model?.dispose();
    logger.info(`run ${status.toLowerCase()}; results in ${store.dir}`);
  }
  return { ...result, status };
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
    store.writeRecord({
      ...store.readRecord(),
      status,
      endTime: Date.now(),
      ...(failure ? { error: failure } : {}),
    });
  } catch (error) {
    process.stderr.write(
      `affectlab: could not record the run's end (${status}) in ${store.path('run.json')}: ` +
        `${(error as Error).message}\n`,
    );
  }
}

/**
 * The final evaluation: the best checkpoint (when one was kept) on the evaluation split, its
 * artifacts and the model. Ctrl-C stops it between batches: `stopped` then says why, and the
 * trained model is kept (a resume evaluates again).
 */
async function finalEvaluation(args: {
  store: RunStore;
  engine: TrainingEngine;
  model: tf.LayersModel;
  task: DatasetSplits['task'];
  splits: DatasetSplits;
  pipeline: ImagePipeline;
  config: ResolvedExperiment['config'];
  lossFn: TaskLoss;
  floatBatches?: boolean;
  stopSignal: { stop: boolean; reason?: string };
  logger: Logger;
}): Promise<{
  stopped?: string;
  testMetrics: Record<string, number>;
  report?: MetricReport;
  lastEpoch: number;
}> {
  const { store, engine, model, task, splits, config, logger } = args;
  const bestDir = store.path('checkpoints/best');
  // checkpoints/best exists only when a callback (model-checkpoint) kept one
  if (hasCheckpoint(bestDir)) {
    const best = readTrainingState(bestDir);
    await restoreCheckpoint(bestDir, model, engine);
    logger.info(`evaluating the best checkpoint (epoch ${best.epoch + 1})`);
  }
  const keepModel = (): void => {
    const from = `${hasCheckpoint(bestDir) ? bestDir : store.path('checkpoints/last')}/model`;
    guardWrite(store.path('model'), () => cpSync(from, store.path('model'), { recursive: true }));
  };
  const splitName = config.evaluation?.split ?? 'test';
  const evalExamples = splitName === 'test' ? splits.test : splits.validation;
  const pred = await predictSplit({
    engine,
    task,
    examples: evalExamples,
    source: args.pipeline,
    batchSize: config.training.batchSize,
    lossFn: args.lossFn,
    floatBatches: args.floatBatches,
    shouldStop: () => args.stopSignal.stop,
  });
  const lastEpoch = Math.max(0, store.readEpochs().at(-1)?.epoch ?? 0);
  if (pred.interrupted) {
    keepModel();
    return {
      stopped:
        `stopped by ${args.stopSignal.reason ?? 'signal'} during the final evaluation ` +
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
  if (scored.report) {
    process.stdout.write(
      `\n${formatMetricTable(scored.report, 'table')}\n\n${formatConfusionMatrix(scored.report.confusion, scored.report.classNames, 'table')}\n`,
    );
  }
  if (scored.regression)
    process.stdout.write(`\n${formatRegressionTable(scored.regression, 'table')}\n`);
  keepModel();
  return { testMetrics, report: scored.report, lastEpoch };
}
