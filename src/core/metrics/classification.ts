/**
 * The AffectNet classification metric set, one definition each, "Orig" and skew-normalised
 * ("Norm"). `null` marks a metric that is undefined for the data (e.g. the recall of a class
 * absent from the labels); it is never replaced by a number, and macro means skip it.
 *
 * Conventions (compared with scikit-learn 1.9, whose values the unit tests hard-code):
 * - Precision of a class never predicted is undefined (sklearn: 0 with a warning). Recall and
 *   AUCs of a class absent from the labels are undefined (sklearn: 0 with a warning for recall;
 *   roc_auc_score refuses the whole computation).
 * - F1 = 2TP / (2TP + FP + FN), defined whenever the class occurs in the labels or the
 *   predictions; a class predicted but absent from the labels has F1 = 0 (all its predictions are
 *   wrong). f1_macro averages over the classes that occur in labels or predictions, as sklearn's
 *   default `labels` (their union) does; f1_weighted weights by support, as sklearn does.
 * - auc_roc / auc_pr (macro) average the classes whose one-vs-rest AUC is defined: the class
 *   occurs in the labels (and, for AUC-ROC, not every example belongs to it).
 * - Predictions, when not given, are the argmax of the scores (first maximum on ties, as numpy).
 */
import { UserError } from '../../sdk/errors.js';
import {
  METRIC_KEYS,
  NORM_METRIC_KEYS,
  NORM_PER_CLASS_METRIC_KEYS,
  PER_CLASS_METRIC_KEYS,
  classSlugs,
  type MetricKey,
} from './keys.js';

/** Per-example class scores: one row per example, one column per class. */
export type ScoreRows = readonly ArrayLike<number>[];

export type MetricValues = Record<MetricKey, number | null>;

export interface ClassMetrics {
  index: number;
  name: string;
  /** Examples of this class in the labels. */
  support: number;
  /** Examples predicted as this class. */
  predicted: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  aucRoc: number | null;
  aucPr: number | null;
  /** Jeni et al. (2013) skew-normalised one-vs-rest values (see `skewNormalizedClassMetrics`). */
  normPrecision: number | null;
  normF1: number | null;
  normAucPr: number | null;
}

export interface MetricReport {
  classNames: string[];
  /** Number of scored examples. */
  count: number;
  orig: MetricValues;
  norm?: MetricValues;
  perClass: ClassMetrics[];
  /** Rows: actual class; columns: predicted class. */
  confusion: number[][];
  /** What was excluded or undefined, in words (classes absent from the labels, ...). */
  notes: string[];
}

export interface ClassificationInput {
  labels: readonly number[];
  scores?: ScoreRows;
  predictions?: readonly number[];
  classNames: readonly string[];
  /** Also compute the skew-normalised ("Norm") metrics. */
  normalized: boolean;
}

// ---- input checks -------------------------------------------------------------------------------

function checkClassIndices(values: readonly number[], numClasses: number, what: string): void {
  values.forEach((value, i) => {
    if (!Number.isInteger(value) || value < 0 || value >= numClasses) {
      throw new UserError(`${what}[${i}] = ${value} is not a class index in 0..${numClasses - 1}`);
    }
  });
}

function checkScores(scores: ScoreRows, count: number, numClasses: number): void {
  if (scores.length !== count) {
    throw new UserError(`there are ${scores.length} score rows for ${count} labels`);
  }
  scores.forEach((row, i) => {
    if (row.length !== numClasses) {
      throw new UserError(
        `score row ${i} has ${row.length} values; expected one per class (${numClasses})`,
      );
    }
    for (let c = 0; c < numClasses; c++) {
      if (!Number.isFinite(row[c]))
        throw new UserError(`score row ${i}, class ${c} is ${row[c]}, not a finite number`);
    }
  });
}

/** Index of the largest score in a row (the first one on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
  return best;
}

// ---- confusion matrix ---------------------------------------------------------------------------

/** Counts[actual][predicted]. */
export function confusionMatrix(
  labels: readonly number[],
  predictions: readonly number[],
  numClasses: number,
): number[][] {
  if (labels.length !== predictions.length) {
    throw new UserError(`there are ${predictions.length} predictions for ${labels.length} labels`);
  }
  checkClassIndices(labels, numClasses, 'labels');
  checkClassIndices(predictions, numClasses, 'predictions');
  const matrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]][predictions[i]]++;
  return matrix;
}

