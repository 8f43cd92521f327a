/**
 * `affectlab evaluate`: score a trained run's model on a split of its data set, of the same
 * data set with other options (`--set dataset.root=...`), or on a file list, with the full
 * AffectNet metric set, writing the artifacts a run writes into an evaluation directory.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { BackendService, type BackendPreference } from '../../training/backend.js';
import { collect } from '../command.js';
import { UserError } from '../../../sdk/errors.js';
import { predictExamples, predictionsCsv, type Prediction } from '../../inference/predict.js';
import { openTrainedRun } from '../../inference/open-trained-run.js';
import type { TrainedRun } from '../../inference/trained-run.js';
import {
  formatConfusionMatrix,
  formatMetricTable,
  formatRegressionTable,
  type MetricReport,
  type RegressionReport,
} from '../../metrics/index.js';
import { formatBadRecordSummary, mergeBadRecordSummaries } from '../../pipeline/index.js';
import type { BadRecordSummary, Example, Task } from '../../../sdk/contracts/data.js';
import { redactCredentials } from '../../redact.js';
import { writeFinalArtifacts } from '../../runner/artifacts.js';
import { newRunId, RunStore } from '../../reporting/run-store.js';
import { prefixed, scorePredictions } from '../../runner/scoring.js';
import type { Runtime } from '../../host/runtime.js';
import { BACKEND_CHOICES, positiveInt } from './predict.js';

export const EVALUATION_SPLITS = ['test', 'validation', 'train'] as const;
export type EvaluationSplit = (typeof EVALUATION_SPLITS)[number];

/** What --set may change: the data and how it is scored, never the model. */
const SETTABLE = /^(dataset|evaluation)(\.|=)/;

export interface EvaluateOptions {
  /** Run directory or id. */
  run: string;
  runsRoot?: string;
  /** Overrides of the run's config (dataset.*, evaluation.* only). */
  set?: string[];
  split?: EvaluationSplit;
  /** Score this file list (in the dataset's format) instead of a split. */
  list?: string;
  images?: string;
  batchSize?: number;
  backend?: BackendPreference;
  normalized?: boolean;
  /** Evaluation directory (default <run>/evaluations/<id>). */
  out?: string;
  cacheDir?: string;
}

export interface EvaluationResult {
  dir: string;
  split: string;
  count: number;
  metrics: Record<string, number>;
  report?: MetricReport;
  regression?: RegressionReport;
  badRecords: BadRecordSummary;
}

/** Metrics of predictions against their examples' labels, by the runner's own scoring. */
export function scoreExamples(
  task: Task,
  predictions: readonly Prediction[],
  normalized: boolean,
): { flat: Record<string, number>; report?: MetricReport; regression?: RegressionReport } {
  const scored = scorePredictions(
    task,
    predictions.map((p) => p.example),
    {
      indices: predictions.map((_, i) => i),
      scores:
        task.kind === 'valence-arousal'
          ? undefined
          : predictions.map((p) => p.scores as Float32Array),
      valenceArousal:
        task.kind === 'classification'
          ? undefined
          : predictions.map((p) => p.valenceArousal as [number, number]),
      // the training loss needs the run's class weights: not part of an evaluation
      loss: NaN,
    },
    normalized,
  );
  const { loss: _loss, ...flat } = scored.flat;
  return { ...scored, flat };
}

function evaluationDir(run: TrainedRun, out: string | undefined): RunStore {
  const dir = out ? resolve(out) : run.store.path(`evaluations/${newRunId()}`);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new UserError(`evaluation directory ${dir} is not empty`);
  mkdirSync(dir, { recursive: true });
  return new RunStore(dir);
}

