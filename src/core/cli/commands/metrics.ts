/**
 * `affectlab metrics`: score predictions made anywhere (a CSV file) with the same metric
 * definitions the runner uses, so models trained elsewhere compare digit for digit.
 */
import { Option, type Command } from 'commander';
import { UserError, didYouMean } from '../../../sdk/errors.js';
import {
  flattenClassificationReport,
  flattenRegressionReport,
  formatConfusionMatrix,
  formatMetricTable,
  formatPerClassTable,
  formatRegressionTable,
  scoreClassification,
  scoreRegression,
  type MetricReport,
  type RegressionReport,
  type TableFormat,
} from '../../metrics/index.js';
import { parseCsvText, type CsvRecord } from '../../pipeline/csv.js';
import { readTextFile } from '../../config/read-file.js';
import type { ClassInfo, ClassPresets } from '../../../sdk/contracts/data.js';
import type { Registry } from '../../host/registry.js';
import type { Runtime } from '../../host/runtime.js';

const normalizeName = (name: string): string => name.toLowerCase().replace(/[\s_-]/g, '');

const REGRESSION_COLUMNS = ['valence', 'arousal', 'pred_valence', 'pred_arousal'] as const;

/** Everything `affectlab metrics` computes for one file. */
export interface PredictionScores {
  file: string;
  classification?: { report: MetricReport; metrics: Record<string, number> };
  regression?: { report: RegressionReport; examples: number; skipped: number };
  /** How the file was read (e.g. which class each numeric label became). */
  notes: string[];
  /** Problems that do not stop scoring (score rows that are not probabilities). */
  warnings: string[];
}

/**
 * What a numeric `label` / `pred` value means. `codes`: the dataset's class code (AffectNet's
 * expression code 0-10, as in its file lists), mapped to the class with that code; `indices`: a
 * model output index (0..classes-1, the order of --classes).
 */
export type NumericLabels = 'codes' | 'indices';
export const NUMERIC_LABELS: readonly NumericLabels[] = ['codes', 'indices'];

export interface ScorePredictionsOptions {
  /** The dataset's codes, names and presets that `classes` refers to (a dataset plugin's). */
  classPresets: ClassPresets;
  /** A class preset name or a comma-separated list of class names/codes; default: the dataset's default preset. */
  classes?: string;
  normalized: boolean;
  /** Default `codes`: AffectNet's own numbering, so code 5 (Disgust) never passes for index 5. */
  numericLabels?: NumericLabels;
}

/** A score row may differ from a probability distribution by this much in its sum. */
export const PROBABILITY_SUM_TOLERANCE = 1e-3;

/** The largest predictions CSV read whole: far above a prediction per AffectNet image. */
const MAX_PREDICTIONS_BYTES = 1024 * 1024 * 1024;

/** Score a predictions CSV: `label` + score columns and/or `pred`; and/or the regression columns. */
export function scorePredictionsFile(
  file: string,
  options: ScorePredictionsOptions,
): PredictionScores {
  // a regular file only (a FIFO or device cannot hang or flood it), strict UTF-8
  const text = readTextFile(file, 'predictions file', MAX_PREDICTIONS_BYTES);
  const { header, records } = parseCsvText(text, file);
  if (records.length === 0) throw new UserError(`${file}: no rows after the header`);
  const column = new Map<string, number>();
  header.forEach((name, i) => {
    const key = name.toLowerCase();
    if (column.has(key)) throw new UserError(`${file}:1: column '${name}' appears twice`);
    column.set(key, i);
  });

  const result: PredictionScores = { file, notes: [], warnings: [] };
  const presentRegression = REGRESSION_COLUMNS.filter((c) => column.has(c));
  if (presentRegression.length > 0 && presentRegression.length < REGRESSION_COLUMNS.length) {
    const missing = REGRESSION_COLUMNS.filter((c) => !column.has(c));
    throw new UserError(
      `${file}:1: regression scoring needs columns ${REGRESSION_COLUMNS.join(', ')}; missing ${missing.join(', ')}`,
    );
  }
  if (column.has('label'))
    result.classification = scoreClassificationColumns(
      file,
      header,
      column,
      records,
      options,
      result,
    );
  if (presentRegression.length === REGRESSION_COLUMNS.length)
    result.regression = scoreRegressionColumns(file, column, records);
  if (!result.classification && !result.regression) {
    throw new UserError(
      `${file}:1: nothing to score: expected a 'label' column (with 'pred' and/or one score column per class) ` +
        `or the columns ${REGRESSION_COLUMNS.join(', ')}; found ${header.join(', ')}`,
    );
  }
  return result;
}

