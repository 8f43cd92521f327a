import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TrainingConfig } from '../../../src/core/config/types.js';
import { afterEpoch, initialMonitorState } from '../../../src/core/runner/monitor.js';

function training(extra: Partial<TrainingConfig>): TrainingConfig {
  return {
    epochs: 20,
    batchSize: 8,
    backend: 'auto',
    execution: 'auto',
    optimizer: { type: 'adam', learningRate: 0.1 },
    ...extra,
  };
}

/** The epoch (0-based) after which early stopping fires for these val_loss values, or -1. */
function stopsAfter(patience: number, losses: number[]): number {
  const t = training({
    earlyStopping: { monitor: 'val_loss', patience, mode: 'auto', minDelta: 0 },
  });
  const state = initialMonitorState(t);
  for (const [epoch, v] of losses.entries())
    if (afterEpoch(state, t, epoch, { loss: 1, val_loss: v }).stop) return epoch;
  return -1;
}

describe("epoch-end decisions follow Keras' semantics", () => {
  it('EarlyStopping(patience=2) stops after two epochs in a row without improvement', () => {
    // Keras: wait += 1 on no improvement, stop when wait >= patience
    assert.equal(stopsAfter(2, [1.0, 0.9, 0.95, 0.97, 0.5]), 3);
    assert.equal(stopsAfter(1, [1.0, 0.9, 0.95, 0.8]), 2);
    // an improvement resets the count
    assert.equal(stopsAfter(2, [1.0, 1.1, 0.9, 1.0, 0.8, 0.85, 0.86]), 6);
    assert.equal(stopsAfter(3, [1.0, 0.9, 0.8]), -1);
  });

  it('EarlyStopping(patience=0) stops at the first epoch that does not improve', () => {
    assert.equal(stopsAfter(0, [1.0, 0.9, 0.95]), 2);
  });

  it('ReduceLROnPlateau(patience=1, factor=0.5) reduces after one epoch without improvement', () => {
    const t = training({
      learningRate: { schedule: 'reduce-on-plateau', patience: 1, factor: 0.5 },
    });
    const state = initialMonitorState(t);
    const lrs = [1.0, 0.9, 0.95, 0.96, 0.97].map(
      (v, epoch) => afterEpoch(state, t, epoch, { loss: 1, val_loss: v }).learningRate,
    );
    // Keras: wait resets to 0 after a reduction, so it reduces again after `patience` more
    assert.deepEqual(lrs, [0.1, 0.1, 0.05, 0.025, 0.0125]);
  });

  it('the best checkpoint follows the monitored metric and its mode', () => {
    const t = training({
      checkpoint: { monitor: 'val_accuracy', mode: 'auto', saveBest: true, saveLast: true },
    });
    const state = initialMonitorState(t);
    const best = [0.3, 0.5, 0.4, 0.6].map(
      (v, epoch) => afterEpoch(state, t, epoch, { loss: 1, val_loss: 1, val_accuracy: v }).isBest,
    );
    assert.deepEqual(best, [true, true, false, true]);
    assert.equal(state.bestEpoch, 3);
  });
});