/** Evaluate a trained run; writes metrics.json, metrics.md, confusion matrix, predictions.csv... */
export async function evaluateRun(
  runtime: Runtime,
  options: EvaluateOptions,
): Promise<EvaluationResult> {
  const overrides = options.set ?? [];
  const refused = overrides.filter((o) => !SETTABLE.test(o.trim()));
  if (refused.length > 0)
    throw new UserError(
      `evaluate --set changes the data or the scoring only (dataset.*, evaluation.*), not the model: ${refused.join(', ')}`,
    );
  if (options.list && options.split) throw new UserError('give --split or --list, not both');
  const run = await openTrainedRun(runtime, options.run, {
    runsRoot: options.runsRoot,
    overrides,
    cacheDir: options.cacheDir,
  });
  const logger = runtime.logger;
  const config = run.resolved.config;
  const normalized = options.normalized ?? config.evaluation?.normalized ?? true;
  const backend = await runtime.container
    .resolve(BackendService)
    .activate(options.backend ?? config.training.backend);

  let examples: Example[];
  let dataBad: BadRecordSummary;
  let split: string;
  const description: Record<string, unknown> = {};
  if (options.list) {
    if (typeof run.dataset.listExamples !== 'function')
      throw new UserError(`dataset plugin '${config.dataset.type}' reads no file lists (--list)`);
    const listed = await run.dataset.listExamples(options.list, options.images);
    for (const note of listed.notes) logger.warn(`${options.list}: ${note}`);
    examples = listed.examples;
    dataBad = listed.badRecords;
    split = 'list';
    Object.assign(description, { list: resolve(options.list), notes: listed.notes });
  } else {
    split = options.split ?? config.evaluation?.split ?? 'test';
    const splits = await run.dataset.prepare();
    const names = (t: Task): string => t.classes.map((c) => c.name).join(',');
    if (names(splits.task) !== names(run.task))
      throw new UserError(
        `the data set gives classes ${names(splits.task)}, the model was trained on ${names(run.task)}`,
      );
    examples = splits[split as EvaluationSplit];
    dataBad = splits.badRecords;
    Object.assign(description, splits.description);
  }
  if (dataBad.total > 0) logger.warn(formatBadRecordSummary(dataBad));
  if (examples.length === 0) throw new UserError(`nothing to evaluate: the ${split} set is empty`);
  const store = evaluationDir(run, options.out);
  logger.info(
    `evaluating ${run.runId} (${run.modelSource}) on ${split}: ${examples.length} images -> ${store.dir}`,
  );
  const model = await run.loadModel();
  let outcome;
  try {
    outcome = await predictExamples({
      run,
      model,
      examples,
      batchSize: options.batchSize ?? config.training.batchSize,
      logger,
      cacheDir: resolve(options.cacheDir ?? '.cache/affectlab', 'images'),
      label: `evaluating ${split}`,
    });
  } finally {
    model.dispose();
  }
  if (outcome.predictions.length === 0)
    throw new UserError(
      `no image of the ${split} set could be read: ${formatBadRecordSummary(outcome.badRecords)}`,
    );
  const scored = scoreExamples(run.task, outcome.predictions, normalized);
  const metrics = prefixed(scored.flat, `${split}_`);
  const badRecords = mergeBadRecordSummaries(dataBad, outcome.badRecords);
  store.writeYaml('config.yaml', redactCredentials(config));
  store.writeJson('evaluation.json', {
    run: run.runDir,
    runId: run.runId,
    experiment: run.experiment,
    model: run.modelSource,
    split,
    overrides,
    normalized,
    backend: { name: backend.name, devices: backend.devices },
    images: examples.length,
    predicted: outcome.predictions.length,
    seconds: outcome.seconds,
    time: new Date().toISOString(),
  });
  store.writeJson('dataset.json', description);
  store.writeJson('bad_records.json', badRecords);
  store.writeFile('predictions.csv', predictionsCsv(run.task, outcome.predictions));
  await writeFinalArtifacts(
    store,
    scored.report,
    scored.regression,
    metrics,
    outcome.predictions.length,
    split,
    {},
    examples.length - outcome.predictions.length,
  );
  if (outcome.badRecords.total > 0)
    logger.warn(`images not scored: ${formatBadRecordSummary(outcome.badRecords)}`);
  return {
    dir: store.dir,
    split,
    count: outcome.predictions.length,
    metrics,
    report: scored.report,
    regression: scored.regression,
    badRecords,
  };
}

export function registerEvaluateCommand(program: Command, runtime: Runtime): void {
  program
    .command('evaluate')
    .description(
      "score a trained run's model on a split (default: the run's evaluation split), on its data set with " +
        'other options (--set dataset.root=..., dataset.split.policy=...), or on a file list (--list), with the ' +
        'full AffectNet metric set; writes metrics.json, metrics.md, confusion_matrix.csv/.png, predictions.csv ' +
        'into <run>/evaluations/<id>/',
    )
    .requiredOption('--run <run>', 'the run: its directory, or its id under --runs')
    .addOption(
      new Option('--split <name>', 'split of the data set to score').choices([
        ...EVALUATION_SPLITS,
      ]),
    )
    .option(
      '--set <path=value>',
      "override the run's dataset.* or evaluation.* options (repeatable), e.g. --set dataset.root=/data/other",
      collect,
    )
    .option(
      '--list <file>',
      "score this file list (the dataset's format, e.g. an AffectNet CSV) instead of a split",
    )
    .option('--images <dir>', 'image folder of --list (default: the dataset plugin decides)')
    .option('--batch <n>', "images per model call (default: the run's training.batchSize)")
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKEND_CHOICES))
    .option('--no-normalized', 'skip the skew-normalised (Norm) metrics')
    .option('--out <dir>', 'evaluation directory (default: <run>/evaluations/<id>)')
    .option('--runs <dir>', 'root of the local run store', 'runs')
    .option(
      '--cache-dir <dir>',
      'cache for preprocessed images',
      process.env.AFFECTLAB_CACHE ?? '.cache/affectlab',
    )
    .action(
      async (opts: {
        run: string;
        split?: EvaluationSplit;
        set?: string[];
        list?: string;
        images?: string;
        batch?: string;
        backend?: BackendPreference;
        normalized: boolean;
        out?: string;
        runs: string;
        cacheDir: string;
      }) => {
        const result = await evaluateRun(runtime, {
          run: opts.run,
          runsRoot: opts.runs,
          set: opts.set,
          split: opts.split,
          list: opts.list,
          images: opts.images,
          batchSize: opts.batch === undefined ? undefined : positiveInt(opts.batch, '--batch'),
          backend: opts.backend,
          normalized: opts.normalized,
          out: opts.out,
          cacheDir: opts.cacheDir,
        });
        if (result.report)
          process.stdout.write(
            `\n${formatMetricTable(result.report, 'table')}\n\n${formatConfusionMatrix(result.report.confusion, result.report.classNames, 'table')}\n`,
          );
        if (result.regression)
          process.stdout.write(`\n${formatRegressionTable(result.regression, 'table')}\n`);
        process.stdout.write(
          `\nevaluation: ${result.dir} (${result.split}, ${result.count} images)\n`,
        );
      },
    );
}