function scoreClassificationColumns(
  file: string,
  header: readonly string[],
  column: ReadonlyMap<string, number>,
  records: readonly CsvRecord[],
  options: ScorePredictionsOptions,
  out: Pick<PredictionScores, 'notes' | 'warnings'>,
): PredictionScores['classification'] {
  const vocabulary = options.classPresets;
  const classSpec = options.classes ?? vocabulary.defaultPreset;
  const classes = vocabulary.resolve(classSpec.includes(',') ? classSpec.split(',') : classSpec);
  const classNames = classes.map((c) => c.name);
  const scoreColumns = findScoreColumns(file, header, column, vocabulary, classes, classSpec);
  const predColumn = column.get('pred');
  if (scoreColumns === undefined && predColumn === undefined) {
    throw new UserError(
      `${file}:1: classification needs a 'pred' column or one score column per class (${classNames.join(', ')} or score_0..score_${classes.length - 1})`,
    );
  }

  const numericLabels = options.numericLabels ?? 'codes';
  const parser = new ClassParser(file, vocabulary, classes, classSpec, numericLabels);
  const labelColumn = column.get('label') as number;
  const labels = records.map((r) => parser.parse(r.cells[labelColumn], r, 'label'));
  const predictions =
    predColumn === undefined
      ? undefined
      : records.map((r) => parser.parse(r.cells[predColumn], r, 'pred'));
  const scores =
    scoreColumns === undefined
      ? undefined
      : records.map((record) =>
          scoreColumns.map((col, c) => {
            const text = record.cells[col].trim();
            const value = Number(text);
            if (text === '' || !Number.isFinite(value)) {
              throw new UserError(
                `${file}:${record.line}: score of ${classNames[c]} is '${text}', not a finite number`,
              );
            }
            return value;
          }),
        );
  if (parser.numericSeen) {
    out.notes.push(
      numericLabels === 'codes'
        ? `numeric labels read as ${vocabulary.codeName}s: ${classes.map((c) => `${c.code} = ${c.name} (index ${c.index})`).join(', ')}; --numeric-labels indices reads them as model indices`
        : `numeric labels read as model indices: ${classes.map((c) => `${c.index} = ${c.name}`).join(', ')}`,
    );
  }
  if (scores) {
    const problem = notProbabilities(scores);
    if (problem.rows > 0) {
      const first = problem.examples
        .map(({ row, why }) => `line ${records[row].line}: ${why}`)
        .join('; ');
      out.warnings.push(
        `${file}: ${problem.rows} of ${scores.length} score rows are not probabilities (${first}); ` +
          'the metrics use the scores as given: write softmax outputs for the AUCs to mean what they say',
      );
    }
  }
  const report = scoreClassification({
    labels,
    predictions,
    scores,
    classNames,
    normalized: options.normalized,
  });
  return { report, metrics: flattenClassificationReport(report) };
}

/**
 * The score column of each class, named by the class or score_<index>: all or none (undefined).
 * A class with two, a column of a class outside `--classes`, a score_<k> beyond the classes and
 * a partial set are refused.
 */
