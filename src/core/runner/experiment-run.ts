import { cpSync, existsSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { DependencyContainer } from 'tsyringe';
import { BackendService } from '../backend.js';
import type { TrainingConfig } from '../config/types.js';
import { UserError } from '../errors.js';
import { makeClassificationLoss, makeRegressionLoss } from '../loss.js';
import {
  flattenClassificationReport,
  scoreClassification,
  type MetricReport,
} from '../metrics/classification.js';
import {
  flattenRegressionReport,
  scoreRegression,
  type RegressionReport,
} from '../metrics/regression.js';
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
  Task,
} from '../plugin.js';
import type { ResolvedExperiment, Runtime } from '../runtime.js';
import { Logger, Random } from '../services.js';
import {
  hasCheckpoint,
  readTrainingState,
  restoreCheckpoint,
  saveCheckpoint,
} from './checkpoint.js';
import { afterEpoch, initialMonitorState, type MonitorState } from './monitor.js';
import { confusionMatrixSvg, lineChartSvg, sideBySideSvg, svgToPng } from './plots.js';
import { ReporterHub, type ProgressReporter } from './reporter-hub.js';
import { RunStore, type EpochRecord } from './run-store.js';
import { predictSplit, seedMathRandom, trainEpoch, type Predictions } from './trainer.js';

export interface RunOptions {
  cacheDir: string;
  /** Continue this run (directory or id) from its last completed epoch. */
  resume?: string;
  /** Tag shared by the runs of a sweep. */
  group?: string;
  /** Set by the signal handlers; the trainer stops after the current step. */
  stopSignal?: { stop: boolean; reason?: string };
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
function samplingGroups(splits: DatasetSplits): { names: string[]; labels: number[] } | undefined {
  const { task } = splits;
  if (task.classes.length > 0)
    return { names: task.classes.map((c) => c.name), labels: splits.train.map((e) => e.label) };
  if (task.strata && task.strata.length > 0)
    return {
      names: task.strata.map((c) => c.name),
      labels: splits.train.map((e) => e.stratum ?? -1),
    };
  return undefined;
}

function groupCounts(groups: { names: string[]; labels: number[] }): number[] {
  const counts = new Array<number>(groups.names.length).fill(0);
  for (const label of groups.labels) if (label >= 0) counts[label]++;
  return counts;
}

function buildOptimizer(training: TrainingConfig): tf.Optimizer {
  const o = training.optimizer;
  switch (o.type) {
    case 'sgd':
      return o.momentum
        ? tf.train.momentum(o.learningRate, o.momentum)
        : tf.train.sgd(o.learningRate);
    case 'rmsprop':
      return tf.train.rmsprop(o.learningRate, 0.9, o.momentum ?? 0, o.epsilon);
    case 'adam':
      return tf.train.adam(o.learningRate, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.epsilon ?? 1e-7);
  }
}

function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as tf.Optimizer & {
    setLearningRate?: (v: number) => void;
    learningRate?: number;
  };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}

type LossFn = (yTrue: tf.Tensor | tf.Tensor[], yPred: tf.Tensor | tf.Tensor[]) => tf.Scalar;

/** Compile the model for the task; returns the loss as one function for validation. */
function compile(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  task: Task,
  training: TrainingConfig,
  weights?: number[],
): LossFn {
  const classLoss = makeClassificationLoss(weights);
  const regLoss = makeRegressionLoss(training.loss?.regression ?? 'mse');
  if (task.kind === 'classification') {
    model.compile({ optimizer, loss: classLoss, metrics: ['accuracy'] });
    return (t, p) => classLoss(t as tf.Tensor, p as tf.Tensor);
  }
  if (task.kind === 'valence-arousal') {
    model.compile({ optimizer, loss: regLoss });
    return (t, p) => regLoss(t as tf.Tensor, p as tf.Tensor);
  }
  const we = training.loss?.expressionWeight ?? 1;
  const wr = training.loss?.regressionWeight ?? 1;
  // tfjs' compile has no lossWeights: the weights go into the per-output losses.
  model.compile({
    optimizer,
    loss: [
      (t: tf.Tensor, p: tf.Tensor) => classLoss(t, p).mul(we),
      (t: tf.Tensor, p: tf.Tensor) => regLoss(t, p).mul(wr),
    ],
  });
  return (t, p) =>
    tf.tidy(() => {
      const [tc, tr] = t as tf.Tensor[];
      const [pc, pr] = p as tf.Tensor[];
      return classLoss(tc, pc).mul(we).add(regLoss(tr, pr).mul(wr)) as tf.Scalar;
    });
}

