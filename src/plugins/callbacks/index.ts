import {
  type ExperimentConfig,
  type PluginRef,
  UserError,
  type PluginDefinition,
} from '../../sdk/index.js';
import { ashaCallback } from './asha.js';
import { earlyStoppingCallback } from './early-stopping.js';
import { cosineDecayCallback, reduceOnPlateauCallback, stepDecayCallback } from './lr-schedules.js';
import { modelCheckpointCallback } from './model-checkpoint.js';
import { terminateOnNaNCallback } from './terminate-on-nan.js';

/** Built-in callback plugins, registered explicitly. */
export const callbackPlugins: PluginDefinition[] = [
  earlyStoppingCallback,
  modelCheckpointCallback,
  stepDecayCallback,
  cosineDecayCallback,
  reduceOnPlateauCallback,
  terminateOnNaNCallback,
  ashaCallback,
];

/** The LR-schedule callbacks by their `training.learningRate.schedule` name. */
const SCHEDULES = new Map(
  callbackPlugins.flatMap((d) => (d.schedule ? [[d.schedule, d] as const] : [])),
);

function hasOption(d: PluginDefinition | undefined, key: string): boolean {
  const props = d?.optionsSchema.properties as object | undefined;
  return props !== undefined && Object.hasOwn(props, key);
}

/**
 * The callbacks of a run: the `training.checkpoint`, `earlyStopping` and `learningRate`
 * shorthands expanded first (in that order), then the `callbacks:` list. Without either
 * form a run keeps its best epoch by val_loss, as it always has. A shorthand and a listed
 * callback of the same type would both act; that is refused rather than guessed at.
 */
export function expandCallbacks(config: ExperimentConfig): PluginRef[] {
  const listed = config.callbacks ?? [];
  const t = config.training;
  const sugar: { key: string; ref: PluginRef }[] = [];
  const ck = t.checkpoint;
  if (ck || !listed.some((r) => r.type === 'model-checkpoint'))
    sugar.push({
      key: 'training.checkpoint',
      ref: {
        type: 'model-checkpoint',
        monitor: ck?.monitor ?? 'val_loss',
        mode: ck?.mode ?? 'auto',
        saveBest: ck?.saveBest ?? true,
      },
    });
  const es = t.earlyStopping;
  if (es)
    sugar.push({
      key: 'training.earlyStopping',
      ref: { type: 'early-stopping', ...es },
    });
  const lr = t.learningRate;
  const schedule = lr && lr.schedule !== 'constant' ? SCHEDULES.get(lr.schedule) : undefined;
  // schema defaults fill warmupEpochs: 0 in whatever the schedule: only a real warm-up is refused
  if (lr && (lr.warmupEpochs ?? 0) !== 0 && !hasOption(schedule, 'warmupEpochs'))
    throw new UserError(
      `${config.name}: training.learningRate.warmupEpochs needs a schedule that takes it ` +
        `(${[...SCHEDULES.values()]
          .filter((d) => hasOption(d, 'warmupEpochs'))
          .map((d) => d.schedule)
          .join(', ')}), not ${lr.schedule}; for a constant rate after the warm-up use ` +
        'schedule: step with gamma: 1',
    );
  if (lr && schedule) {
    // the shorthand's keys that are this callback's options (the others belong to other schedules)
    const ref: PluginRef = { type: schedule.type };
    const own = Object.keys((schedule.optionsSchema.properties as object | undefined) ?? {});
    for (const k of own) {
      const v = (lr as Record<string, unknown>)[k];
      if (v !== undefined) ref[k] = v;
    }
    sugar.push({ key: 'training.learningRate', ref });
  }
  for (const { key, ref } of sugar) {
    const clash = listed.findIndex((r) => r.type === ref.type);
    if (clash >= 0)
      throw new UserError(
        `${config.name}: ${key} and callbacks[${clash}] (type ${ref.type}) configure the same callback; keep one of them`,
      );
  }
  return [...sugar.map((s) => s.ref), ...listed];
}
