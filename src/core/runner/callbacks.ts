import type { PluginRef } from '../config/types.js';
import type {
  EpochEndInfo,
  RunStatus,
  TrainBeginInfo,
  TrainingCallback,
  TrainingControl,
} from '../../sdk/contracts/run.js';

/** What the callbacks decided at one epoch's end. */
export interface EpochDecision {
  stop?: string;
  learningRate: number;
  keepAsBest: boolean;
}

class EpochControl implements TrainingControl {
  stop?: string;
  best = false;
  constructor(public learningRate: number) {}
  stopTraining(reason: string): void {
    this.stop ??= reason;
  }
  setLearningRate(learningRate: number): void {
    if (!Number.isFinite(learningRate) || learningRate < 0)
      throw new Error(`a callback set the learning rate to ${learningRate}`);
    this.learningRate = learningRate;
  }
  keepAsBest(): void {
    this.best = true;
  }
}

/**
 * The run's callbacks in YAML order. Their states are saved under `<index>:<type>`, so a
 * resumed run gives each its own state back (and a reordered list fails to match, not mixes).
 */
export class CallbackList {
  constructor(private readonly entries: { ref: PluginRef; callback: TrainingCallback }[]) {}

  private key(i: number): string {
    return `${i}:${this.entries[i].ref.type}`;
  }

  /** The learning rate the callbacks chose for the first epoch (the base rate if none did). */
  trainBegin(info: TrainBeginInfo): number {
    const control = new EpochControl(info.baseLearningRate);
    for (const { callback } of this.entries) callback.onTrainBegin?.(info, control);
    return control.learningRate;
  }

  epochEnd(epoch: EpochEndInfo): EpochDecision {
    const control = new EpochControl(epoch.learningRate);
    for (const { callback } of this.entries) callback.onEpochEnd?.(epoch, control);
    return { stop: control.stop, learningRate: control.learningRate, keepAsBest: control.best };
  }

  trainEnd(lastEpoch: number, status: RunStatus): void {
    for (const { callback } of this.entries) callback.onTrainEnd?.({ lastEpoch, status });
  }

  state(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.entries.forEach((e, i) => {
      const s = e.callback.getState?.();
      if (s !== undefined) out[this.key(i)] = s;
    });
    return out;
  }

  /** Give each callback its saved state; the keys of callbacks no longer listed are returned. */
  restore(saved: Record<string, unknown>): string[] {
    const used = new Set<string>();
    this.entries.forEach((e, i) => {
      const key = this.key(i);
      if (key in saved) {
        e.callback.setState?.(saved[key]);
        used.add(key);
      }
    });
    return Object.keys(saved).filter((k) => !used.has(k));
  }
}