/** Metrics of one split's predictions: classification set, regression set, or both. */
function scorePredictions(
  task: Task,
  examples: DatasetSplits['train'],
  pred: Predictions,
  normalized: boolean,
): { flat: Record<string, number>; report?: MetricReport; regression?: RegressionReport } {
  const flat: Record<string, number> = { loss: pred.loss };
  let report: MetricReport | undefined;
  let regression: RegressionReport | undefined;
  if (pred.scores) {
    report = scoreClassification({
      labels: pred.indices.map((i) => examples[i].label),
      scores: pred.scores,
      classNames: task.classes.map((c) => c.name),
      normalized,
    });
    Object.assign(flat, flattenClassificationReport(report));
  }
  if (pred.valenceArousal) {
    const va = pred.valenceArousal;
    regression = scoreRegression({
      valence: pred.indices.map((i) => examples[i].valence ?? 0),
      arousal: pred.indices.map((i) => examples[i].arousal ?? 0),
      predValence: va.map((v) => v[0]),
      predArousal: va.map((v) => v[1]),
    });
    Object.assign(flat, flattenRegressionReport(regression));
  }
  return { flat, report, regression };
}

function prefixed(metrics: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`${prefix}${k}`, v]));
}

/**
 * One run of an experiment, start to end: data, model, epochs with validation, checkpoints,
 * the final test evaluation, and every artifact in the run store and the reporters.
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

  // Backend first: a missing native backend should fail before any data is read.
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
  const reporterRefs = runtime.reportersFor(config);
  const reporters = reporterRefs.map((ref) =>
    runtime.instantiate<ReporterPlugin & ProgressReporter>(scope, 'reporter', ref),
  );

  const resuming = options.resume !== undefined;
  const store = resuming
    ? RunStore.open(options.resume as string, config.runs?.root ?? 'runs')
    : RunStore.create(config.runs?.root ?? 'runs', config.name);
  logger.sink = (line) => store.appendLog(line);
  const hub = new ReporterHub(reporters, store, logger);
  logger.info(`run directory: ${store.dir}`);

  const splits = await dataset.prepare();
  const { task } = splits;
  if (splits.badRecords.total > 0) logger.warn(formatBadRecordSummary(splits.badRecords));
  if (splits.train.length === 0)
    throw new UserError(`the training split of ${config.dataset.type} is empty`);
  store.writeJson('class_map.json', task.classes);
  store.writeJson('bad_records.json', splits.badRecords);
  const groups = samplingGroups(splits);
  const counts = groups ? groupCounts(groups) : [];
  if (sampler && !groups)
    logger.warn(
      `sampler ${config.sampler?.type} ignored: ${config.dataset.type} gives no classes or strata to balance`,
    );
  // class weights scale the cross-entropy; pure regression has none to scale
  const classWeights = groups ? sampler?.classWeights(counts) : undefined;
  if (classWeights && task.kind === 'valence-arousal')
    logger.warn(
      `sampler ${config.sampler?.type}: class weights do not apply to the valence/arousal loss; ` +
        'use up-sample or down-sample to balance the expression categories',
    );
  const weights = task.kind === 'valence-arousal' ? undefined : classWeights;
  if (weights)
    logger.info(
      `class weights: ${task.classes.map((c, i) => `${c.name} ${weights[i].toFixed(4)}`).join(', ')}`,
    );

  const restoreRandom = seedMathRandom(config.seed, 'init');
  const model = await architecture.build({
    inputShape: [splits.image.height, splits.image.width, splits.image.channels],
    task,
  });
  restoreRandom();
  const optimizer = buildOptimizer(training);
  const lossFn = compile(model, optimizer, task, training, weights);

  const runInfo: RunInfo = {
    runId: store.runId,
    experiment: config.name,
    runDir: store.dir,
    sourceFile: resolved.file,
    resolvedConfig: config as unknown as Record<string, unknown>,
    params: {
      ...flattenParams(config),
      'data.train_count': splits.train.length,
      'data.validation_count': splits.validation.length,
      'data.test_count': splits.test.length,
      ...(weights
        ? Object.fromEntries(
            task.classes.map((c, i) => [`loss.class_weight.${c.name}`, weights[i]]),
          )
        : {}),
      'backend.name': backend.name,
    },
    backend: { name: backend.name, devices: backend.devices },
    dataset: {
      ...splits.description,
      classes: task.classes,
      ...(task.strata ? { strata: task.strata } : {}),
      // per class (or per stratum when the task has no classes), as the sampler sees them
      trainCounts: counts,
      badRecords: splits.badRecords.total,
    },
    group: options.group,
    startTime: Date.now(),
  };

  let monitor: MonitorState = initialMonitorState(training);
  let startEpoch = 0;
  const lastDir = store.path('checkpoints/last');
  const bestDir = store.path('checkpoints/best');
  if (resuming) {
    if (!hasCheckpoint(lastDir))
      throw new UserError(
        `${store.dir} has no completed epoch to resume from (checkpoints/last is missing)`,
      );
    const state = await restoreCheckpoint(lastDir, model, optimizer);
    monitor = state.monitor;
    startEpoch = state.epoch + 1;
    setLearningRate(optimizer, monitor.learningRate);
    store.truncateEpochs(startEpoch);
    logger.info(`resuming ${store.runId} after epoch ${state.epoch + 1} of ${training.epochs}`);
  } else {
    store.writeYaml('config.yaml', config);
    store.writeJson('dataset.json', runInfo.dataset);
    store.writeJson('params.json', runInfo.params);
  }
  store.writeRecord({
    runId: store.runId,
    experiment: config.name,
    status: 'RUNNING',
    startTime: runInfo.startTime,
    backend: runInfo.backend,
    group: options.group,
  });
  await hub.runStarted(runInfo);

  const pipeline = new ImagePipeline({
    image: splits.image,
    margin: dataset.pipeline.margin,
    cacheDir: `${options.cacheDir}/images`,
    onBadRecord: dataset.pipeline.onBadRecord,
    logger,
  });
  const normalized = config.evaluation?.normalized ?? true;
  let status: RunStatus = 'FINISHED';
  let failure: string | undefined;
  let result: RunResult = { runDir: store.dir, runId: store.runId, status };
  try {
    for (let epoch = startEpoch; epoch < training.epochs; epoch++) {
      const order =
        !sampler || !groups
          ? Random.fork(config.seed, 'order', epoch).shuffle(splits.train.map((_, i) => i))
          : sampler.epochIndices(groups.labels, groups.names.length, epoch, config.seed);
      const restore = seedMathRandom(config.seed, 'epoch', epoch);
      let trained;
      try {
        trained = await trainEpoch({
          model,
          task,
          examples: splits.train,
          order,
          source: pipeline,
          training,
          epoch,
          seed: config.seed,
          augment: dataset.pipeline.augment,
          shouldStop: () => stopSignal.stop,
          onStep: (p) => hub.stepEnded(runInfo, p),
        });
      } finally {
        restore();
      }
      if (trained.interrupted || stopSignal.stop) {
        await saveCheckpoint(store.path('checkpoints/interrupted'), model, optimizer, {
          epoch: epoch - 1,
          monitor,
          savedAt: Date.now(),
        });
        status = 'KILLED';
        failure = `stopped by ${stopSignal.reason ?? 'signal'} during epoch ${epoch + 1}; resume with affectlab run --resume ${store.dir}`;
        logger.warn(failure);
        break;
      }
      const val = await predictSplit({
        model,
        task,
        examples: splits.validation,
        source: pipeline,
        batchSize: training.batchSize,
        maxSteps: training.validationSteps,
        lossFn,
      });
      const valScores = scorePredictions(task, splits.validation, val, false).flat;
      const metrics: Record<string, number> = {
        loss: trained.loss,
        ...(trained.accuracy !== undefined ? { accuracy: trained.accuracy } : {}),
        ...prefixed(valScores, 'val_'),
      };
      const decision = afterEpoch(monitor, training, epoch, metrics);
      const record: EpochRecord = {
        epoch,
        metrics,
        timestamp: Date.now(),
        learningRate: (optimizer as unknown as { learningRate: number }).learningRate,
        images: trained.images,
        seconds: trained.seconds,
        imagesPerSecond: trained.images / Math.max(trained.seconds, 1e-9),
        liveTensors: tf.memory().numTensors,
      };
      await saveCheckpoint(lastDir, model, optimizer, {
        epoch,
        monitor,
        savedAt: Date.now(),
      });
      if (decision.isBest && (training.checkpoint?.saveBest ?? true)) {
        rmSync(bestDir, { recursive: true, force: true });
        cpSync(lastDir, bestDir, { recursive: true });
      }
      store.appendEpoch(record);
      store.writeRecord({
        ...store.readRecord(),
        lastCompletedEpoch: epoch,
        bestEpoch: monitor.bestEpoch,
      });
      await hub.epochEnded(runInfo, { epoch, metrics, timestamp: record.timestamp });
      await writeCurves(store);
      setLearningRate(optimizer, decision.learningRate);
      if (decision.stop) {
        logger.info(
          `early stopping after epoch ${epoch + 1}: ${training.earlyStopping?.monitor} did not improve for ${training.earlyStopping?.patience} epoch(s)`,
        );
        break;
      }
    }

    if (status === 'FINISHED') {
      if ((training.checkpoint?.saveBest ?? true) && hasCheckpoint(bestDir)) {
        const best = readTrainingState(bestDir);
        await restoreCheckpoint(bestDir, model, optimizer);
        logger.info(`evaluating the best checkpoint (epoch ${best.epoch + 1})`);
      }
      const splitName = config.evaluation?.split ?? 'test';
      const evalExamples = splitName === 'test' ? splits.test : splits.validation;
      const pred = await predictSplit({
        model,
        task,
        examples: evalExamples,
        source: pipeline,
        batchSize: training.batchSize,
        lossFn,
      });
      const scored = scorePredictions(task, evalExamples, pred, normalized);
      const testMetrics = prefixed(scored.flat, `${splitName}_`);
      const lastEpoch = Math.max(0, store.readEpochs().at(-1)?.epoch ?? 0);
      await writeFinalArtifacts(
        store,
        scored.report,
        scored.regression,
        testMetrics,
        evalExamples.length,
        splitName,
      );
      if (scored.report) {
        process.stdout.write(
          `\n${formatMetricTable(scored.report, 'table')}\n\n${formatConfusionMatrix(scored.report.confusion, scored.report.classNames, 'table')}\n`,
        );
      }
      if (scored.regression)
        process.stdout.write(`\n${formatRegressionTable(scored.regression, 'table')}\n`);
      await hub.evaluated(runInfo, testMetrics, lastEpoch);
      if (hasCheckpoint(bestDir))
        cpSync(`${bestDir}/model`, store.path('model'), { recursive: true });
      else cpSync(`${lastDir}/model`, store.path('model'), { recursive: true });
      result = {
        runDir: store.dir,
        runId: store.runId,
        status,
        testMetrics,
        report: scored.report,
      };
    }
  } catch (error) {
    status = 'FAILED';
    failure = (error as Error).message;
    throw error;
  } finally {
    await pipeline.close();
    const bad = mergeBadRecordSummaries(splits.badRecords, pipeline.badRecords);
    store.writeJson('bad_records.json', bad);
    if (pipeline.badRecords.total > 0)
      logger.warn(`images skipped during the run: ${formatBadRecordSummary(pipeline.badRecords)}`);
    for (const rel of store
      .files()
      .filter((f) => !f.startsWith('checkpoints/') && !f.endsWith('.tmp'))) {
      if (rel === 'events.jsonl') continue;
      await hub.artifact(runInfo, { path: rel, absolutePath: store.path(rel) });
    }
    store.writeRecord({
      ...store.readRecord(),
      status,
      endTime: Date.now(),
      ...(failure ? { error: failure } : {}),
    });
    await hub.runEnded(runInfo, status, failure);
    logger.sink = undefined;
    model.dispose();
    optimizer.dispose();
    logger.info(`run ${status.toLowerCase()}: ${store.dir}`);
  }
  return { ...result, status };
}

async function writeCurves(store: RunStore): Promise<void> {
  const epochs = store.readEpochs();
  const series = (key: string) => ({
    name: key,
    points: epochs
      .filter((e) => e.metrics[key] !== undefined)
      .map((e) => [e.epoch + 1, e.metrics[key]] as [number, number]),
  });
  const charts = [lineChartSvg('Loss', [series('loss'), series('val_loss')])];
  if (epochs.some((e) => e.metrics.val_accuracy !== undefined)) {
    charts.push(
      lineChartSvg('Accuracy / F1', [
        series('accuracy'),
        series('val_accuracy'),
        series('val_f1_macro'),
      ]),
    );
  }
  if (epochs.some((e) => e.metrics.val_valence_rmse !== undefined)) {
    charts.push(
      lineChartSvg('Valence / arousal RMSE', [
        series('val_valence_rmse'),
        series('val_arousal_rmse'),
      ]),
    );
  }
  store.writeFile('curves.png', await svgToPng(sideBySideSvg(charts)));
}

async function writeFinalArtifacts(
  store: RunStore,
  report: MetricReport | undefined,
  regression: RegressionReport | undefined,
  flat: Record<string, number>,
  count: number,
  split: string,
): Promise<void> {
  store.writeJson('metrics.json', {
    split,
    count,
    metrics: flat,
    report: report ?? null,
    regression: regression ?? null,
  });
  const md: string[] = [`# ${basename(store.dir)}: ${split} split (${count} images)`, ''];
  if (report) {
    md.push(
      formatMetricTable(report, 'markdown'),
      '',
      '## Confusion matrix',
      '',
      formatConfusionMatrix(report.confusion, report.classNames, 'markdown'),
      '',
    );
    const csv = [
      ['actual\\predicted', ...report.classNames].join(','),
      ...report.confusion.map((row, i) => [report.classNames[i], ...row].join(',')),
    ].join('\n');
    store.writeFile('confusion_matrix.csv', csv + '\n');
    store.writeFile(
      'confusion_matrix.png',
      await svgToPng(confusionMatrixSvg(report.confusion, report.classNames)),
    );
  }
  if (regression) {
    md.push('## Valence and arousal', '', formatRegressionTable(regression, 'markdown'), '');
  }
  store.writeFile('metrics.md', md.join('\n') + '\n');
  if (!existsSync(store.path('metrics.jsonl'))) store.writeFile('metrics.jsonl', '');
}
