import { inject, injectable } from 'tsyringe';
import { Options, Type, definePlugin, type Static } from '../../core/plugin/define.js';
import {
  PLUGIN_OPTIONS,
  type EpochEndInfo,
  type TrainBeginInfo,
  type TrainingCallback,
  type TrainingControl,
} from '../../core/plugin/plugin.js';
import { modeOption, monitorOption } from './common.js';
import { MonitorTracker } from '../../sdk/index.js';

/** The learning rate of epoch `next` as a function of the epoch alone (stateless schedules). */
abstract class EpochSchedule implements TrainingCallback {
  protected base = 0;
  protected epochs = 1;

  onTrainBegin(info: TrainBeginInfo): void {
    this.base = info.baseLearningRate;
    this.epochs = info.epochs;
  }

  abstract rate(next: number): number;

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    control.setLearningRate(this.rate(e.epoch + 1));
  }
}

const minLearningRate = Type.Optional(Type.Number({ minimum: 0, default: 0 }));

const stepDecayOptions = Options({
  stepSize: Type.Optional(
    Type.Integer({ minimum: 1, default: 1, description: 'epochs between decays' }),
  ),
  gamma: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, default: 0.1, description: 'decay factor' }),
  ),
  minLearningRate,
});
export type StepDecayOptions = Static<typeof stepDecayOptions>;

/** base x gamma^floor(epoch / stepSize), never below minLearningRate. */
@injectable()
export class StepDecay extends EpochSchedule {
  private readonly stepSize: number;
  private readonly gamma: number;
  private readonly min: number;
  constructor(@inject(PLUGIN_OPTIONS) options: StepDecayOptions) {
    super();
    this.stepSize = options.stepSize ?? 1;
    this.gamma = options.gamma ?? 0.1;
    this.min = options.minLearningRate ?? 0;
  }
  rate(next: number): number {
    return Math.max(this.min, this.base * Math.pow(this.gamma, Math.floor(next / this.stepSize)));
  }
}

const cosineDecayOptions = Options({ minLearningRate });
export type CosineDecayOptions = Static<typeof cosineDecayOptions>;

/** Half a cosine from the base rate at epoch 0 to minLearningRate at the last epoch. */
@injectable()
export class CosineDecay extends EpochSchedule {
  private readonly min: number;
  constructor(@inject(PLUGIN_OPTIONS) options: CosineDecayOptions) {
    super();
    this.min = options.minLearningRate ?? 0;
  }
  rate(next: number): number {
    const t = Math.min(next, this.epochs) / this.epochs;
    return this.min + 0.5 * (this.base - this.min) * (1 + Math.cos(Math.PI * t));
  }
}

const reduceOnPlateauOptions = Options({
  monitor: monitorOption,
  mode: modeOption,
  factor: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.1 })),
  patience: Type.Optional(Type.Integer({ minimum: 0, default: 2 })),
  minDelta: Type.Optional(Type.Number({ minimum: 0, default: 0 })),
  minLearningRate,
});
export type ReduceOnPlateauOptions = Static<typeof reduceOnPlateauOptions>;

/**
 * Keras' ReduceLROnPlateau (cooldown 0): after `patience` epochs in a row without improvement
 * the rate is multiplied by `factor` (not below minLearningRate) and the wait starts over.
 */
@injectable()
export class ReduceOnPlateau implements TrainingCallback {
  private readonly factor: number;
  private readonly patience: number;
  private readonly min: number;
  private readonly tracker: MonitorTracker;

  constructor(@inject(PLUGIN_OPTIONS) options: ReduceOnPlateauOptions) {
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 2;
    this.min = options.minLearningRate ?? 0;
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
    if (this.tracker.update(e.metrics, e.epoch) || this.tracker.wait < this.patience) return;
    this.tracker.wait = 0;
    // the rate so far: an earlier schedule's setting composes with the reduction
    control.setLearningRate(Math.max(this.min, control.learningRate * this.factor));
  }

  getState(): unknown {
    return this.tracker.getState();
  }

  setState(state: unknown): void {
    this.tracker.setState(state);
  }
}

export const stepDecayCallback = definePlugin({
  kind: 'callback',
  type: 'step-decay',
  description: 'Learning rate x gamma every stepSize epochs',
  options: stepDecayOptions,
  implementation: StepDecay,
  schedule: 'step',
});

export const cosineDecayCallback = definePlugin({
  kind: 'callback',
  type: 'cosine-decay',
  description: 'Cosine from the optimizer learning rate down to minLearningRate over the epochs',
  options: cosineDecayOptions,
  implementation: CosineDecay,
  schedule: 'cosine',
});

export const reduceOnPlateauCallback = definePlugin({
  kind: 'callback',
  type: 'reduce-lr-on-plateau',
  description:
    "Multiply the learning rate by factor after patience epochs without improvement (Keras' ReduceLROnPlateau)",
  options: reduceOnPlateauOptions,
  implementation: ReduceOnPlateau,
  schedule: 'reduce-on-plateau',
});
