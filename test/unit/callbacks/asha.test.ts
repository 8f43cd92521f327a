import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { UserError } from '../../../src/sdk/errors.js';
import { CallbackList } from '../../../src/core/runner/callbacks.js';
import { RunContext } from '../../../src/sdk/services.js';
import { AshaScheduler, type AshaOptions } from '../../../src/plugins/callbacks/asha.js';
import { tempDir } from '../../support/helpers.js';

function trial(sweepDir: string, index: number, options: AshaOptions = {}): CallbackList {
  const context = new RunContext('x', 'x.yaml', 1, '/tmp', '/tmp', {
    id: 's',
    dir: sweepDir,
    trial: index,
  });
  const list = new CallbackList([
    { ref: { type: 'asha' }, callback: new AshaScheduler(options, context) },
  ]);
  list.trainBegin({ epochs: 9, baseLearningRate: 0.1, startEpoch: 0 });
  return list;
}

/** Epoch `epoch` (0-based) ends with val_loss `value`: the stop reason, if any. */
function epochEnd(list: CallbackList, epoch: number, value: number): string | undefined {
  return list.epochEnd({ epoch, epochs: 9, metrics: { val_loss: value }, learningRate: 0.1 }).stop;
}

describe('the asha sweep scheduler', () => {
  it('rungs at minEpochs * eta^k below the last epoch; only there does it decide', () => {
    const dir = tempDir();
    const context = new RunContext('x', 'x.yaml', 1, '/tmp', '/tmp', { id: 's', dir, trial: 0 });
    const a = new AshaScheduler({ eta: 3, minEpochs: 1 }, context);
    a.onTrainBegin({ epochs: 9, baseLearningRate: 0.1, startEpoch: 0 });
    assert.deepEqual(a.rungs(), [1, 3]);
    const b = new AshaScheduler({ eta: 2, minEpochs: 2, maxEpochs: 20 }, context);
    b.onTrainBegin({ epochs: 9, baseLearningRate: 0.1, startEpoch: 0 });
    assert.deepEqual(b.rungs(), [2, 4, 8, 16]);
    const list = trial(dir, 0);
    assert.equal(epochEnd(list, 1, 5), undefined, 'epoch 2 is no rung');
    assert.ok(!existsSync(join(dir, 'asha', 'rung-1.jsonl')));
  });

  it('the top max(1, floor(n/eta)) of the trials at a rung so far continue; the first always', () => {
    const dir = tempDir();
    const at = (i: number, v: number) => epochEnd(trial(dir, i, { eta: 2 }), 0, v);
    assert.equal(at(0, 1.0), undefined, 'alone at the rung: continues');
    assert.match(at(1, 2.0) ?? '', /ranks 2 of 2 trials there, the top 1 continue \(eta 2\)/);
    assert.equal(at(2, 0.5), undefined, 'best of 3');
    assert.equal(at(3, 0.9), undefined, '2nd of 4, top 2 continue');
    assert.match(at(4, NaN) ?? '', /val_loss NaN ranks 5 of 5/);
    const rung = readFileSync(join(dir, 'asha', 'rung-0.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(rung.length, 5);
    // max mode: higher is better
    const dir2 = tempDir();
    const acc = (i: number, v: number) =>
      trial(dir2, i, { eta: 2, monitor: 'val_accuracy' }).epochEnd({
        epoch: 0,
        epochs: 9,
        metrics: { val_accuracy: v },
        learningRate: 0.1,
      }).stop;
    assert.equal(acc(0, 0.3), undefined);
    assert.equal(acc(1, 0.6), undefined, 'higher accuracy ranks first');
    assert.match(acc(2, 0.1) ?? '', /ranks 3 of 3/);
  });

  it('a rerun of a rung epoch (resume) gets its first decision back, not a new one', () => {
    const dir = tempDir();
    assert.equal(epochEnd(trial(dir, 0, { eta: 2 }), 0, 1.0), undefined);
    const first = epochEnd(trial(dir, 1, { eta: 2 }), 0, 3.0);
    assert.match(first ?? '', /ranks 2 of 2/);
    // trial 1 crashed and redoes epoch 1, now better than trial 0: the decision stands
    assert.equal(epochEnd(trial(dir, 1, { eta: 2 }), 0, 0.1), first);
    const lines = readFileSync(join(dir, 'asha', 'rung-0.jsonl'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(lines.length, 2, 'recorded once');
  });

  it("takes over a dead holder's stale lock and refuses to run outside a sweep", () => {
    const dir = tempDir();
    assert.equal(epochEnd(trial(dir, 0), 0, 1.0), undefined); // makes asha/
    const lock = join(dir, 'asha', 'lock');
    writeFileSync(lock, '');
    const old = (Date.now() - 60_000) / 1000;
    utimesSync(lock, old, old);
    assert.match(epochEnd(trial(dir, 1, { eta: 2 }), 0, 2.0) ?? '', /ranks 2 of 2/);
    assert.ok(!existsSync(lock), 'released');
    assert.throws(
      () => new AshaScheduler({}, new RunContext('x', 'x.yaml', 1, '/tmp', '/tmp')),
      (e: unknown) => e instanceof UserError && /sweep\.scheduler/.test(e.message),
    );
  });
});
