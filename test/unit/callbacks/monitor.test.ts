import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MonitorTracker } from '../../../src/sdk/index.js';

test('MonitorTracker: best, best epoch and wait with Keras comparison; NaN never improves', () => {
  const t = new MonitorTracker('val_loss', 'auto', 0.01);
  assert.equal(t.mode, 'min');
  assert.equal(t.update({ val_loss: 1 }, 1), true);
  assert.equal(t.update({ val_loss: 0.995 }, 2), false, 'within minDelta is no improvement');
  assert.equal(t.update({ val_loss: Number.NaN }, 3), false);
  assert.deepEqual(t.getState(), { best: 1, bestEpoch: 1, wait: 2 });
  assert.equal(t.update({ val_loss: 0.5 }, 4), true);
  assert.deepEqual(t.getState(), { best: 0.5, bestEpoch: 4, wait: 0 });
  assert.equal(new MonitorTracker('val_accuracy', 'auto').mode, 'max');
  assert.throws(
    () => t.update({ loss: 1 }, 5),
    /monitored metric 'val_loss' was not logged; logged: loss/,
  );
});

test('MonitorTracker state: restored from a checkpoint, older states without a field too', () => {
  const t = new MonitorTracker('val_accuracy', 'max');
  t.setState({ best: 0.6, wait: 2 });
  assert.deepEqual(t.getState(), { best: 0.6, bestEpoch: undefined, wait: 2 });
  assert.equal(t.update({ val_accuracy: 0.59 }, 7), false);
  assert.equal(t.wait, 3);
  t.setState({ best: 'x', wait: null });
  assert.deepEqual(t.getState(), { best: undefined, bestEpoch: undefined, wait: 0 });
});
