import * as tf from '@tensorflow/tfjs';
import type { TrainingConfig } from '../config/types.js';
import type { TaskLoss, TrainingEngine } from '../engine/index.js';
import type { AugmentOptions, DatasetSplits } from '../../sdk/contracts/data.js';
import type { Logger } from '../../sdk/services.js';
import type { EpochRecord } from '../reporting/run-store.js';
import { NonFiniteLossError } from '../training/loss.js';
import type { CallbackList, EpochDecision } from './callbacks.js';
import type { PartialEpoch } from './checkpoint.js';
import { prefixed, scorePredictions } from './scoring.js';
import {
  predictSplit,
  trainEpoch,
  type BatchSource,
  type EpochResult,
  type StepProgress,
} from './trainer.js';

/** One completed epoch, after the callbacks decided. */
export interface EpochOutcome {
  epoch: number;
  metrics: Record<string, number>;
  record: EpochRecord;
  decision: EpochDecision;
}

/**
 * What listens to the loop: checkpointing, the run record, reporters. Each keeps its own state;
 * they are called in the order given, and awaited.
 */
export interface FitListener {
  epochEnded?(outcome: EpochOutcome): Promise<void> | void;
  /** Ctrl-C or SIGTERM stopped training in `epoch` (0-based) after `partial`. */
  interrupted?(epoch: number, partial: PartialEpoch): Promise<void> | void;
  /** A callback ended training after `epoch`. */
  stopped?(epoch: number, reason: string): Promise<void> | void;
}

export interface FitLoopOptions {
  engine: TrainingEngine;
  splits: DatasetSplits;
  source: BatchSource;
  training: TrainingConfig;
  seed: number;
  /** The order of the training examples in an epoch. */
  order(epoch: number): number[];
  augment?: AugmentOptions;
  floatBatches?: boolean;
  callbacks: CallbackList;
  lossFn: TaskLoss;
  stopSignal: { stop: boolean; reason?: string };
  onStep(progress: StepProgress): void;
  listeners: FitListener[];
  logger: Logger;
}

/** How the loop ended: every epoch (or a callback's stop), or a signal (`failure` says where). */
export interface FitResult {
  status: 'FINISHED' | 'KILLED';
  failure?: string;
}

/**
 * The training loop, as Keras' fit: epochs of steps, a validation pass after each, the
 * callbacks' decision (learning rate, best, stop), then the listeners.
 */
export class FitLoop {
  constructor(private readonly o: FitLoopOptions) {}

  /** Train from `startEpoch` (inside it from `partial`, when a run was cut mid-epoch). */
  async fit(startEpoch: number, partial?: PartialEpoch): Promise<FitResult> {
    const { training, engine, callbacks, stopSignal, logger } = this.o;
    for (let epoch = startEpoch; epoch < training.epochs; epoch++) {
      const trained = await this.train(epoch, epoch === startEpoch ? partial : undefined);
      if (trained.interrupted || stopSignal.stop) {
        await this.notify((l) => l.interrupted?.(epoch, trained.partial));
        const failure = `stopped by ${stopSignal.reason ?? 'signal'} in epoch ${epoch + 1} after step ${trained.steps}`;
        return { status: 'KILLED', failure };
      }
      const metrics = await this.validate(epoch, trained);
      if (metrics === undefined) {
        // the epoch's training is done: the checkpoint keeps it whole, --resume validates it
        await this.notify((l) => l.interrupted?.(epoch, trained.partial));
        const failure = `stopped by ${stopSignal.reason ?? 'signal'} in epoch ${epoch + 1}'s validation`;
        return { status: 'KILLED', failure };
      }
      const decision = callbacks.epochEnd({
        epoch,
        epochs: training.epochs,
        metrics,
        learningRate: engine.learningRate,
      });
      const record: EpochRecord = {
        epoch,
        metrics,
        timestamp: Date.now(),
        learningRate: engine.learningRate,
        images: trained.images,
        seconds: trained.seconds,
        imagesPerSecond: trained.images / Math.max(trained.seconds, 1e-9),
        liveTensors: tf.memory().numTensors,
      };
      await this.notify((l) => l.epochEnded?.({ epoch, metrics, record, decision }));
      engine.setLearningRate(decision.learningRate);
      if (decision.stop) {
        logger.info(`stopping after epoch ${epoch + 1}: ${decision.stop}`);
        const reason = decision.stop;
        await this.notify((l) => l.stopped?.(epoch, reason));
        break;
      }
    }
    return { status: 'FINISHED' };
  }

  private async notify(call: (listener: FitListener) => Promise<void> | void): Promise<void> {
    for (const listener of this.o.listeners) await call(listener);
  }

  private train(epoch: number, resumeFrom: PartialEpoch | undefined): Promise<EpochResult> {
    const o = this.o;
    return trainEpoch({
      engine: o.engine,
      task: o.splits.task,
      examples: o.splits.train,
      order: o.order(epoch),
      source: o.source,
      training: o.training,
      epoch,
      seed: o.seed,
      augment: o.augment,
      resumeFrom,
      floatBatches: o.floatBatches,
      shouldStop: () => o.stopSignal.stop,
      onStep: o.onStep,
    });
  }

  /**
   * The epoch's metrics: training loss (and accuracy), then the validation scores as val_*;
   * undefined when a stop signal cut the validation short.
   */
  private async validate(
    epoch: number,
    trained: EpochResult,
  ): Promise<Record<string, number> | undefined> {
    const { engine, splits, training, stopSignal } = this.o;
    const val = await predictSplit({
      engine,
      task: splits.task,
      examples: splits.validation,
      source: this.o.source,
      batchSize: training.batchSize,
      maxSteps: training.validationSteps,
      lossFn: this.o.lossFn,
      floatBatches: this.o.floatBatches,
      shouldStop: () => stopSignal.stop,
    });
    if (val.interrupted) return undefined;
    if (splits.validation.length > 0 && !Number.isFinite(val.loss))
      throw new NonFiniteLossError(
        val.loss,
        `the validation after epoch ${epoch + 1} (training loss ${trained.loss})`,
        'an update late in the epoch made the weights non-finite (the weights diverged)',
      );
    const valScores = scorePredictions(splits.task, splits.validation, val, false).flat;
    return {
      loss: trained.loss,
      ...(trained.accuracy !== undefined ? { accuracy: trained.accuracy } : {}),
      ...prefixed(valScores, 'val_'),
    };
  }
}