function findScoreColumns(
  file: string,
  header: readonly string[],
  column: ReadonlyMap<string, number>,
  vocabulary: ClassPresets,
  classes: readonly ClassInfo[],
  classSpec: string,
): number[] | undefined {
  const numClasses = classes.length;
  const scoreColumns = classes.map((cls) => {
    const byName = header.findIndex((h) => normalizeName(h) === normalizeName(cls.name));
    const byIndex = column.get(`score_${cls.index}`);
    if (byName >= 0 && byIndex !== undefined) {
      throw new UserError(
        `${file}:1: class ${cls.name} has two score columns: '${header[byName]}' and 'score_${cls.index}'`,
      );
    }
    return byName >= 0 ? byName : byIndex;
  });
  checkOtherClassColumns(file, header, vocabulary, classes, classSpec);
  const withScores = scoreColumns.filter((c) => c !== undefined).length;
  const extraScores = header.filter(
    (h) => /^score_(\d+)$/i.test(h) && Number(h.slice(6)) >= numClasses,
  );
  if (extraScores.length > 0) {
    throw new UserError(
      `${file}:1: column(s) ${extraScores.join(', ')} name classes beyond the ${numClasses} of '${classSpec}'; pass --classes with the model's classes`,
    );
  }
  if (withScores > 0 && withScores < numClasses) {
    const missing = classes
      .filter((_, c) => scoreColumns[c] === undefined)
      .map((c) => `${c.name} (or score_${c.index})`);
    throw new UserError(
      `${file}:1: score columns are missing for ${missing.join(', ')}; give one score column per class`,
    );
  }
  return withScores === 0 ? undefined : (scoreColumns as number[]);
}

/**
 * A label or prediction cell as a class index: a class name, or a number read as a dataset code
 * (`--numeric-labels codes`, the default) or a model index; anything else names its line.
 */
class ClassParser {
  /** Whether any cell was numeric (worth a note on how numbers were read). */
  numericSeen = false;
  private readonly classByName: Map<string, number>;
  private readonly classOfCode: Map<number, number>;
  private readonly classNames: string[];

  constructor(
    private readonly file: string,
    private readonly vocabulary: ClassPresets,
    private readonly classes: readonly ClassInfo[],
    private readonly classSpec: string,
    private readonly numericLabels: 'codes' | 'indices',
  ) {
    this.classByName = new Map(classes.map((c) => [normalizeName(c.name), c.index]));
    this.classOfCode = new Map(classes.map((c) => [c.code, c.index]));
    this.classNames = classes.map((c) => c.name);
  }

  parse(value: string, record: CsvRecord, what: string): number {
    const trimmed = value.trim();
    if (/^-?\d+$/.test(trimmed)) {
      this.numericSeen = true;
      return this.parseNumber(Number(trimmed), record, what);
    }
    const index = this.classByName.get(normalizeName(trimmed));
    if (index === undefined) {
      throw new UserError(
        `${this.file}:${record.line}: ${what} '${trimmed}' is not one of the classes ${this.classNames.join(', ')} (nor a number)`,
      );
    }
    return index;
  }

  private parseNumber(number: number, record: CsvRecord, what: string): number {
    const { file, vocabulary, classes } = this;
    const numClasses = classes.length;
    const maxCode = vocabulary.names.length - 1;
    if (this.numericLabels === 'indices') {
      if (number < 0 || number >= numClasses) {
        throw new UserError(
          `${file}:${record.line}: ${what} ${number} is not a class index in 0..${numClasses - 1} (${this.classNames.join(', ')})`,
        );
      }
      return number;
    }
    if (number < 0 || number > maxCode) {
      throw new UserError(
        `${file}:${record.line}: ${what} ${number} is not an ${vocabulary.codeName} (0..${maxCode}); ` +
          `pass --numeric-labels indices if the file holds model indices 0..${numClasses - 1}`,
      );
    }
    const index = this.classOfCode.get(number);
    if (index === undefined) {
      const codeList = classes.map((c) => `${c.code} ${c.name}`).join(', ');
      throw new UserError(
        `${file}:${record.line}: ${what} ${number} is ${vocabulary.codeName} ${number} (${vocabulary.names[number]}), ` +
          `not one of the classes of '${this.classSpec}' (codes ${codeList}); drop such rows or widen --classes, ` +
          `or pass --numeric-labels indices if the file holds model indices 0..${numClasses - 1}`,
      );
    }
    return index;
  }
}

/**
 * A column named after one of the dataset's classes that is not in `--classes` is a score the
 * metrics would silently leave out (its probability mass with it): refused, naming it.
 */
