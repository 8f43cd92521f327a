import { inject, injectable } from 'tsyringe';
import {
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type EpochEndInfo,
  type TrainBeginControl,
  type TrainBeginInfo,
  type TrainingCallback,
  type TrainingControl,
  MonitorTracker,
} from '../../sdk/index.js';
import { modeOption, monitorOption } from './common.js';

/** The most warm-up epochs a schedule accepts. */
export const MAX_WARMUP_EPOCHS = 1000;

const warmupEpochs = Type.Optional(
  Type.Integer({
    minimum: 0,
    maximum: MAX_WARMUP_EPOCHS,
    default: 0,
    description:
      'linear warm-up epochs before the schedule: epoch e < warmupEpochs trains at ' +
      'base x (e + 1) / (warmupEpochs + 1); the schedule then runs over the remaining epochs',
    // the shorthand refuses a warm-up under a schedule without one (constant, plateau) at validation
    'x-off': 0,
    'x-off-hint': 'for a constant rate after the warm-up use schedule: step with gamma: 1',
  }),
);

/**
 * The learning rate of epoch `next` as a function of the epoch alone (stateless schedules),
 * after an optional linear warm-up of `warmupEpochs` epochs (per epoch, not per step): epoch
 * e < W trains at base x (e + 1) / (W + 1); epoch e >= W at the schedule's rate for epoch e - W
 * of a run of max(1, epochs - W) epochs.
 */
abstract class EpochSchedule implements TrainingCallback {
  protected base = 0;
  /** The epochs the schedule itself spans (after the warm-up). */
  protected epochs = 1;

  constructor(private readonly warmup: number) {}

  onTrainBegin(info: TrainBeginInfo, control: TrainBeginControl): void {
    this.base = info.baseLearningRate;
    this.epochs = Math.max(1, info.epochs - this.warmup);
    // without a warm-up epoch 0 keeps the optimizer's rate, as it always has
    if (this.warmup > 0) control.setLearningRate(this.at(0));
  }

  /** The schedule's rate at `epoch` epochs after the warm-up. */
  abstract rate(epoch: number): number;

  /** The rate of epoch `epoch` of the run, warm-up included. */
  at(epoch: number): number {
    if (epoch < this.warmup) return (this.base * (epoch + 1)) / (this.warmup + 1);
    return this.rate(epoch - this.warmup);
  }

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    control.setLearningRate(this.at(e.epoch + 1));
  }
}

const minLearningRate = Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 0 }));

const stepDecayOptions = Options({
  stepSize: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 1,
      description: 'epochs between decays',
    }),
  ),
  gamma: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 0.1, description: 'decay factor' }),
  ),
  minLearningRate,
  warmupEpochs,
});
export type StepDecayOptions = Static<typeof stepDecayOptions>;

/** base x gamma^floor(epoch / stepSize), never below minLearningRate (epochs after warm-up). */
@injectable()
export class StepDecay extends EpochSchedule {
  private readonly stepSize: number;
  private readonly gamma: number;
  private readonly min: number;
  constructor(@inject(PLUGIN_OPTIONS) options: StepDecayOptions) {
    super(options.warmupEpochs ?? 0);
    this.stepSize = options.stepSize ?? 1;
    this.gamma = options.gamma ?? 0.1;
    this.min = options.minLearningRate ?? 0;
  }
  rate(next: number): number {
    return Math.max(this.min, this.base * Math.pow(this.gamma, Math.floor(next / this.stepSize)));
  }
}

const cosineDecayOptions = Options({ minLearningRate, warmupEpochs });
export type CosineDecayOptions = Static<typeof cosineDecayOptions>;

/**
 * Half a cosine from the base rate at epoch 0 (the first after warm-up) towards minLearningRate
 * at the end of the run.
 */
@injectable()
export class CosineDecay extends EpochSchedule {
  private readonly min: number;
  constructor(@inject(PLUGIN_OPTIONS) options: CosineDecayOptions) {
    super(options.warmupEpochs ?? 0);
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
  patience: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, default: 2 })),
  minDelta: Type.Optional(Type.Number({ minimum: 0, maximum: 1e9, default: 0 })),
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
