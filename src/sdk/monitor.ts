export type Mode = 'min' | 'max';

/** `auto` watches losses and errors downwards, everything else upwards (as Keras does). */
export function resolveMode(monitor: string, mode: 'min' | 'max' | 'auto' | undefined): Mode {
  if (mode === 'min' || mode === 'max') return mode;
  return /loss|error|rmse/.test(monitor) ? 'min' : 'max';
}

/** Keras' comparison: strictly better than `best` by more than `minDelta`; NaN never is. */
export function improved(
  value: number,
  best: number | undefined,
  mode: Mode,
  minDelta = 0,
): boolean {
  if (Number.isNaN(value)) return false;
  if (best === undefined) return true;
  return mode === 'min' ? value < best - minDelta : value > best + minDelta;
}

/** A metric's value from one epoch's metrics, or an error naming what was logged. */
export function metricOf(metrics: Record<string, number>, key: string): number {
  const v = metrics[key];
  if (v === undefined) {
    throw new Error(
      `monitored metric '${key}' was not logged; logged: ${Object.keys(metrics).join(', ')}`,
    );
  }
  return v;
}

/** A saved state object, checked field by field (a checkpoint is a file on disk). */
const numberOrUndefined = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : undefined;

/**
 * The best value of one monitored metric and the epochs since it last improved, with Keras'
 * comparison (strictly better by more than minDelta; NaN never is). Checkpointing, early
 * stopping and plateau schedules each keep one as their own resumable state.
 */
export class MonitorTracker {
  readonly mode: Mode;
  best?: number;
  /** The epoch (as the runner numbers it) that gave `best`. */
  bestEpoch?: number;
  /** Epochs in a row without improvement. */
  wait = 0;

  constructor(
    readonly monitor: string,
    mode: 'min' | 'max' | 'auto' | undefined,
    readonly minDelta = 0,
  ) {
    this.mode = resolveMode(monitor, mode);
  }

  /** Records one epoch's value; true when it improved on the best (which it then becomes). */
  update(metrics: Record<string, number>, epoch: number): boolean {
    const value = metricOf(metrics, this.monitor);
    if (improved(value, this.best, this.mode, this.minDelta)) {
      this.best = value;
      this.bestEpoch = epoch;
      this.wait = 0;
      return true;
    }
    this.wait++;
    return false;
  }

  getState(): { best?: number; bestEpoch?: number; wait: number } {
    return { best: this.best, bestEpoch: this.bestEpoch, wait: this.wait };
  }

  setState(state: unknown): void {
    const s = (state ?? {}) as Record<string, unknown>;
    this.best = numberOrUndefined(s.best);
    this.bestEpoch = numberOrUndefined(s.bestEpoch);
    this.wait = numberOrUndefined(s.wait) ?? 0;
  }
}