function checkOtherClassColumns(
  file: string,
  header: readonly string[],
  vocabulary: ClassPresets,
  classes: readonly ClassInfo[],
  classSpec: string,
): void {
  const chosen = new Set(classes.map((c) => normalizeName(c.name)));
  const others = new Set(vocabulary.names.map(normalizeName).filter((name) => !chosen.has(name)));
  const extra = header.filter((h) => others.has(normalizeName(h)));
  if (extra.length > 0)
    throw new UserError(
      `${file}:1: column(s) ${extra.map((h) => `'${h}'`).join(', ')} name ${extra.length > 1 ? 'classes' : 'a class'} of the dataset ` +
        `that '${classSpec}' (${classes.map((c) => c.name).join(', ')}) leaves out, so ${extra.length > 1 ? 'their' : 'its'} scores would be ignored; ` +
        'pass --classes with every class the model predicts, or drop the column(s)',
    );
}

/** Rows with a negative score or a sum off 1 by more than PROBABILITY_SUM_TOLERANCE. */
function notProbabilities(scores: readonly number[][]): {
  rows: number;
  examples: { row: number; why: string }[];
} {
  let rows = 0;
  const examples: { row: number; why: string }[] = [];
  scores.forEach((row, i) => {
    const negative = row.find((v) => v < 0);
    const sum = row.reduce((a, b) => a + b, 0);
    if (negative === undefined && Math.abs(sum - 1) <= PROBABILITY_SUM_TOLERANCE) return;
    rows++;
    if (examples.length < 3)
      examples.push({
        row: i,
        why: negative !== undefined ? `negative score ${negative}` : `sums to ${sum.toFixed(4)}`,
      });
  });
  return { rows, examples };
}

function scoreRegressionColumns(
  file: string,
  column: ReadonlyMap<string, number>,
  records: readonly CsvRecord[],
): PredictionScores['regression'] {
  const values: Record<(typeof REGRESSION_COLUMNS)[number], number[]> = {
    valence: [],
    arousal: [],
    pred_valence: [],
    pred_arousal: [],
  };
  let skipped = 0;
  for (const record of records) {
    const cells = REGRESSION_COLUMNS.map((name) => record.cells[column.get(name) as number].trim());
    // A multi-task file leaves the regression cells empty where a face has no valence/arousal.
    if (cells.every((cell) => cell === '')) {
      skipped++;
      continue;
    }
    REGRESSION_COLUMNS.forEach((name, k) => {
      const value = Number(cells[k]);
      if (cells[k] === '' || !Number.isFinite(value)) {
        throw new UserError(
          `${file}:${record.line}: ${name} is '${cells[k]}', not a finite number`,
        );
      }
      if ((name === 'valence' || name === 'arousal') && (value < -1 || value > 1)) {
        throw new UserError(
          `${file}:${record.line}: ${name} ${value} is outside [-1, 1] (AffectNet writes -2 for "no value": leave such cells empty)`,
        );
      }
      values[name].push(value);
    });
  }
  if (values.valence.length === 0)
    throw new UserError(`${file}: no row has valence/arousal values to score`);
  const report = scoreRegression({
    valence: values.valence,
    arousal: values.arousal,
    predValence: values.pred_valence,
    predArousal: values.pred_arousal,
  });
  return { report, examples: values.valence.length, skipped };
}

/** The text (table or Markdown) output of `affectlab metrics`. */
export function formatPredictionScores(scores: PredictionScores, format: TableFormat): string {
  const heading = (title: string): string =>
    format === 'markdown' ? `### ${title}\n\n` : `${title}\n`;
  const parts: string[] = [];
  const classification = scores.classification?.report;
  if (classification) {
    parts.push(
      heading(
        `Classification: ${classification.count} examples, classes ${classification.classNames.join(', ')}`,
      ) + formatMetricTable(classification, format),
      heading('Per class') + formatPerClassTable(classification, format),
      heading('Confusion matrix (rows: actual, columns: predicted)') +
        formatConfusionMatrix(classification.confusion, classification.classNames, format),
    );
  }
  if (scores.regression) {
    const { report, examples, skipped } = scores.regression;
    const skippedText = skipped > 0 ? ` (${skipped} rows without valence/arousal skipped)` : '';
    parts.push(
      heading(`Valence and arousal: ${examples} examples${skippedText}`) +
        formatRegressionTable(report, format),
    );
  }
  const notes = [...scores.notes, ...(classification?.notes ?? [])];
  if (notes.length > 0) parts.push(heading('Notes') + notes.map((n) => `- ${n}\n`).join(''));
  return parts.join('\n');
}

