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

const modelCheckpointOptions = Options({
  monitor: monitorOption,
  mode: modeOption,
  saveBest: Type.Optional(
    Type.Boolean({
      default: true,
      description: 'false: no checkpoints/best; the final evaluation scores the last epoch',
    }),
  ),
});
export type ModelCheckpointOptions = Static<typeof modelCheckpointOptions>;

/**
 * Keeps the epoch whose monitored metric is best as checkpoints/best; the final evaluation
 * scores that model. checkpoints/last is written every epoch by the runner (resume needs it).
 */
@injectable()
export class ModelCheckpoint implements TrainingCallback {
  readonly monitor: string;
  readonly mode: Mode;
  readonly saveBest: boolean;
  private best?: number;
  private bestEpoch?: number;

  constructor(@inject(PLUGIN_OPTIONS) options: ModelCheckpointOptions) {
    this.monitor = options.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, options.mode);
    this.saveBest = options.saveBest ?? true;
  }

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    const value = metricOf(e.metrics, this.monitor);
    if (!improved(value, this.best, this.mode)) return;
    this.best = value;
    this.bestEpoch = e.epoch;
    if (this.saveBest) control.keepAsBest();
  }

  getState(): unknown {
    return { best: this.best, bestEpoch: this.bestEpoch };
  }

  setState(state: unknown): void {
    const s = (state ?? {}) as Record<string, unknown>;
    this.best = numberOrUndefined(s.best);
    this.bestEpoch = numberOrUndefined(s.bestEpoch);
  }
}

export const modelCheckpointCallback = definePlugin({
  kind: 'callback',
  type: 'model-checkpoint',
  description:
    'Keep the epoch with the best monitored metric as checkpoints/best, the model the final evaluation scores',
  options: modelCheckpointOptions,
  implementation: ModelCheckpoint,
});
