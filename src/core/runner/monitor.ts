import type { TrainingConfig } from '../config/types.js';

export type Mode = 'min' | 'max';

/** `auto` watches losses and errors downwards, everything else upwards (as Keras does). */
export function resolveMode(monitor: string, mode: 'min' | 'max' | 'auto' | undefined): Mode {
  if (mode === 'min' || mode === 'max') return mode;
  return /loss|error|rmse/.test(monitor) ? 'min' : 'max';
}

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

/**
 * Everything the epoch-end callbacks remember: the best checkpoint, early stopping and the
 * learning-rate schedule. Plain data, saved with each checkpoint so a resumed run decides alike.
 */
export interface MonitorState {
  checkpointBest?: number;
  bestEpoch?: number;
  earlyStopBest?: number;
  epochsWithoutImprovement: number;
  plateauBest?: number;
  plateauWait: number;
  learningRate: number;
}

export function initialMonitorState(training: TrainingConfig): MonitorState {
  return {
    epochsWithoutImprovement: 0,
    plateauWait: 0,
    learningRate: training.optimizer.learningRate,
  };
}

function metricOf(metrics: Record<string, number>, key: string): number {
  const v = metrics[key];
  if (v === undefined) {
    throw new Error(
      `monitored metric '${key}' was not logged; logged: ${Object.keys(metrics).join(', ')}`,
    );
  }
  return v;
}

export interface EpochDecision {
  isBest: boolean;
  stop: boolean;
  /** Learning rate for the next epoch. */
  learningRate: number;
}

/** Apply checkpoint-best, early stopping and the learning-rate schedule after `epoch`. */
export function afterEpoch(
  state: MonitorState,
  training: TrainingConfig,
  epoch: number,
  metrics: Record<string, number>,
): EpochDecision {
  const ckpt = training.checkpoint?.monitor ?? 'val_loss';
  const isBest = improved(
    metricOf(metrics, ckpt),
    state.checkpointBest,
    resolveMode(ckpt, training.checkpoint?.mode),
  );
  if (isBest) {
    state.checkpointBest = metrics[ckpt];
    state.bestEpoch = epoch;
  }

  let stop = false;
  const es = training.earlyStopping;
  if (es) {
    const value = metricOf(metrics, es.monitor);
    if (improved(value, state.earlyStopBest, resolveMode(es.monitor, es.mode), es.minDelta)) {
      state.earlyStopBest = value;
      state.epochsWithoutImprovement = 0;
    } else {
      state.epochsWithoutImprovement++;
      // Keras' EarlyStopping: stop once `patience` epochs in a row did not improve
      stop = state.epochsWithoutImprovement >= es.patience && epoch > 0;
    }
  }

  state.learningRate = nextLearningRate(state, training, epoch, metrics);
  return { isBest, stop, learningRate: state.learningRate };
}

/** The learning rate for epoch+1 under the configured schedule. */
export function nextLearningRate(
  state: MonitorState,
  training: TrainingConfig,
  epoch: number,
  metrics: Record<string, number>,
): number {
  const base = training.optimizer.learningRate;
  const s = training.learningRate;
  if (!s || s.schedule === 'constant') return base;
  const min = s.minLearningRate ?? 0;
  const next = epoch + 1;
  switch (s.schedule) {
    case 'step':
      return Math.max(min, base * Math.pow(s.gamma ?? 0.1, Math.floor(next / (s.stepSize ?? 1))));
    case 'cosine':
      return (
        min +
        0.5 *
          (base - min) *
          (1 + Math.cos((Math.PI * Math.min(next, training.epochs)) / training.epochs))
      );
    case 'reduce-on-plateau': {
      const monitor = s.monitor ?? 'val_loss';
      const v = metricOf(metrics, monitor);
      if (improved(v, state.plateauBest, resolveMode(monitor, s.mode))) {
        state.plateauBest = v;
        state.plateauWait = 0;
        return state.learningRate;
      }
      state.plateauWait++;
      // Keras' ReduceLROnPlateau: reduce once `patience` epochs in a row did not improve
      if (state.plateauWait >= (s.patience ?? 2)) {
        state.plateauWait = 0;
        return Math.max(min, state.learningRate * (s.factor ?? 0.1));
      }
      return state.learningRate;
    }
  }
}
