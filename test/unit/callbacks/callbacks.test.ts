import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ExperimentConfig, PluginRef } from '../../../src/core/config/types.js';
import { ConfigError, UserError } from '../../../src/sdk/errors.js';
import type { TrainingCallback } from '../../../src/sdk/contracts/run.js';
import { CallbackList, type EpochDecision } from '../../../src/core/runner/callbacks.js';
import { EarlyStopping } from '../../../src/plugins/callbacks/early-stopping.js';
import { expandCallbacks } from '../../../src/plugins/callbacks/index.js';
import {
  CosineDecay,
  ReduceOnPlateau,
  StepDecay,
} from '../../../src/plugins/callbacks/lr-schedules.js';
import { ModelCheckpoint } from '../../../src/plugins/callbacks/model-checkpoint.js';
import { TerminateOnNaN } from '../../../src/plugins/callbacks/terminate-on-nan.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';

const BASE_LR = 0.1;

/** Drive callbacks as the runner does: the learning rate each decision sets is the next one. */
function drive(
  callbacks: TrainingCallback[],
  values: Record<string, number>[],
  epochs = 20,
): EpochDecision[] {
  const list = new CallbackList(
    callbacks.map((callback, i) => ({ ref: { type: `c${i}` }, callback })),
  );
  list.trainBegin({ epochs, baseLearningRate: BASE_LR, startEpoch: 0 });
  let lr = BASE_LR;
  return values.map((metrics, epoch) => {
    const d = list.epochEnd({ epoch, epochs, metrics, learningRate: lr });
    lr = d.learningRate;
    return d;
  });
}

/** The epoch (0-based) after which early stopping fires for these val_loss values, or -1. */
function stopsAfter(patience: number, losses: number[]): number {
  const decisions = drive(
    [new EarlyStopping({ patience })],
    losses.map((v) => ({ loss: 1, val_loss: v })),
  );
  return decisions.findIndex((d) => d.stop !== undefined);
}

