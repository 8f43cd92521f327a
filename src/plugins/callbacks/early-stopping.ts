import { inject, injectable } from 'tsyringe';
import {
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type EpochEndInfo,
  type TrainingCallback,
  type TrainingControl,
  MonitorTracker,
} from '../../sdk/index.js';
import { modeOption, monitorOption } from './common.js';

const earlyStoppingOptions = Options({
  monitor: monitorOption,
  patience: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, default: 3 })),
  mode: modeOption,
  minDelta: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9, default: 0 })),
});
export type EarlyStoppingOptions = Static<typeof earlyStoppingOptions>;

/**
 * Keras' EarlyStopping: `wait` counts epochs in a row without improvement; training stops
 * once wait >= patience (so patience 0 stops at the first epoch that does not improve).
 */
@injectable()
export class EarlyStopping implements TrainingCallback {
  readonly patience: number;
  private readonly tracker: MonitorTracker;

  constructor(@inject(PLUGIN_OPTIONS) options: EarlyStoppingOptions) {
    this.patience = options.patience ?? 3;
    this.tracker = new MonitorTracker(
      options.monitor ?? 'val_loss',
      options.mode,
      options.minDelta ?? 0,
    );
  }

  get monitor(): string {
    return this.tracker.monitor;
  }

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    const t = this.tracker;
    if (t.update(e.metrics, e.epoch) || t.wait < this.patience) return;
    control.stopTraining(
      `early stopping: ${t.monitor} did not improve for ${t.wait} epoch(s) (patience ${this.patience}, best ${t.best})`,
    );
  }

  getState(): unknown {
    return this.tracker.getState();
  }

  setState(state: unknown): void {
    this.tracker.setState(state);
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
