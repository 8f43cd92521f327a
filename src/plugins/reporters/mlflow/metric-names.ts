/**
 * The names affectlab's metrics get in MLflow, chosen for the charts a person reads there:
 *
 * - per epoch, Keras' names (`loss`, `accuracy`, `val_loss`, `val_accuracy`, ...) at
 *   step = the epoch as the console counts it (1-based); per-class validation metrics under
 *   `val_class/<class>/<metric>`, a section of their own in MLflow's chart view;
 * - the final evaluation under `<split>/` (`test/accuracy`), its skew-normalised metrics under
 *   `<split>_norm/` and its per-class metrics under `<split>_class/<class>/<metric>`: MLflow
 *   groups charts by the text before the first `/`, so each is its own collapsible section
 *   and none lands among the training curves;
 * - the loss: where the sampler weights the loss by class, the optimised objective is
 *   `loss_weighted` (`val_loss_weighted`, `test/loss_weighted`) and `val_loss` / `test/loss`
 *   are the plain (unweighted) cross-entropy, so a compare across strategies compares like
 *   with like. Unweighted runs log the objective as `loss` (the plain cross-entropy for the
 *   default loss). The training loss of a weighted run exists only as `loss_weighted`: the
 *   training step computes the objective alone.
 */
import type { RunInfo } from '../../../sdk/index.js';

const GLOBAL_KEYS = new Set([
  'loss',
  'cross_entropy',
  'accuracy',
  'f1_macro',
  'f1_weighted',
  'kappa',
  'alpha',
  'auc_roc',
  'auc_pr',
]);
/** Per-class metric names, longest first so `auc_roc_x` is not read as `auc` + `roc_x`. */
const PER_CLASS = ['precision', 'recall', 'auc_roc', 'auc_pr', 'f1'].sort(
  (a, b) => b.length - a.length,
);
const REGRESSION = /^(valence|arousal)_(rmse|corr|sagr|ccc)$/;

/** Whether a run's loss is class-weighted: the runner logs the weights as `loss.class_weight.*`. */
export function isWeightedLoss(run: Pick<RunInfo, 'params'>): boolean {
  return Object.keys(run.params ?? {}).some((key) => key.startsWith('loss.class_weight.'));
}

/** `recall_happy` -> ['recall', 'happy']; undefined for a key that is not per-class. */
function perClass(key: string): [string, string] | undefined {
  for (const metric of PER_CLASS) {
    if (key.startsWith(`${metric}_`) && key.length > metric.length + 1)
      return [metric, key.slice(metric.length + 1)];
  }
  return undefined;
}

/**
 * The name of one scored metric (key without its split prefix) in a scope: `val` per epoch, or
 * the evaluated split. Undefined: not logged (the plain cross-entropy of an unweighted run is
 * its `loss` already).
 */
function scopedName(key: string, scope: string, weighted: boolean): string | undefined {
  const join = scope === 'val' ? (k: string) => `val_${k}` : (k: string) => `${scope}/${k}`;
  if (key === 'loss') return join(weighted ? 'loss_weighted' : 'loss');
  if (key === 'cross_entropy') return weighted ? join('loss') : undefined;
  if (GLOBAL_KEYS.has(key) || REGRESSION.test(key)) return join(key);
  if (key.startsWith('norm_')) {
    const rest = key.slice('norm_'.length);
    if (GLOBAL_KEYS.has(rest)) return `${scope}_norm/${rest}`;
    const cls = perClass(rest);
    if (cls) return `${scope}_class/${cls[1]}/norm_${cls[0]}`;
  }
  const cls = perClass(key);
  if (cls) return `${scope}_class/${cls[1]}/${cls[0]}`;
  return join(key);
}

/** The MLflow name of a per-epoch metric as the runner logs it (`loss`, `val_recall_happy`). */
export function epochMetricName(key: string, weighted: boolean): string | undefined {
  if (key.startsWith('val_')) return scopedName(key.slice('val_'.length), 'val', weighted);
  if (key === 'loss' && weighted) return 'loss_weighted';
  return key;
}

/** The MLflow name of a final-evaluation metric (`test_accuracy`, `validation_norm_f1_macro`). */
export function evaluationMetricName(key: string, weighted: boolean): string | undefined {
  const match = /^(test|validation)_(.+)$/.exec(key);
  if (!match) return `test/${key}`;
  return scopedName(match[2], match[1], weighted);
}

/** Metric names map onto MLflow steps: the console counts epochs from 1. */
export function epochStep(epoch: number): number {
  return epoch + 1;
}

/**
 * The final-evaluation metrics of an MLflow run under affectlab's names (`test_accuracy`,
 * `test_norm_f1_macro`, `test_recall_happy`), for `compare --from mlflow`: the inverse of
 * evaluationMetricName. Keys already in affectlab's form (runs logged before these names) pass.
 */
export function affectlabEvaluationMetrics(latest: Record<string, number>): Record<string, number> {
  const weighted = Object.keys(latest).some((k) => /^(test|validation)\/loss_weighted$/.test(k));
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(latest)) {
    let match = /^(test|validation)\/(.+)$/.exec(key);
    if (match) {
      const [, split, name] = match;
      const local =
        name === 'loss_weighted' ? 'loss' : name === 'loss' && weighted ? 'cross_entropy' : name;
      out[`${split}_${local}`] = value;
      continue;
    }
    match = /^(test|validation)_norm\/(.+)$/.exec(key);
    if (match) {
      out[`${match[1]}_norm_${match[2]}`] = value;
      continue;
    }
    match = /^(test|validation)_class\/([^/]+)\/(norm_)?(.+)$/.exec(key);
    if (match) {
      out[`${match[1]}_${match[3] ?? ''}${match[4]}_${match[2]}`] = value;
      continue;
    }
    if (/^(test|validation)_/.test(key)) out[key] = value;
  }
  return out;
}
