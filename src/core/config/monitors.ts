import { didYouMean, type Diagnostic } from '../../sdk/errors.js';
import { epochMetricKeys } from '../metrics/keys.js';
import type { Task, TaskKind } from '../../sdk/contracts/data.js';
import type { ComposedExperiment } from './compose.js';
import { formatPath, type PathSegment } from './source.js';
import type { ExperimentConfig } from './types.js';

const TASK_KINDS: TaskKind[] = ['classification', 'valence-arousal', 'expression+valence-arousal'];

/** The metric names an experiment watches, with where each lives in the config. */
function monitoredNames(config: ExperimentConfig): { path: PathSegment[]; name: string }[] {
  const training = config.training;
  const out: { path: PathSegment[]; name: string }[] = [];
  // The defaults the shorthands expand to when a section is absent (plugins/callbacks).
  out.push({
    path: ['training', 'checkpoint', 'monitor'],
    name: training?.checkpoint?.monitor ?? 'val_loss',
  });
  if (training?.earlyStopping)
    out.push({
      path: ['training', 'earlyStopping', 'monitor'],
      name: training.earlyStopping.monitor,
    });
  // a schedule that watches a metric takes `monitor` (its default, val_loss, every task logs)
  if (typeof training?.learningRate?.monitor === 'string')
    out.push({
      path: ['training', 'learningRate', 'monitor'],
      name: training.learningRate.monitor,
    });
  // any listed callback's `monitor` option names an epoch metric, whatever its type
  (config.callbacks ?? []).forEach((ref, i) => {
    if (typeof ref.monitor === 'string')
      out.push({ path: ['callbacks', i, 'monitor'], name: ref.monitor });
  });
  const scheduler = config.sweep?.scheduler;
  if (typeof scheduler?.monitor === 'string')
    out.push({ path: ['sweep', 'scheduler', 'monitor'], name: scheduler.monitor });
  return out;
}

/**
 * Check every monitored metric name (checkpoint, early stopping, reduce-on-plateau) against
 * the keys an epoch of this task logs, so a misspelt name fails validation at its line instead
 * of the run after its first epoch.
 */
export function monitorDiagnostics(
  composed: ComposedExperiment,
  config: ExperimentConfig,
  task: Pick<Task, 'kind' | 'classes'>,
): Diagnostic[] {
  const keys = epochMetricKeys(task);
  const known = new Set(keys);
  const diagnostics: Diagnostic[] = [];
  for (const { path, name } of monitoredNames(config)) {
    if (known.has(name)) continue;
    const loc = composed.sources.locate(path) ?? { file: composed.file };
    const hint = didYouMean(name, keys);
    const otherKinds = TASK_KINDS.filter(
      (kind) =>
        kind !== task.kind && epochMetricKeys({ kind, classes: task.classes }).includes(name),
    );
    // The per-class keys are many; list those of a task without classes, then the pattern.
    const summary = epochMetricKeys({ kind: task.kind, classes: [] });
    const perClass = keys.length > summary.length;
    diagnostics.push({
      ...loc,
      path: formatPath(path),
      message:
        `'${name}' is not a metric this ${task.kind} task logs` +
        (otherKinds.length ? ` (only ${otherKinds.join(' and ')} tasks log it)` : '') +
        (hint ? `; did you mean '${hint}'?` : '.') +
        ` Logged each epoch: ${summary.join(', ')}` +
        (perClass
          ? ', and per class val_<precision|recall|f1|auc_roc|auc_pr>_<class>' +
            ` (e.g. ${keys.find((k) => k.startsWith('val_recall_'))})`
          : ''),
    });
  }
  return diagnostics;
}
