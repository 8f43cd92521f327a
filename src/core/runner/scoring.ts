/** Scoring a split's predictions with the AffectNet metric set. */
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
import type { DatasetSplits, Task } from '../../sdk/contracts/data.js';
import type { Predictions } from './trainer.js';

/** Metrics of one split's predictions: classification set, regression set, or both. */
export function scorePredictions(
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
    // the unweighted cross-entropy, whatever loss was optimised: comparable across strategies
    if (task.kind === 'classification' && pred.scores.length > 0)
      flat.cross_entropy = crossEntropy(
        pred.scores,
        pred.indices.map((i) => examples[i].label),
      );
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

/** Mean of -ln p(true class) over the examples (probabilities floored at 1e-7, as Keras clips). */
export function crossEntropy(
  scores: readonly ArrayLike<number>[],
  labels: readonly number[],
): number {
  if (scores.length === 0) return NaN;
  let sum = 0;
  scores.forEach((row, i) => {
    sum -= Math.log(Math.min(1 - 1e-7, Math.max(1e-7, row[labels[i]] ?? 0)));
  });
  return sum / scores.length;
}

export function prefixed(metrics: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`${prefix}${k}`, v]));
}
