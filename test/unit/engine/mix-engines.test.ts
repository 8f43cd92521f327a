import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  EagerEngine,
  loadGraphModule,
  type EngineOptions,
  type GraphEngineModule,
  type LossSpec,
  type StepInputs,
  type StepTargets,
  type TrainingEngine,
} from '../../../src/core/engine/index.js';
import { mixStep } from '../../../src/core/pipeline/mix.js';
import type { Task } from '../../../src/sdk/contracts/data.js';
import { Random } from '../../../src/sdk/services.js';
import { LOSS_EPSILON } from '../../../src/core/training/loss.js';
import { CrossEntropy } from '../../../src/plugins/losses/cross-entropy.js';
import { activateBackend } from '../../support/helpers.js';
import { lossSpecOf, optimizerOf } from '../../support/training-plugins.js';

/**
 * Mixed batches (mixup, CutMix) in both engines: the loss lambda x L(own) + (1 - lambda) x
 * L(partner) against a float64 hand computation, the graph step against the eager one over 20
 * mixed steps, and an unmixed step of a mixing engine equal to a plain engine's.
 */

const classes = [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` }));
const classification: Task = { kind: 'classification', classes };
const multiTask: Task = { kind: 'expression+valence-arousal', classes };
const SIZE = 8;
const N = 12;
const WEIGHTS = [0.5, 1.25, 1.25];
const SMOOTHING = 0.1;

/** A small net without batch norm or dropout: training and inference passes are the same. */
function net(task: Task): tf.LayersModel {
  const input = tf.input({ shape: [SIZE, SIZE, 2] });
  let x = tf.layers
    .conv2d({ filters: 3, kernelSize: 3, activation: 'relu', name: 'conv' })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.flatten({ name: 'flat' }).apply(x) as tf.SymbolicTensor;
  const heads = [
    tf.layers.dense({ units: 3, activation: 'softmax', name: 'expression' }).apply(x),
  ] as tf.SymbolicTensor[];
  if (task.kind !== 'classification')
    heads.push(
      tf.layers.dense({ units: 2, name: 'valence_arousal' }).apply(x) as tf.SymbolicTensor,
    );
  const model = tf.model({ inputs: input, outputs: heads });
  const random = new Random(23);
  model.setWeights(
    model.getWeights().map((w) =>
      tf.tensor(
        Float32Array.from({ length: w.size }, () => random.next() - 0.5),
        w.shape,
      ),
    ),
  );
  return model;
}

const lossSpec = (): LossSpec => ({
  ...lossSpecOf({ classWeights: WEIGHTS, expressionWeight: 0.7, regressionWeight: 1.6 }),
  classification: {
    type: 'cross-entropy',
    plugin: new CrossEntropy({ labelSmoothing: SMOOTHING }),
  },
});

const options = (task: Task, mixing: boolean): EngineOptions => ({
  model: net(task),
  task,
  loss: lossSpec(),
  optimizer: optimizerOf({ type: 'adam', learningRate: 0.01 }),
  seed: 3,
  mixing,
});

/** Step `step`'s batch, mixed as a run would mix it (mixup or CutMix, half each). */
function mixedBatch(step: number): { inputs: StepInputs; targets: StepTargets } {
  const random = new Random(200 + step);
  const inputs: StepInputs = {
    x: Float32Array.from({ length: N * SIZE * SIZE * 2 }, () => random.next()),
    shape: [N, SIZE, SIZE, 2],
  };
  const targets = {
    classes: Int32Array.from({ length: N }, () => random.int(3)),
    valenceArousal: Float32Array.from({ length: 2 * N }, () => random.next() * 1.6 - 0.8),
  };
  const mix = { mixup: { alpha: 0.4, probability: 0.5 }, cutmix: { probability: 0.5 } };
  return mixStep(mix, inputs, targets, 5000 + step);
}

/** The pixels the step trains on, mixed by hand: own outside the box, partner inside (mixup: lambda : 1 - lambda). */
function mixedPixels(inputs: StepInputs): StepInputs {
  const x = inputs.x as Float32Array;
  const mix = inputs.mix!;
  const [n, h, w, c] = inputs.shape;
  const per = h * w * c;
  const out = new Float32Array(x.length);
  for (let r = 0; r < n; r++)
    for (let i = 0; i < per; i++) {
      const y = Math.floor(i / (w * c));
      const col = Math.floor(i / c) % w;
      const box = mix.box;
      const a = box
        ? y >= box[0] && y < box[2] && col >= box[1] && col < box[3]
          ? 0
          : 1
        : mix.lambda;
      out[r * per + i] = a * x[r * per + i] + (1 - a) * x[mix.partner[r] * per + i];
    }
  return { x: out, shape: inputs.shape };
}

/** Smoothed, class-weighted cross-entropy of one row, in float64. */
function crossEntropy(p: ArrayLike<number>, label: number): number {
  let sum = 0;
  for (let c = 0; c < 3; c++) {
    const t = (c === label ? 1 - SMOOTHING : 0) + SMOOTHING / 3;
    const clipped = Math.min(1 - LOSS_EPSILON, Math.max(LOSS_EPSILON, p[c]));
    sum += WEIGHTS[c] * t * Math.log(clipped);
  }
  return -sum;
}

/** The mixed loss by hand from the model's outputs: per head, mean of lambda L_own + (1 - lambda) L_partner. */
function handLoss(task: Task, outputs: Float32Array[], targets: StepTargets): number {
  const mix = targets.mix!;
  const l = mix.lambda;
  let ce = 0;
  let mse = 0;
  for (let r = 0; r < N; r++) {
    const p = outputs[0].subarray(3 * r, 3 * r + 3);
    ce +=
      l * crossEntropy(p, targets.classes![r]) + (1 - l) * crossEntropy(p, mix.partner.classes![r]);
    if (task.kind === 'classification') continue;
    for (let k = 0; k < 2; k++) {
      const v = outputs[1][2 * r + k];
      mse +=
        (l * (v - targets.valenceArousal![2 * r + k]) ** 2 +
          (1 - l) * (v - mix.partner.valenceArousal![2 * r + k]) ** 2) /
        2;
    }
  }
  if (task.kind === 'classification') return ce / N;
  return (0.7 * ce) / N + (1.6 * mse) / N;
}

let graph: GraphEngineModule;

async function engines(task: Task, mixing: boolean): Promise<TrainingEngine[]> {
  return [
    new EagerEngine(options(task, mixing)),
    await graph.createGraphEngine(options(task, mixing)),
  ];
}

describe('mixed batches in both engines', () => {
  before(async () => {
    await activateBackend();
    const m = await loadGraphModule();
    if (m instanceof Error) throw m;
    graph = m;
  });

  for (const task of [classification, multiTask]) {
    it(`the step's loss is lambda L(own) + (1 - lambda) L(partner) to 1e-5: ${task.kind}`, async () => {
      for (const engine of await engines(task, true)) {
        try {
          let checked = 0;
          for (let step = 0; checked < 4; step++) {
            const { inputs, targets } = mixedBatch(step);
            // a CutMix box clipped to nothing leaves lambda 1: nothing mixed to check
            if (!(targets.mix!.lambda > 0 && targets.mix!.lambda < 1)) continue;
            checked++;
            const expected = handLoss(task, await engine.predict(mixedPixels(inputs)), targets);
            const { loss } = await engine.trainStep(inputs, targets, 100 + step);
            assert.ok(
              Math.abs(loss - expected) < 1e-5 * Math.max(1, expected),
              `${engine.kind} step ${step}: ${loss} vs ${expected}`,
            );
          }
        } finally {
          engine.dispose();
        }
      }
    });
  }

  for (const task of [classification, multiTask]) {
    it(`graph agrees with eager for 20 mixed steps: ${task.kind}`, async (ctx) => {
      const [eager, compiled] = await engines(task, true);
      try {
        const losses: [number, number][] = [];
        for (let step = 0; step < 20; step++) {
          const { inputs, targets } = mixedBatch(step);
          const e = await eager.trainStep(inputs, targets, 100 + step);
          const g = await compiled.trainStep(inputs, targets, 100 + step);
          losses.push([e.loss, g.loss]);
        }
        const scale = Math.max(...losses.map(([e]) => Math.abs(e)));
        const worst = Math.max(...losses.map(([e, g]) => Math.abs(e - g))) / scale;
        ctx.diagnostic(`largest loss difference ${worst.toExponential(2)} of the loss scale`);
        assert.ok(worst < 1e-4, JSON.stringify(losses));
        assert.ok(Math.abs(losses[19][0] - losses[0][0]) > 1e-3, 'the losses move');
        await compiled.syncToModel();
        const probe = mixedBatch(99).inputs;
        const [pe, pg] = [await eager.predict(probe), await compiled.predict(probe)];
        pe.forEach((p, i) =>
          p.forEach((v, k) => assert.ok(Math.abs(v - pg[i][k]) < 1e-4, `output ${i}[${k}]`)),
        );
      } finally {
        eager.dispose();
        compiled.dispose();
      }
    });
  }

  it('an unmixed step of a mixing engine is a plain step; a plain engine refuses a mixed batch', async () => {
    const mixingEngines = await engines(classification, true);
    const plainEngines = await engines(classification, false);
    try {
      for (let e = 0; e < 2; e++) {
        for (let step = 0; step < 3; step++) {
          const { inputs, targets } = mixedBatch(step);
          const plainTargets = { classes: targets.classes, valenceArousal: targets.valenceArousal };
          const plainInputs = { x: inputs.x, shape: inputs.shape };
          const a = await mixingEngines[e].trainStep(plainInputs, plainTargets, step);
          const b = await plainEngines[e].trainStep(plainInputs, plainTargets, step);
          assert.ok(Math.abs(a.loss - b.loss) <= 1e-7 * b.loss, `${a.loss} vs ${b.loss}`);
          assert.equal(a.accuracy, b.accuracy);
        }
        await assert.rejects(
          plainEngines[e].trainStep(mixedBatch(0).inputs, mixedBatch(0).targets, 0),
          /built without mixing/,
        );
      }
    } finally {
      [...mixingEngines, ...plainEngines].forEach((engine) => engine.dispose());
    }
  });
});