describe("callbacks follow Keras' semantics", () => {
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
    assert.equal(stopsAfter(0, [1.0]), -1);
  });

  it('EarlyStopping: minDelta and mode max', () => {
    const d = drive(
      [new EarlyStopping({ monitor: 'val_accuracy', patience: 1, minDelta: 0.05 })],
      [0.5, 0.52, 0.6].map((v) => ({ val_accuracy: v })),
    );
    // 0.52 is not better than 0.5 by more than 0.05: stop after epoch 2
    assert.equal(
      d.findIndex((x) => x.stop),
      1,
    );
    assert.match(d[1].stop ?? '', /val_accuracy did not improve for 1 epoch/);
  });

  it('ReduceLROnPlateau(patience=1, factor=0.5) reduces, then waits patience again', () => {
    const lrs = drive(
      [new ReduceOnPlateau({ patience: 1, factor: 0.5 })],
      [1.0, 0.9, 0.95, 0.96, 0.97].map((v) => ({ val_loss: v })),
    ).map((d) => d.learningRate);
    assert.deepEqual(lrs, [0.1, 0.1, 0.05, 0.025, 0.0125]);
  });

  it('ReduceLROnPlateau respects minLearningRate', () => {
    const lrs = drive(
      [new ReduceOnPlateau({ patience: 0, factor: 0.5, minLearningRate: 0.04 })],
      [1, 1, 1, 1].map((v) => ({ val_loss: v })),
    ).map((d) => d.learningRate);
    assert.deepEqual(lrs, [0.1, 0.05, 0.04, 0.04]);
  });

  it('step decay and cosine decay give the rate of the next epoch', () => {
    const metrics = new Array<Record<string, number>>(4).fill({ val_loss: 1 });
    const step = drive([new StepDecay({ stepSize: 2, gamma: 0.5 })], metrics).map(
      (d) => d.learningRate,
    );
    // epochs 1, 2, 3, 4 get 0.1, 0.05, 0.05, 0.025
    assert.deepEqual(step, [0.1, 0.05, 0.05, 0.025]);
    const cos = drive([new CosineDecay({ minLearningRate: 0 })], metrics, 4).map(
      (d) => d.learningRate,
    );
    const expected = [1, 2, 3, 4].map((e) => 0.05 * (1 + Math.cos((Math.PI * e) / 4)));
    cos.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `${v} vs ${expected[i]}`));
    assert.ok(Math.abs(cos[3]) < 1e-12);
  });

  it('ModelCheckpoint keeps the best epoch by the monitored metric and its mode', () => {
    const best = drive(
      [new ModelCheckpoint({ monitor: 'val_accuracy' })],
      [0.3, 0.5, 0.4, 0.6, 0.6].map((v) => ({ val_loss: 1, val_accuracy: v })),
    ).map((d) => d.keepAsBest);
    assert.deepEqual(best, [true, true, false, true, false]);
    const none = drive(
      [new ModelCheckpoint({ saveBest: false })],
      [{ val_loss: 1 }, { val_loss: 0.5 }],
    );
    assert.deepEqual(
      none.map((d) => d.keepAsBest),
      [false, false],
    );
  });

  it('a monitor that is not logged is an error naming what is', () => {
    assert.throws(
      () => drive([new EarlyStopping({ monitor: 'val_f1_macro' })], [{ loss: 1, val_loss: 1 }]),
      /monitored metric 'val_f1_macro' was not logged; logged: loss, val_loss/,
    );
  });

  it('TerminateOnNaN stops on a non-finite epoch metric only', () => {
    const d = drive(
      [new TerminateOnNaN()],
      [{ val_loss: 1 }, { val_loss: 1, val_valence_rmse: NaN }],
    );
    assert.equal(d[0].stop, undefined);
    assert.match(d[1].stop ?? '', /non-finite metrics after epoch 2: val_valence_rmse=NaN/);
  });

  it('the first stop reason wins; a later learning rate wins', () => {
    const d = drive(
      [
        new EarlyStopping({ patience: 0 }),
        new TerminateOnNaN(),
        new StepDecay({ gamma: 0.5 }),
        new ReduceOnPlateau({ patience: 0, factor: 0.1 }),
      ],
      [{ val_loss: 1 }, { val_loss: NaN }],
    );
    assert.match(d[1].stop ?? '', /^early stopping/);
    // step decay sets 0.1 x 0.5^2 for epoch 2; the plateau (NaN never improves) reduces that
    assert.ok(Math.abs(d[1].learningRate - 0.0025) < 1e-12, String(d[1].learningRate));
  });
});

describe('callback state survives a resume', () => {
  const values = [1.0, 0.9, 0.95, 0.97, 0.96, 0.99, 0.5, 0.6, 0.7].map((v) => ({
    val_loss: v,
    val_accuracy: 1 - v,
  }));
  const make = (): TrainingCallback[] => [
    new ModelCheckpoint({ monitor: 'val_accuracy' }),
    new EarlyStopping({ patience: 3 }),
    new ReduceOnPlateau({ patience: 1, factor: 0.5 }),
  ];
  const refs: PluginRef[] = [
    { type: 'model-checkpoint' },
    { type: 'early-stopping' },
    { type: 'reduce-lr-on-plateau' },
  ];

  it('interrupted after any epoch, a fresh process decides every later epoch alike', () => {
    const whole = drive(make(), values);
    for (let cut = 1; cut < values.length; cut++) {
      const first = new CallbackList(make().map((callback, i) => ({ ref: refs[i], callback })));
      first.trainBegin({ epochs: 20, baseLearningRate: BASE_LR, startEpoch: 0 });
      let lr = BASE_LR;
      for (let e = 0; e < cut; e++)
        lr = first.epochEnd({
          epoch: e,
          epochs: 20,
          metrics: values[e],
          learningRate: lr,
        }).learningRate;
      // through JSON, as checkpoints/last/state.json holds it
      const saved = JSON.parse(JSON.stringify(first.state())) as Record<string, unknown>;
      const second = new CallbackList(make().map((callback, i) => ({ ref: refs[i], callback })));
      assert.deepEqual(second.restore(saved), []);
      second.trainBegin({ epochs: 20, baseLearningRate: BASE_LR, startEpoch: cut });
      for (let e = cut; e < values.length; e++) {
        const d = second.epochEnd({ epoch: e, epochs: 20, metrics: values[e], learningRate: lr });
        assert.deepEqual(d, whole[e], `cut after epoch ${cut}, epoch ${e}`);
        lr = d.learningRate;
      }
    }
  });

  it('without the saved state the decisions differ (the test above can fail)', () => {
    const whole = drive(make(), values);
    const fresh = new CallbackList(make().map((callback, i) => ({ ref: refs[i], callback })));
    fresh.trainBegin({ epochs: 20, baseLearningRate: BASE_LR, startEpoch: 3 });
    const d = fresh.epochEnd({ epoch: 3, epochs: 20, metrics: values[3], learningRate: 0.05 });
    assert.notDeepEqual(d, whole[3]);
  });

  it('state of a callback no longer listed is reported, not given to another', () => {
    const list = new CallbackList([{ ref: { type: 'early-stopping' }, callback: make()[1] }]);
    assert.deepEqual(list.restore({ '0:model-checkpoint': { best: 1 } }), ['0:model-checkpoint']);
  });
});

