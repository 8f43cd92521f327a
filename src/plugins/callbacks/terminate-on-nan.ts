import { injectable } from 'tsyringe';
import {
  Options,
  definePlugin,
  type EpochEndInfo,
  type TrainingCallback,
  type TrainingControl,
} from '../../sdk/index.js';

/**
 * Keras' TerminateOnNaN at epoch granularity: stop when any epoch metric is NaN or infinite
 * (e.g. a validation RMSE). A non-finite training loss already fails the run at its step,
 * naming the step and examples; this catches what only the epoch's metrics show.
 */
@injectable()
export class TerminateOnNaN implements TrainingCallback {
  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    const bad = Object.entries(e.metrics).filter(([, v]) => !Number.isFinite(v));
    if (bad.length > 0)
      control.stopTraining(
        `non-finite metrics after epoch ${e.epoch + 1}: ${bad.map(([k, v]) => `${k}=${v}`).join(', ')}`,
      );
  }
}

export const terminateOnNaNCallback = definePlugin({
  kind: 'callback',
  type: 'terminate-on-nan',
  description: 'Stop training when an epoch metric is NaN or infinite',
  options: Options({}),
  implementation: TerminateOnNaN,
});
