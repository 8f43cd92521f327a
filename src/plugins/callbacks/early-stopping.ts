import { inject, injectable } from 'tsyringe';
import { Options, Type, definePlugin, type Static } from '../../core/plugin/define.js';
import {
  PLUGIN_OPTIONS,
  type EpochEndInfo,
  type TrainingCallback,
  type TrainingControl,
} from '../../core/plugin/plugin.js';
import { metricOf, modeOption, monitorOption, numberOrUndefined } from './common.js';
import { improved, resolveMode, type Mode } from '../../core/runner/callbacks.js';

const earlyStoppingOptions = Options({
  monitor: monitorOption,
  patience: Type.Optional(Type.Integer({ minimum: 0, default: 3 })),
  mode: modeOption,
  minDelta: Type.Optional(Type.Number({ minimum: 0, default: 0 })),
});
export type EarlyStoppingOptions = Static<typeof earlyStoppingOptions>;

/**
 * Keras' EarlyStopping: `wait` counts epochs in a row without improvement; training stops
 * once wait >= patience (so patience 0 stops at the first epoch that does not improve).
 */
@injectable()
export class EarlyStopping implements TrainingCallback {
  readonly monitor: string;
  readonly patience: number;
  readonly mode: Mode;
  readonly minDelta: number;
  private best?: number;
  private wait = 0;

  constructor(@inject(PLUGIN_OPTIONS) options: EarlyStoppingOptions) {
    this.monitor = options.monitor ?? 'val_loss';
    this.patience = options.patience ?? 3;
    this.mode = resolveMode(this.monitor, options.mode);
    this.minDelta = options.minDelta ?? 0;
  }

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    const value = metricOf(e.metrics, this.monitor);
    if (improved(value, this.best, this.mode, this.minDelta)) {
      this.best = value;
      this.wait = 0;
      return;
    }
    this.wait++;
    if (this.wait >= this.patience)
      control.stopTraining(
        `early stopping: ${this.monitor} did not improve for ${this.wait} epoch(s) (patience ${this.patience}, best ${this.best})`,
      );
  }

  getState(): unknown {
    return { best: this.best, wait: this.wait };
  }

  setState(state: unknown): void {
    const s = (state ?? {}) as Record<string, unknown>;
    this.best = numberOrUndefined(s.best);
    this.wait = numberOrUndefined(s.wait) ?? 0;
  }
}

export const earlyStoppingCallback = definePlugin({
  kind: 'callback',
  type: 'early-stopping',
  description:
    "Stop when the monitored metric has not improved for `patience` epochs in a row (Keras' EarlyStopping)",
  options: earlyStoppingOptions,
  implementation: EarlyStopping,
});
