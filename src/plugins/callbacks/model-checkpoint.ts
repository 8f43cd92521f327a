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
  readonly saveBest: boolean;
  private readonly tracker: MonitorTracker;

  constructor(@inject(PLUGIN_OPTIONS) options: ModelCheckpointOptions) {
    this.saveBest = options.saveBest ?? true;
    this.tracker = new MonitorTracker(options.monitor ?? 'val_loss', options.mode);
  }

  get monitor(): string {
    return this.tracker.monitor;
  }

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    if (this.tracker.update(e.metrics, e.epoch) && this.saveBest) control.keepAsBest();
  }

  getState(): unknown {
    return this.tracker.getState();
  }

  setState(state: unknown): void {
    this.tracker.setState(state);
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