function config(training: Partial<ExperimentConfig['training']>, callbacks?: PluginRef[]) {
  return {
    name: 'e',
    seed: 1,
    dataset: { type: 'synthetic' },
    architecture: { type: 'vgg-type' },
    training: {
      epochs: 3,
      batchSize: 8,
      backend: 'auto',
      execution: 'auto',
      optimizer: { type: 'adam', learningRate: 0.1 },
      ...training,
    },
    ...(callbacks ? { callbacks } : {}),
  } as ExperimentConfig;
}

describe('the training shorthands expand to callbacks', () => {
  it('no shorthand and no list: the best epoch by val_loss, as before', () => {
    assert.deepEqual(expandCallbacks(config({})), [
      { type: 'model-checkpoint', monitor: 'val_loss', mode: 'auto', saveBest: true },
    ]);
  });

  it('each shorthand becomes its callback, before the listed ones', () => {
    const refs = expandCallbacks(
      config(
        {
          checkpoint: { monitor: 'val_accuracy', mode: 'max', saveBest: false },
          earlyStopping: { monitor: 'val_loss', patience: 4, mode: 'auto', minDelta: 0.01 },
          learningRate: { schedule: 'reduce-on-plateau', patience: 1, factor: 0.5 },
        },
        [{ type: 'terminate-on-nan' }],
      ),
    );
    assert.deepEqual(refs, [
      { type: 'model-checkpoint', monitor: 'val_accuracy', mode: 'max', saveBest: false },
      { type: 'early-stopping', monitor: 'val_loss', patience: 4, mode: 'auto', minDelta: 0.01 },
      { type: 'reduce-lr-on-plateau', factor: 0.5, patience: 1 },
      { type: 'terminate-on-nan' },
    ]);
    assert.deepEqual(
      expandCallbacks(config({ learningRate: { schedule: 'step', stepSize: 2, gamma: 0.5 } }))[1],
      { type: 'step-decay', stepSize: 2, gamma: 0.5 },
    );
    assert.equal(expandCallbacks(config({ learningRate: { schedule: 'constant' } })).length, 1);
  });

  it('a listed model-checkpoint replaces the default one', () => {
    const listed = [{ type: 'model-checkpoint', monitor: 'val_f1_macro' }];
    assert.deepEqual(expandCallbacks(config({}, listed)), listed);
  });

  it('a shorthand and a listed callback of the same type is refused', () => {
    assert.throws(
      () =>
        expandCallbacks(
          config(
            { earlyStopping: { monitor: 'val_loss', patience: 1, mode: 'auto', minDelta: 0 } },
            [{ type: 'early-stopping' }],
          ),
        ),
      (e: unknown) =>
        e instanceof UserError &&
        /training.earlyStopping and callbacks\[0\] \(type early-stopping\)/.test(e.message),
    );
  });
});

