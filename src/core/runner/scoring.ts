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
import type { DatasetSplits, Task } from '../plugin/plugin.js';
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

export function prefixed(metrics: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`${prefix}${k}`, v]));
}