/**
 * Labels and predictions that reproduce a confusion matrix (rows actual, columns predicted),
 * for scoring published confusion matrices such as the report's Table 5.
 */
export function fromConfusion(matrix: readonly (readonly number[])[]): {
  labels: number[];
  predictions: number[];
} {
  const labels: number[] = [];
  const predictions: number[] = [];
  matrix.forEach((row, actual) => {
    if (row.length !== matrix.length) {
      throw new UserError(
        `confusion matrix row ${actual} has ${row.length} columns; expected ${matrix.length}`,
      );
    }
    row.forEach((count, predicted) => {
      if (!Number.isInteger(count) || count < 0) {
        throw new UserError(
          `confusion matrix cell [${actual}][${predicted}] = ${count} is not a count`,
        );
      }
      for (let k = 0; k < count; k++) {
        labels.push(actual);
        predictions.push(predicted);
      }
    });
  });
  return { labels, predictions };
}

const rowSums = (m: readonly (readonly number[])[]): number[] =>
  m.map((row) => row.reduce((a, b) => a + b, 0));
const columnSums = (m: readonly (readonly number[])[]): number[] =>
  m.map((_, c) => m.reduce((sum, row) => sum + row[c], 0));
const total = (m: readonly (readonly number[])[]): number => rowSums(m).reduce((a, b) => a + b, 0);
const trace = (m: readonly (readonly number[])[]): number =>
  m.reduce((sum, row, c) => sum + row[c], 0);

/** a / b, or null when b is 0 (the metric is undefined). */
function ratio(a: number, b: number): number | null {
  return b === 0 ? null : a / b;
}

function meanDefined(values: readonly (number | null)[]): number | null {
  const defined = values.filter((v): v is number => v !== null);
  return defined.length === 0 ? null : defined.reduce((a, b) => a + b, 0) / defined.length;
}

// ---- multi-class agreement metrics (work on real-valued, i.e. re-weighted, matrices too) -------

export function accuracyFromConfusion(m: readonly (readonly number[])[]): number | null {
  return ratio(trace(m), total(m));
}

/**
 * Cohen's kappa: (p_o - p_e) / (1 - p_e), p_e = sum_c (row_c / n)(col_c / n). Undefined when
 * p_e = 1 (both raters put everything in one class).
 */
export function cohenKappa(m: readonly (readonly number[])[]): number | null {
  const n = total(m);
  if (n === 0) return null;
  const rows = rowSums(m);
  const cols = columnSums(m);
  const observed = trace(m) / n;
  const expected = rows.reduce((sum, r, c) => sum + (r / n) * (cols[c] / n), 0);
  return 1 - expected <= 1e-12 ? null : (observed - expected) / (1 - expected);
}

/**
 * Krippendorff's alpha, nominal, for two coders (the labels and the predictions) with no
 * missing values. Each example is a unit with two values, so the coincidence matrix is
 * o = C + C^T (C the confusion matrix) and n = 2N pairable values; with n_c = sum_k o_ck,
 *   alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k
 * (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). Undefined when every value
 * falls in one category (no expected disagreement).
 */
export function krippendorffAlphaNominal(m: readonly (readonly number[])[]): number | null {
  const k = m.length;
  const perCategory = new Array<number>(k).fill(0);
  let n = 0;
  let agreeing = 0;
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < k; j++) {
      perCategory[c] += m[c][j] + m[j][c];
      n += 2 * m[c][j];
    }
    agreeing += 2 * m[c][c];
  }
  const observedDisagreement = n - agreeing;
  const expectedDisagreement = n * n - perCategory.reduce((sum, nc) => sum + nc * nc, 0);
  if (n <= 1 || expectedDisagreement <= 1e-12 * n * n) return null;
  return 1 - ((n - 1) * observedDisagreement) / expectedDisagreement;
}

// ---- rank metrics (one-vs-rest) ---------------------------------------------------------------