describe('callbacks: in the YAML', () => {
  function experiment(lines: string[]): string {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': [
        'name: cb',
        'dataset:',
        '  type: affectnet',
        '  root: /nonexistent',
        '  classes: report6',
        'architecture: { type: vgg-type }',
        ...lines,
        '',
      ].join('\n'),
    });
    return join(dir, 'e.yaml');
  }

  it('validates, fills defaults and checks the monitor names at their line', async () => {
    const ok = await testRuntime().resolve(
      experiment([
        'callbacks:',
        '  - { type: early-stopping, patience: 1 }',
        '  - type: terminate-on-nan',
      ]),
      { allowUnresolvedEnv: true },
    );
    assert.deepEqual(ok.config.callbacks?.[0], {
      type: 'early-stopping',
      patience: 1,
      monitor: 'val_loss',
      mode: 'auto',
      minDelta: 0,
    });
    const file = experiment([
      'callbacks:',
      '  - type: reduce-lr-on-plateau',
      '    monitor: val_acuracy',
    ]);
    try {
      await testRuntime().resolve(file, { allowUnresolvedEnv: true });
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      const d = error.diagnostics;
      assert.equal(d.length, 1);
      assert.deepEqual([d[0].file, d[0].line, d[0].path], [file, 9, '$.callbacks[0].monitor']);
      assert.match(d[0].message, /did you mean 'val_accuracy'/);
    }
  });

  it('an unknown callback type is refused with the registered ones', async () => {
    await assert.rejects(
      testRuntime().resolve(experiment(['callbacks:', '  - type: early-stop']), {
        allowUnresolvedEnv: true,
      }),
      /early-stopping/,
    );
  });
});

/** The rate of every epoch of a run from its start, as the runner feeds it (trainBegin first). */
function ratesFrom(schedule: () => TrainingCallback, epochs: number, startEpoch = 0): number[] {
  const list = new CallbackList([{ ref: { type: 's' }, callback: schedule() }]);
  const first = list.trainBegin({ epochs, baseLearningRate: BASE_LR, startEpoch });
  const rates = startEpoch === 0 ? [first] : [];
  for (let epoch = startEpoch; epoch < epochs - 1; epoch++)
    rates.push(
      list.epochEnd({ epoch, epochs, metrics: { val_loss: 1 }, learningRate: 0 }).learningRate,
    );
  return rates;
}

function assertClose(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) < 1e-12, `epoch ${i}: ${v} vs ${expected[i]}`),
  );
}

