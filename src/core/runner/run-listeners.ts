import { cpSync, rmSync } from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import type { TrainingEngine } from '../engine/index.js';
import { UserError } from '../../sdk/errors.js';
import type { RunInfo } from '../../sdk/contracts/run.js';
import type { ReporterHub } from '../reporting/reporter-hub.js';
import type { RunStore } from '../reporting/run-store.js';
import { guardWrite } from '../write-failure.js';
import { writeCurves } from './artifacts.js';
import type { CallbackList } from './callbacks.js';
import {
  hasCheckpoint,
  readTrainingState,
  restoreCheckpoint,
  saveCheckpoint,
  type PartialEpoch,
  type TrainingState,
} from './checkpoint.js';
import type { EpochOutcome, FitListener } from './fit-loop.js';

/**
 * The run's checkpoints, as Lightning's ModelCheckpoint or mmengine's CheckpointHook:
 * `checkpoints/last` after every epoch, a copy in `checkpoints/best` when the callbacks keep
 * the epoch as best, `checkpoints/interrupted` when a signal cuts an epoch short. It keeps
 * which epoch is the best one, and restores it for the final evaluation.
 */
export class CheckpointListener implements FitListener {
  bestEpoch: number | undefined;

  constructor(
    private readonly store: RunStore,
    private readonly model: tf.LayersModel,
    private readonly engine: TrainingEngine,
    private readonly callbacks: CallbackList,
  ) {}

  private get lastDir(): string {
    return this.store.path('checkpoints/last');
  }

  private get interruptedDir(): string {
    return this.store.path('checkpoints/interrupted');
  }

  private get bestDir(): string {
    return this.store.path('checkpoints/best');
  }

  /**
   * The weights to evaluate: the best epoch's, restored from `checkpoints/best` when the
   * callbacks kept one (model-checkpoint), else the last epoch's, which the model holds already
   * after training (or after `restore` on a resumed run). Returns the epoch evaluated when it
   * was restored from the best checkpoint.
   */
  async restoreForEvaluation(): Promise<number | undefined> {
    if (!hasCheckpoint(this.bestDir)) return undefined;
    const best = readTrainingState(this.bestDir);
    await restoreCheckpoint(this.bestDir, this.model, this.engine);
    return best.epoch;
  }

  /** The evaluated model (the best checkpoint's, else the last's) copied to `to`. */
  copyEvaluatedModel(to: string): void {
    const from = `${hasCheckpoint(this.bestDir) ? this.bestDir : this.lastDir}/model`;
    guardWrite(to, () => cpSync(from, to, { recursive: true }));
  }

  /**
   * A resumed run: the weights, optimizer state and this listener's own from the newest
   * checkpoint (`interrupted` when it is newer than `last`).
   */
  async restore(): Promise<TrainingState> {
    const state = await restoreCheckpoint(this.resumeFrom(), this.model, this.engine);
    this.bestEpoch = state.bestEpoch;
    return state;
  }

  private resumeFrom(): string {
    const hasLast = hasCheckpoint(this.lastDir);
    if (hasCheckpoint(this.interruptedDir)) {
      const interrupted = readTrainingState(this.interruptedDir).savedAt;
      if (!hasLast || interrupted >= readTrainingState(this.lastDir).savedAt)
        return this.interruptedDir;
    }
    if (!hasLast)
      throw new UserError(
        `${this.store.dir} has nothing to resume from (no checkpoints/last or checkpoints/interrupted)`,
      );
    return this.lastDir;
  }

  async epochEnded({ epoch, decision }: EpochOutcome): Promise<void> {
    if (decision.keepAsBest) this.bestEpoch = epoch;
    await saveCheckpoint(this.lastDir, this.model, this.engine, {
      epoch,
      learningRate: decision.learningRate,
      bestEpoch: this.bestEpoch,
      callbacks: this.callbacks.state(),
      savedAt: Date.now(),
    });
    // the epoch an interrupted checkpoint was cut from is complete now
    rmSync(this.interruptedDir, { recursive: true, force: true });
    if (decision.keepAsBest) {
      const { bestDir } = this;
      rmSync(bestDir, { recursive: true, force: true });
      guardWrite(bestDir, () => cpSync(this.lastDir, bestDir, { recursive: true }));
    }
  }

  async interrupted(epoch: number, partial: PartialEpoch): Promise<void> {
    await saveCheckpoint(this.interruptedDir, this.model, this.engine, {
      epoch: epoch - 1,
      learningRate: this.engine.learningRate,
      bestEpoch: this.bestEpoch,
      callbacks: this.callbacks.state(),
      savedAt: Date.now(),
      partial,
    });
  }
}

/** `metrics.jsonl`, run.json's progress (last epoch, best epoch, a callback's stop), curves.png. */
export class RunRecordListener implements FitListener {
  constructor(
    private readonly store: RunStore,
    private readonly bestEpoch: () => number | undefined,
  ) {}

  async epochEnded({ epoch, record }: EpochOutcome): Promise<void> {
    this.store.appendEpoch(record);
    this.store.updateRecord({ lastCompletedEpoch: epoch, bestEpoch: this.bestEpoch() });
    await writeCurves(this.store);
  }

  stopped(epoch: number, reason: string): void {
    this.store.updateRecord({ stopped: { epoch, reason } });
  }
}

/** The reporters hear of each epoch; they only observe (delivery is not awaited). */
export class ReporterListener implements FitListener {
  constructor(
    private readonly hub: ReporterHub,
    private readonly runInfo: RunInfo,
  ) {}

  epochEnded({ epoch, metrics, record }: EpochOutcome): void {
    void this.hub.epochEnded(this.runInfo, { epoch, metrics, timestamp: record.timestamp });
  }
}