/**
 * Area under the ROC curve for one binary problem: the Mann-Whitney U statistic with tied
 * scores given their average rank, which equals the trapezoid area of the ROC curve with tied
 * scores grouped into one step (sklearn's roc_auc_score). Undefined without positives or negatives.
 */
export function rocAuc(isPositive: readonly boolean[], scores: ArrayLike<number>): number | null {
  return rocAucOfSorted(sortedByClass(isPositive, scores));
}

function rocAucOfSorted({ positive, negative }: SortedScores): number | null {
  if (positive.length === 0 || negative.length === 0) return null;
  let rank = 0; // ranks handed out so far (1-based ranks rank+1..rank+p+n for this group)
  let positiveRankSum = 0;
  forEachThreshold(positive, negative, false, (p, n) => {
    positiveRankSum += p * (rank + (p + n + 1) / 2);
    rank += p + n;
  });
  const positives = positive.length;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negative.length);
}

/**
 * Average precision, sklearn's definition: AP = sum_n (R_n - R_{n-1}) P_n over the distinct
 * score thresholds in decreasing order (tied scores form one threshold), R_0 = 0; no
 * interpolation. `negativeWeight` scales the false positives (1 = Orig; P/N = Jeni's
 * skew-normalised precision). Undefined without positives.
 */
export function averagePrecision(
  isPositive: readonly boolean[],
  scores: ArrayLike<number>,
  negativeWeight = 1,
): number | null {
  return averagePrecisionOfSorted(sortedByClass(isPositive, scores), negativeWeight);
}

function averagePrecisionOfSorted(
  { positive, negative }: SortedScores,
  negativeWeight: number,
): number | null {
  const positives = positive.length;
  if (positives === 0) return null;
  let truePositives = 0;
  let falsePositives = 0;
  let previousRecall = 0;
  let ap = 0;
  forEachThreshold(positive, negative, true, (p, n) => {
    truePositives += p;
    falsePositives += n;
    const recall = truePositives / positives;
    const precision = truePositives / (truePositives + negativeWeight * falsePositives);
    ap += (recall - previousRecall) * precision;
    previousRecall = recall;
  });
  return ap;
}

/**
 * The positives' and the negatives' scores, each sorted ascending. Typed arrays sort numbers
 * natively; the index sort with a comparator this replaces took most of the 16 s that
 * `affectlab metrics` spent on 420k predictions; the per-class scoring sorts once for its three
 * rank metrics. Scores are finite here
 * (scoreClassification refuses others).
 */
interface SortedScores {
  positive: Float64Array;
  negative: Float64Array;
}

function sortedByClass(isPositive: readonly boolean[], scores: ArrayLike<number>): SortedScores {
  let positives = 0;
  for (let i = 0; i < isPositive.length; i++) if (isPositive[i]) positives++;
  const positive = new Float64Array(positives);
  const negative = new Float64Array(isPositive.length - positives);
  let p = 0;
  let n = 0;
  for (let i = 0; i < isPositive.length; i++) {
    if (isPositive[i]) positive[p++] = scores[i];
    else negative[n++] = scores[i];
  }
  return { positive: positive.sort(), negative: negative.sort() };
}

/**
 * Walk the distinct scores of two ascending arrays in ascending (or descending) order, calling
 * `visit` with how many positives and negatives hold each score (one threshold per score).
 */
function forEachThreshold(
  positive: Float64Array,
  negative: Float64Array,
  descending: boolean,
  visit: (positives: number, negatives: number) => void,
): void {
  const step = descending ? -1 : 1;
  let i = descending ? positive.length - 1 : 0;
  let j = descending ? negative.length - 1 : 0;
  const inP = (k: number) => k >= 0 && k < positive.length;
  const inN = (k: number) => k >= 0 && k < negative.length;
  while (inP(i) || inN(j)) {
    let value: number;
    if (!inP(i)) value = negative[j];
    else if (!inN(j)) value = positive[i];
    else if (descending) value = Math.max(positive[i], negative[j]);
    else value = Math.min(positive[i], negative[j]);
    let p = 0;
    let n = 0;
    while (inP(i) && positive[i] === value) {
      p++;
      i += step;
    }
    while (inN(j) && negative[j] === value) {
      n++;
      j += step;
    }
    visit(p, n);
  }
}

