/**
 * The stable metric keys the runner logs and that MLflow compare and `affectlab compare` rely
 * on. Renaming a key breaks every stored run's comparison: add keys, never rename them.
 */
import { UserError } from '../../sdk/errors.js';
import type { Task } from '../../sdk/contracts/data.js';

/** Summary classification metrics, scored on the test set as it is ("Orig"). */
export const METRIC_KEYS = [
  'accuracy',
  'f1_macro',
  'f1_weighted',
  'kappa',
  'alpha',
  'auc_roc',
  'auc_pr',
] as const;
export type MetricKey = (typeof METRIC_KEYS)[number];

/** The skew-normalised ("Norm") versions of METRIC_KEYS: `norm_accuracy`, ... */
export const NORM_METRIC_KEYS = METRIC_KEYS.map((key) => `norm_${key}` as const);
export type NormMetricKey = (typeof NORM_METRIC_KEYS)[number];

/** Human labels of METRIC_KEYS for tables (the report's Appendix A row names). */
export const METRIC_LABELS: Record<MetricKey, string> = {
  accuracy: 'Accuracy',
  f1_macro: 'F1-score (macro)',
  f1_weighted: 'F1-score (weighted)',
  kappa: 'Kappa',
  alpha: 'Alpha',
  auc_roc: 'AUC-ROC',
  auc_pr: 'AUC-PR',
};

/** Per-class metrics, logged as `<metric>_<class slug>`, e.g. `recall_happy`. */
export const PER_CLASS_METRIC_KEYS = ['precision', 'recall', 'f1', 'auc_roc', 'auc_pr'] as const;
export type PerClassMetricKey = (typeof PER_CLASS_METRIC_KEYS)[number];

/**
 * Per-class metrics whose Norm value can differ from Orig, logged as `norm_<metric>_<slug>`.
 * Recall and AUC-ROC are skew-invariant (they are rates within positives/negatives), so their
 * Norm value equals Orig and is not logged twice.
 */
export const NORM_PER_CLASS_METRIC_KEYS = ['precision', 'f1', 'auc_pr'] as const;
export type NormPerClassMetricKey = (typeof NORM_PER_CLASS_METRIC_KEYS)[number];

/** Valence/arousal regression metrics (issue 9), each target separately. */
export const REGRESSION_TARGETS = ['valence', 'arousal'] as const;
export type RegressionTarget = (typeof REGRESSION_TARGETS)[number];
export const REGRESSION_METRICS = ['rmse', 'corr', 'sagr', 'ccc'] as const;
export type RegressionMetric = (typeof REGRESSION_METRICS)[number];
export const REGRESSION_METRIC_KEYS = REGRESSION_TARGETS.flatMap((target) =>
  REGRESSION_METRICS.map((metric) => `${target}_${metric}` as const),
);
export type RegressionMetricKey = `${RegressionTarget}_${RegressionMetric}`;

export const REGRESSION_METRIC_LABELS: Record<RegressionMetric, string> = {
  rmse: 'RMSE',
  corr: 'CORR (Pearson)',
  sagr: 'SAGR',
  ccc: 'CCC',
};

/** A class name as it appears in a metric key: lower case, runs of other characters as `_`. */
export function classSlug(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!slug)
    throw new UserError(`class name '${name}' gives an empty metric key; use letters or digits`);
  return slug;
}

/** Slugs for every class, checked to be distinct so no two classes share a metric key. */
export function classSlugs(classNames: readonly string[]): string[] {
  const slugs = classNames.map(classSlug);
  const seen = new Map<string, string>();
  slugs.forEach((slug, i) => {
    const other = seen.get(slug);
    if (other !== undefined) {
      throw new UserError(
        `classes '${other}' and '${classNames[i]}' both map to the metric key suffix '${slug}'`,
      );
    }
    seen.set(slug, classNames[i]);
  });
  return slugs;
}

/** Whether a task of this kind has a softmax head (classification metrics). */
function hasClasses(task: Pick<Task, 'kind'>): boolean {
  return task.kind !== 'valence-arousal';
}

/** Whether a task of this kind predicts valence and arousal (regression metrics). */
function hasRegression(task: Pick<Task, 'kind'>): boolean {
  return task.kind !== 'classification';
}

/**
 * The keys one epoch logs for a task, as the runner logs them: training `loss` (and `accuracy`
 * for pure classification), then `val_` + the validation scores (Orig only: Norm metrics are
 * for the final evaluation). Used to check monitored names before a run starts; a key may
 * still be missing at run time when its value is undefined (a class absent from validation).
 */
export function epochMetricKeys(task: Pick<Task, 'kind' | 'classes'>): string[] {
  const validation = ['loss'];
  if (task.kind === 'classification') validation.push('cross_entropy');
  if (hasClasses(task)) {
    validation.push(...METRIC_KEYS);
    for (const slug of classSlugs(task.classes.map((c) => c.name)))
      validation.push(...PER_CLASS_METRIC_KEYS.map((metric) => `${metric}_${slug}`));
  }
  if (hasRegression(task)) validation.push(...REGRESSION_METRIC_KEYS);
  return [
    'loss',
    ...(task.kind === 'classification' ? ['accuracy'] : []),
    ...validation.map((key) => `val_${key}`),
  ];
}
