import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {
  LOSS_EPSILON,
  NonFiniteLossError,
  assertFiniteLoss,
} from '../../../src/core/training/loss.js';
import { crossEntropyLoss as makeClassificationLoss } from '../../../src/plugins/losses/cross-entropy.js';
import { MeanSquaredError } from '../../../src/plugins/losses/mse.js';
import { ConcordanceLoss } from '../../../src/plugins/losses/ccc.js';

const makeRegressionLoss = (kind: 'mse' | 'ccc') =>
  (kind === 'mse' ? new MeanSquaredError() : new ConcordanceLoss()).tfjs();
import { concordanceCorrelation } from '../../../src/core/metrics/index.js';
import { activateBackend } from '../../support/helpers.js';

const value = (t: tf.Scalar): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

/**
 * The report's Appendix B Keras loss, transcribed literally in plain arithmetic (Keras then
 * averages the per-sample losses over the batch).
 */
function keras(yTrue: number[][], yPred: number[][], weights: number[]): number {
  const eps = LOSS_EPSILON;
  const perSample = yPred.map((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    const clipped = row.map((p) => Math.min(Math.max(p / sum, eps), 1 - eps));
    return -clipped.reduce((acc, p, c) => acc + yTrue[i][c] * Math.log(p) * weights[c], 0);
  });
  return perSample.reduce((a, b) => a + b, 0) / perSample.length;
}

const Y_TRUE = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
];
const Y_PRED = [
  [0.7, 0.2, 0.1],
  [0.3, 0.5, 0.2],
  [0.25, 0.25, 0.5],
];

describe('classification loss', () => {
  before(async () => {
    await activateBackend();
  });

  it('is plain cross-entropy without weights (hand-computed)', () => {
    const loss = makeClassificationLoss();
    const expected = -(Math.log(0.7) + Math.log(0.5) + Math.log(0.5)) / 3;
    const actual = value(loss(tf.tensor2d(Y_TRUE), tf.tensor2d(Y_PRED)));
    assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} != ${expected}`);
  });

  it("equals the report's Keras weighted loss (mean over the batch, not over the weights)", () => {
    const weights = [2, 0.5, 1.25];
    const loss = makeClassificationLoss(weights);
    const actual = value(loss(tf.tensor2d(Y_TRUE), tf.tensor2d(Y_PRED)));
    const expected = keras(Y_TRUE, Y_PRED, weights);
    assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} != ${expected}`);
    const byHand = -(2 * Math.log(0.7) + 0.5 * Math.log(0.5) + 1.25 * Math.log(0.5)) / 3;
    assert.ok(Math.abs(actual - byHand) < 1e-6);
  });

  it('accepts integer class targets as well as one-hot rows', () => {
    const loss = makeClassificationLoss([2, 0.5, 1.25]);
    const oneHot = value(loss(tf.tensor2d(Y_TRUE), tf.tensor2d(Y_PRED)));
    const sparse = value(loss(tf.tensor1d([0, 1, 2], 'int32'), tf.tensor2d(Y_PRED)));
    assert.ok(Math.abs(oneHot - sparse) < 1e-7);
  });

  it('stays finite, with finite gradients, at p = 0 and p = 1', () => {
    const loss = makeClassificationLoss([1, 3, 1]);
    const yTrue = tf.tensor2d([
      [0, 1, 0],
      [1, 0, 0],
    ]);
    const extremes = tf.tensor2d([
      [1, 0, 0],
      [1, 0, 0],
    ]);
    const actual = value(loss(yTrue, extremes));
    const expected = (3 * -Math.log(LOSS_EPSILON) + -Math.log(1 - LOSS_EPSILON)) / 2;
    assert.ok(Number.isFinite(actual));
    assert.ok(Math.abs(actual - expected) < 1e-4, `${actual} != ${expected}`);
    const gradient = tf.grad((p: tf.Tensor) => loss(yTrue, p))(extremes);
    assert.ok(Array.from(gradient.dataSync()).every(Number.isFinite));
  });

  it('rejects weights that do not fit the model', () => {
    assert.throws(() => makeClassificationLoss([1, -1]), /class weight 1 is -1/);
    const loss = makeClassificationLoss([1, 1]);
    assert.throws(
      () => loss(tf.tensor2d(Y_TRUE), tf.tensor2d(Y_PRED)),
      /2 class weights for a model with 3 classes/,
    );
  });
});

describe('regression losses', () => {
  const truth = [
    [0.5, -0.3],
    [-0.2, 0.4],
    [0.1, 0.0],
    [-0.7, 0.9],
  ];
  const predicted = [
    [0.4, -0.1],
    [-0.1, 0.2],
    [-0.05, 0.1],
    [-0.5, 0.6],
  ];

  it('mse is the mean squared error over both outputs', () => {
    const expected =
      truth.flat().reduce((acc, t, i) => acc + (t - predicted.flat()[i]) ** 2, 0) / 8;
    const actual = value(makeRegressionLoss('mse')(tf.tensor2d(truth), tf.tensor2d(predicted)));
    assert.ok(Math.abs(actual - expected) < 1e-6);
  });

  it('ccc is 1 - CCC per output, averaged, agreeing with the metric definition', () => {
    const column = (rows: number[][], c: number): number[] => rows.map((r) => r[c]);
    const cccValence = concordanceCorrelation(column(truth, 0), column(predicted, 0)) as number;
    const cccArousal = concordanceCorrelation(column(truth, 1), column(predicted, 1)) as number;
    const expected = 1 - (cccValence + cccArousal) / 2;
    const actual = value(makeRegressionLoss('ccc')(tf.tensor2d(truth), tf.tensor2d(predicted)));
    assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} != ${expected}`);
    const perfect = value(makeRegressionLoss('ccc')(tf.tensor2d(truth), tf.tensor2d(truth)));
    assert.ok(Math.abs(perfect) < 1e-5);
    // A constant batch of predictions stays finite: CCC 0, loss 1.
    const constant = value(
      makeRegressionLoss('ccc')(tf.tensor2d(truth), tf.zeros([4, 2]) as tf.Tensor2D),
    );
    assert.ok(Math.abs(constant - 1) < 1e-6);
  });
});

describe('assertFiniteLoss', () => {
  it('passes finite values and stops NaN/Infinity with the context in the message', () => {
    assertFiniteLoss(0.42, 'epoch 1 step 1');
    assert.throws(
      () => assertFiniteLoss(NaN, 'epoch 3 step 17'),
      (e: unknown) =>
        e instanceof NonFiniteLossError &&
        /^loss became NaN at epoch 3 step 17; training stopped/.test(e.message),
    );
    assert.throws(
      () => assertFiniteLoss(Infinity, 'epoch 1 step 2'),
      /loss became Infinity at epoch 1 step 2/,
    );
  });
});