// ---- skew normalisation -------------------------------------------------------------------------

/**
 * Jeni, Cohn & De La Torre (2013), "Facing Imbalanced Data: Recommendations for the Use of
 * Performance Metrics", ACII, Sec. 4: for one class against the rest with skew s = N/P
 * (negatives over positives), the skew-normalised metric is computed from the confusion counts
 * with the negatives scaled to the target skew 1: FP' = FP / s, TN' = TN / s. Recall and
 * AUC-ROC are rates within the positives or negatives and do not change; precision, F1 and the
 * precision-recall curve do:
 *   precision' = TP / (TP + FP·P/N),  F1' = 2TP / (2TP + FP·P/N + FN),
 *   AP' = sum_n (R_n - R_{n-1}) TP_n / (TP_n + FP_n·P/N).
 * A class with no negatives needs no scaling (its FP and TN are 0). A class absent from the
 * labels has no defined skew: all three are undefined.
 */
export function negativeScale(positives: number, negatives: number): number | null {
  if (positives === 0) return null;
  return negatives === 0 ? 1 : positives / negatives;
}

/**
 * The confusion matrix re-weighted so that every class present in the labels has the same
 * number of examples (each row scaled to N / K_present; rows of absent classes stay zero), so
 * the total stays N. Scoring this matrix is scoring the same classifier on a test set balanced
 * to skew 1 for every class — the setting of the AffectNet paper's "Norm" column, whose test
 * set is balanced — and is how the multi-class Norm accuracy (= the mean per-class recall),
 * kappa and alpha are computed. (Jeni et al. define skew normalisation for one class against
 * the rest; this is its multi-class counterpart: every class at the same prevalence.)
 */
export function balanceConfusionRows(m: readonly (readonly number[])[]): number[][] {
  const rows = rowSums(m);
  const present = rows.filter((r) => r > 0).length;
  const n = rows.reduce((a, b) => a + b, 0);
  if (present === 0) return m.map((row) => row.map(() => 0));
  const target = n / present;
  return m.map((row, c) => row.map((count) => (rows[c] === 0 ? 0 : (count * target) / rows[c])));
}

// ---- the whole set ------------------------------------------------------------------------------

