import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  REGRESSION_METRIC_KEYS,
  concordanceCorrelation,
  flattenRegressionReport,
  formatRegressionTable,
  pearsonCorrelation,
  rmse,
  scoreRegression,
  signAgreement,
} from '../../../src/core/metrics/index.js';

const close = (actual: number | null, expected: number, what: string): void => {
  assert.ok(actual !== null, `${what} is undefined`);
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);
};

// Expected values from numpy 2.x: sqrt(mean((y-p)^2)), corrcoef, mean(sign(y)==sign(p)),
// 2 cov_pop / (var_y + var_p + (mean_y - mean_p)^2).
const TRUTH = [0.5, -0.2, 0.1, -0.7, 0.3, 0.0];
const PREDICTED = [0.4, -0.1, -0.05, -0.5, 0.2, 0.0];

describe('regression metrics', () => {
  it('match numpy on a hand-worked example', () => {
    close(rmse(TRUTH, PREDICTED), 0.12416387021459449, 'rmse');
    close(pearsonCorrelation(TRUTH, PREDICTED), 0.9801183699012849, 'corr');
    close(signAgreement(TRUTH, PREDICTED), 5 / 6, 'sagr (0.1 vs -0.05 disagrees; 0 agrees with 0)');
    close(concordanceCorrelation(TRUTH, PREDICTED), 0.9310986964618249, 'ccc');
  });

  it('perfect predictions: rmse 0, corr = ccc = sagr = 1', () => {
    close(rmse(TRUTH, TRUTH), 0, 'rmse');
    close(pearsonCorrelation(TRUTH, TRUTH), 1, 'corr');
    close(concordanceCorrelation(TRUTH, TRUTH), 1, 'ccc');
    close(signAgreement(TRUTH, TRUTH), 1, 'sagr');
    // A shifted copy correlates perfectly but is not concordant.
    const shifted = TRUTH.map((v) => v + 0.5);
    close(pearsonCorrelation(TRUTH, shifted), 1, 'corr of shifted');
    assert.ok((concordanceCorrelation(TRUTH, shifted) as number) < 0.6);
  });

  it('constant predictions: correlation undefined (null), CCC 0, RMSE and SAGR as usual', () => {
    const constant = TRUTH.map(() => 0.1);
    assert.equal(pearsonCorrelation(TRUTH, constant), null);
    close(concordanceCorrelation(TRUTH, constant), 0, 'ccc');
    close(rmse(TRUTH, constant), 0.3958114029012639, 'rmse');
    close(signAgreement(TRUTH, constant), 0.5, 'sagr');
    // Labels and predictions the same constant: CCC undefined too.
    assert.equal(concordanceCorrelation([0.2, 0.2], [0.2, 0.2]), null);
  });

  it('scores valence and arousal separately under stable keys', () => {
    const report = scoreRegression({
      valence: TRUTH,
      arousal: TRUTH,
      predValence: PREDICTED,
      predArousal: TRUTH.map(() => 0),
    });
    assert.deepEqual(Object.keys(report).sort(), [...REGRESSION_METRIC_KEYS].sort());
    close(report.valence_ccc, 0.9310986964618249, 'valence_ccc');
    assert.equal(report.arousal_corr, null);
    const flat = flattenRegressionReport(report);
    assert.equal('arousal_corr' in flat, false);
    assert.equal(flat.valence_rmse, report.valence_rmse);
    const table = formatRegressionTable(report);
    assert.match(table, /CORR \(Pearson\)\s+0\.9801\s+undefined/);
  });

  it('rejects mismatched or non-finite input naming the target', () => {
    assert.throws(
      () =>
        scoreRegression({
          valence: [0.1],
          arousal: [0.1, 0.2],
          predValence: [0.1],
          predArousal: [0.1],
        }),
      /arousal: 1 predictions for 2 labels/,
    );
    assert.throws(() => rmse([0.1, NaN], [0.1, 0.2]), /example 1 is not a finite number/);
    assert.throws(() => rmse([], []), /no examples/);
  });
});