/**
 * The class vocabulary `--classes` refers to: the named dataset plugin's, or the one registered
 * dataset plugin that has class presets.
 */
export function datasetClassPresets(registry: Registry, datasetType?: string): ClassPresets {
  const known = registry.classPresets();
  if (datasetType !== undefined) {
    const found = known.find((k) => k.type === datasetType);
    if (found) return found.classPresets;
    const names = known.map((k) => k.type);
    const hint = didYouMean(datasetType, names);
    throw new UserError(
      `no dataset plugin '${datasetType}' with class presets` +
        (hint ? `; did you mean '${hint}'?` : '') +
        ` Datasets with class presets: ${names.length ? names.join(', ') : '(none)'}`,
    );
  }
  if (known.length === 1) return known[0].classPresets;
  throw new UserError(
    known.length === 0
      ? 'no registered dataset plugin defines class presets, so --classes has nothing to refer to'
      : `several dataset plugins define class presets (${known.map((k) => k.type).join(', ')}); pass --dataset <type>`,
  );
}

export function registerMetricsCommand(program: Command, runtime: Runtime): void {
  const presetHelp = runtime.registry
    .classPresets()
    .map(
      ({ type, classPresets }) =>
        `${type}: ${Object.keys(classPresets.presets).join(', ')} (default ${classPresets.defaultPreset})`,
    )
    .join('; ');
  program
    .command('metrics')
    .description(
      'score a predictions CSV with the AffectNet metric set (Orig and skew-normalised Norm): columns label and ' +
        'pred and/or one score column per class (class name or score_<i>, probabilities); or valence, arousal, ' +
        "pred_valence, pred_arousal. label/pred are class names or numbers (the dataset's codes, e.g. AffectNet's, unless --numeric-labels indices)",
    )
    .requiredOption('--input <file>', 'predictions CSV file')
    .option(
      '--classes <preset>',
      `class preset or comma-separated class names/codes, in model index order (presets of ${presetHelp || 'no dataset'})`,
    )
    .option(
      '--dataset <type>',
      'the dataset plugin whose codes and presets --classes and numeric labels refer to (default: the only one registered)',
    )
    .addOption(
      new Option(
        '--numeric-labels <meaning>',
        "what a number in label/pred means: codes = the dataset's class codes (AffectNet: 0-10, as in the file lists; " +
          'a code outside --classes is refused), indices = model output indices (0..n-1 in --classes order)',
      )
        .choices([...NUMERIC_LABELS])
        .default('codes'),
    )
    .option('--json', 'print the full report as JSON (undefined metrics as null)')
    .option('--markdown', 'print Markdown tables')
    .option('--no-normalized', 'skip the skew-normalised (Norm) metrics')
    .action(
      (opts: {
        input: string;
        classes?: string;
        dataset?: string;
        json?: boolean;
        markdown?: boolean;
        normalized: boolean;
        numericLabels: NumericLabels;
      }) => {
        const scores = scorePredictionsFile(opts.input, {
          classPresets: datasetClassPresets(runtime.registry, opts.dataset),
          classes: opts.classes,
          normalized: opts.normalized,
          numericLabels: opts.numericLabels,
        });
        for (const warning of scores.warnings) runtime.logger.warn(warning);
        if (opts.json) {
          const out = {
            file: scores.file,
            notes: scores.notes,
            warnings: scores.warnings,
            classification: scores.classification?.report,
            metrics: {
              ...scores.classification?.metrics,
              ...(scores.regression ? flattenRegressionReport(scores.regression.report) : {}),
            },
            regression: scores.regression,
          };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        process.stdout.write(formatPredictionScores(scores, opts.markdown ? 'markdown' : 'table'));
      },
    );
}