/** Score predictions and/or per-class scores with the whole AffectNet metric set. */
export function scoreClassification(input: ClassificationInput): MetricReport {
  const { labels, scores, classNames, normalized } = input;
  const numClasses = classNames.length;
  if (numClasses < 2)
    throw new UserError(`classification needs at least two classes; got ${numClasses}`);
  if (labels.length === 0) throw new UserError('there are no examples to score');
  classSlugs(classNames);
  checkClassIndices(labels, numClasses, 'labels');
  if (scores) checkScores(scores, labels.length, numClasses);
  if (!scores && !input.predictions)
    throw new UserError('scoring needs predictions or per-class scores');
  const predictions = input.predictions ?? (scores as ScoreRows).map(argmax);
  const confusion = confusionMatrix(labels, predictions, numClasses);

  const count = labels.length;
  const support = rowSums(confusion);
  const predicted = columnSums(confusion);
  const notes: string[] = [];

  const perClass: ClassMetrics[] = classNames.map((name, c) => {
    const tp = confusion[c][c];
    const fp = predicted[c] - tp;
    const fn = support[c] - tp;
    const sorted = scores
      ? sortedByClass(
          labels.map((label) => label === c),
          scores.map((row) => row[c]),
        )
      : undefined;
    const scale = negativeScale(support[c], count - support[c]);
    return {
      index: c,
      name,
      support: support[c],
      predicted: predicted[c],
      precision: ratio(tp, tp + fp),
      recall: ratio(tp, tp + fn),
      f1: ratio(2 * tp, 2 * tp + fp + fn),
      aucRoc: sorted ? rocAucOfSorted(sorted) : null,
      aucPr: sorted ? averagePrecisionOfSorted(sorted, 1) : null,
      normPrecision: scale === null ? null : ratio(tp, tp + fp * scale),
      normF1: scale === null ? null : ratio(2 * tp, 2 * tp + fp * scale + fn),
      normAucPr: scale !== null && sorted ? averagePrecisionOfSorted(sorted, scale) : null,
    };
  });

  for (const cls of perClass) {
    if (cls.support === 0) {
      notes.push(
        `class '${cls.name}' is absent from the labels: its recall, AUCs and Norm metrics are undefined and left out of macro means` +
          (cls.predicted > 0
            ? ` (it was predicted ${cls.predicted} times, so its F1 is 0 and counts in f1_macro)`
            : ''),
      );
    } else if (cls.predicted === 0) {
      notes.push(
        `class '${cls.name}' is never predicted: its precision is undefined and its F1 is 0`,
      );
    }
  }
  if (scores && perClass.some((cls) => cls.support === count)) {
    notes.push('every example has the same label: one-vs-rest AUC-ROC is undefined');
  }

  const orig: MetricValues = {
    accuracy: accuracyFromConfusion(confusion),
    f1_macro: meanDefined(perClass.map((cls) => cls.f1)),
    f1_weighted: perClass.reduce((sum, cls) => sum + (cls.f1 ?? 0) * cls.support, 0) / count,
    kappa: cohenKappa(confusion),
    alpha: krippendorffAlphaNominal(confusion),
    auc_roc: scores ? meanDefined(perClass.map((cls) => cls.aucRoc)) : null,
    auc_pr: scores ? meanDefined(perClass.map((cls) => cls.aucPr)) : null,
  };

  let norm: MetricValues | undefined;
  if (normalized) {
    const balanced = balanceConfusionRows(confusion);
    const normF1 = meanDefined(perClass.map((cls) => cls.normF1));
    norm = {
      accuracy: accuracyFromConfusion(balanced),
      f1_macro: normF1,
      // With every class at the same prevalence, support weights are equal: weighted = macro.
      f1_weighted: normF1,
      kappa: cohenKappa(balanced),
      alpha: krippendorffAlphaNominal(balanced),
      // ROC curves are skew-invariant (Jeni et al. 2013): Norm AUC-ROC is Orig AUC-ROC.
      auc_roc: orig.auc_roc,
      auc_pr: scores ? meanDefined(perClass.map((cls) => cls.normAucPr)) : null,
    };
  }
  if (!scores) notes.push('no per-class scores: AUC-ROC and AUC-PR are undefined');

  return { classNames: [...classNames], count, orig, norm, perClass, confusion, notes };
}

/**
 * The report as flat `key -> number` for run stores and MLflow: METRIC_KEYS, NORM_METRIC_KEYS,
 * `<metric>_<class>` and `norm_<metric>_<class>`. Undefined metrics are left out (a logged
 * metric is always a number); the JSON report keeps them as null.
 */
export function flattenClassificationReport(report: MetricReport): Record<string, number> {
  const flat: Record<string, number> = {};
  const put = (key: string, value: number | null): void => {
    if (value !== null) flat[key] = value;
  };
  METRIC_KEYS.forEach((key) => put(key, report.orig[key]));
  if (report.norm) {
    const norm = report.norm;
    METRIC_KEYS.forEach((key, i) => put(NORM_METRIC_KEYS[i], norm[key]));
  }
  const slugs = classSlugs(report.classNames);
  const perClassValue = {
    precision: (cls: ClassMetrics) => cls.precision,
    recall: (cls: ClassMetrics) => cls.recall,
    f1: (cls: ClassMetrics) => cls.f1,
    auc_roc: (cls: ClassMetrics) => cls.aucRoc,
    auc_pr: (cls: ClassMetrics) => cls.aucPr,
  } as const;
  const normPerClassValue = {
    precision: (cls: ClassMetrics) => cls.normPrecision,
    f1: (cls: ClassMetrics) => cls.normF1,
    auc_pr: (cls: ClassMetrics) => cls.normAucPr,
  } as const;
  report.perClass.forEach((cls, c) => {
    for (const metric of PER_CLASS_METRIC_KEYS)
      put(`${metric}_${slugs[c]}`, perClassValue[metric](cls));
    if (report.norm) {
      for (const metric of NORM_PER_CLASS_METRIC_KEYS)
        put(`norm_${metric}_${slugs[c]}`, normPerClassValue[metric](cls));
    }
  });
  return flat;
}