describe('linear warm-up before a schedule', () => {
  it('warm-up + cosine: base x (e+1)/(W+1) for e < W, then cosine over the remaining epochs', () => {
    const W = 3;
    const E = 10;
    const min = 0.001;
    const expected = Array.from({ length: E }, (_, e) =>
      e < W
        ? (BASE_LR * (e + 1)) / (W + 1)
        : min + 0.5 * (BASE_LR - min) * (1 + Math.cos((Math.PI * (e - W)) / (E - W))),
    );
    const rates = ratesFrom(() => new CosineDecay({ minLearningRate: min, warmupEpochs: W }), E);
    assertClose(rates, expected);
    // the ramp: 0.025, 0.05, 0.075, then the full base rate at the first cosine epoch
    assertClose(rates.slice(0, 4), [0.025, 0.05, 0.075, 0.1]);
  });

  it('warm-up + step decay: the decay counts epochs from the end of the warm-up', () => {
    const rates = ratesFrom(() => new StepDecay({ stepSize: 2, gamma: 0.5, warmupEpochs: 1 }), 6);
    assertClose(rates, [0.05, 0.1, 0.1, 0.05, 0.05, 0.025]);
  });

  it('warmupEpochs 0 (the default) leaves the schedules as they were', () => {
    assertClose(
      ratesFrom(() => new CosineDecay({ warmupEpochs: 0 }), 5),
      ratesFrom(() => new CosineDecay({}), 5),
    );
    assertClose(
      ratesFrom(() => new StepDecay({ gamma: 0.5 }), 3),
      [0.1, 0.05, 0.025],
    );
  });

  it('a resumed run (a fresh callback from startEpoch) gets the rates of the uninterrupted one', () => {
    const make = (): TrainingCallback => new CosineDecay({ warmupEpochs: 4 });
    const whole = ratesFrom(make, 12);
    for (const start of [1, 3, 4, 7])
      assertClose(ratesFrom(make, 12, start), whole.slice(start + 1));
  });

  it('more warm-up epochs than the run has: every epoch is on the ramp', () => {
    assertClose(
      ratesFrom(() => new CosineDecay({ warmupEpochs: 5 }), 3),
      [1, 2, 3].map((k) => (BASE_LR * k) / 6),
    );
  });

  it('the shorthand passes warmupEpochs on, and refuses it where no schedule would use it', () => {
    assert.deepEqual(
      expandCallbacks(config({ learningRate: { schedule: 'cosine', warmupEpochs: 2 } }))[1],
      { type: 'cosine-decay', warmupEpochs: 2 },
    );
    // the schema's default (0) is filled in whatever the schedule: that is no warm-up
    assert.equal(
      expandCallbacks(config({ learningRate: { schedule: 'constant', warmupEpochs: 0 } })).length,
      1,
    );
    assert.deepEqual(
      expandCallbacks(
        config({ learningRate: { schedule: 'reduce-on-plateau', warmupEpochs: 0 } }),
      )[1],
      { type: 'reduce-lr-on-plateau' },
    );
    for (const schedule of ['constant', 'reduce-on-plateau'])
      assert.throws(
        () => expandCallbacks(config({ learningRate: { schedule, warmupEpochs: 2 } })),
        (e: unknown) =>
          e instanceof UserError &&
          /training\.learningRate\.warmupEpochs needs a schedule that takes it \(step, cosine\), not /.test(
            e.message,
          ),
      );
  });

  it('validate refuses a warm-up under a schedule without one at its line, not only the run', async () => {
    const dir = tempDir();
    const yaml = (schedule: string, warmup: number) =>
      [
        'name: warm',
        'dataset: { type: affectnet, root: /nonexistent, classes: report6 }',
        'architecture: { type: vgg-type }',
        'training:',
        '  epochs: 4',
        '  learningRate:',
        `    schedule: ${schedule}`,
        `    warmupEpochs: ${warmup}`,
        '',
      ].join('\n');
    for (const schedule of ['constant', 'reduce-on-plateau']) {
      writeFiles(dir, { [`${schedule}.yaml`]: yaml(schedule, 2) });
      const file = join(dir, `${schedule}.yaml`);
      try {
        await testRuntime().resolve(file, { allowUnresolvedEnv: true });
        assert.fail(`${schedule} with a warm-up validated`);
      } catch (error) {
        assert.ok(error instanceof ConfigError, String(error));
        const d = error.diagnostics;
        assert.equal(d.length, 1, JSON.stringify(d));
        assert.deepEqual(
          [d[0].file, d[0].line, d[0].path],
          [file, 8, '$.training.learningRate.warmupEpochs'],
        );
        assert.match(
          d[0].message,
          /warmupEpochs needs a schedule that takes it \(schedule: cosine or step\); constant, reduce-on-plateau take none; .*step with gamma: 1/,
        );
      }
      // no warm-up (0, the default) under the same schedule is fine
      writeFiles(dir, { [`${schedule}-0.yaml`]: yaml(schedule, 0) });
      await testRuntime().resolve(join(dir, `${schedule}-0.yaml`), { allowUnresolvedEnv: true });
    }
    for (const schedule of ['cosine', 'step']) {
      writeFiles(dir, { [`${schedule}.yaml`]: yaml(schedule, 2) });
      await testRuntime().resolve(join(dir, `${schedule}.yaml`), { allowUnresolvedEnv: true });
    }
  });
});
