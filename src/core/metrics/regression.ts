/**
 * Valence/arousal regression metrics (the AffectNet paper's second baseline), one definition
 * each. Correlations of a constant series are undefined and reported as null, never a number.
 */
import { UserError } from '../../sdk/errors.js';
import {
  REGRESSION_METRICS,
  REGRESSION_TARGETS,
  type RegressionMetric,
  type RegressionMetricKey,
} from './keys.js';

export type RegressionValues = Record<RegressionMetric, number | null>;
export type RegressionReport = Record<RegressionMetricKey, number | null>;

export interface RegressionInput {
  valence: ArrayLike<number>;
  arousal: ArrayLike<number>;
  predValence: ArrayLike<number>;
  predArousal: ArrayLike<number>;
}

function checkPair(truth: ArrayLike<number>, predicted: ArrayLike<number>, what: string): void {
  if (truth.length !== predicted.length) {
    throw new UserError(`${what}: ${predicted.length} predictions for ${truth.length} labels`);
  }
  if (truth.length === 0) throw new UserError(`${what}: there are no examples to score`);
  for (let i = 0; i < truth.length; i++) {
    if (!Number.isFinite(truth[i]) || !Number.isFinite(predicted[i])) {
      throw new UserError(
        `${what}: example ${i} is not a finite number (label ${truth[i]}, prediction ${predicted[i]})`,
      );
    }
  }
}

interface Moments {
  meanTruth: number;
  meanPredicted: number;
  /** Population (1/n) variances and covariance. */
  varTruth: number;
  varPredicted: number;
  covariance: number;
}

function moments(truth: ArrayLike<number>, predicted: ArrayLike<number>): Moments {
  const n = truth.length;
  let meanTruth = 0;
  let meanPredicted = 0;
  for (let i = 0; i < n; i++) {
    meanTruth += truth[i];
    meanPredicted += predicted[i];
  }
  meanTruth /= n;
  meanPredicted /= n;
  let varTruth = 0;
  let varPredicted = 0;
  let covariance = 0;
  for (let i = 0; i < n; i++) {
    const dt = truth[i] - meanTruth;
    const dp = predicted[i] - meanPredicted;
    varTruth += dt * dt;
    varPredicted += dp * dp;
    covariance += dt * dp;
  }
  // A constant series has exactly zero spread; summing rounding errors of its mean would not.
  const truthConstant = isConstant(truth);
  const predictedConstant = isConstant(predicted);
  return {
    meanTruth,
    meanPredicted,
    varTruth: truthConstant ? 0 : varTruth / n,
    varPredicted: predictedConstant ? 0 : varPredicted / n,
    covariance: truthConstant || predictedConstant ? 0 : covariance / n,
  };
}

function isConstant(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (values[i] !== values[0]) return false;
  return true;
}

/** Root mean squared error. */
export function rmse(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  checkPair(truth, predicted, 'rmse');
  let sum = 0;
  for (let i = 0; i < truth.length; i++) sum += (truth[i] - predicted[i]) ** 2;
  return Math.sqrt(sum / truth.length);
}

/** Pearson correlation; undefined (null) when either series is constant. */
export function pearsonCorrelation(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
): number | null {
  checkPair(truth, predicted, 'corr');
  const m = moments(truth, predicted);
  if (m.varTruth === 0 || m.varPredicted === 0) return null;
  // Clamp the last-bit rounding that can push |r| just past 1.
  return Math.max(-1, Math.min(1, m.covariance / Math.sqrt(m.varTruth * m.varPredicted)));
}

/**
 * Sign agreement (AffectNet paper, eq. 3): the fraction of examples whose prediction has the same
 * sign as the label, sign() being three-valued (-1, 0, +1), so 0 agrees only with 0.
 */
export function signAgreement(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  checkPair(truth, predicted, 'sagr');
  let agree = 0;
  for (let i = 0; i < truth.length; i++)
    if (Math.sign(truth[i]) === Math.sign(predicted[i])) agree++;
  return agree / truth.length;
}

/**
 * Lin's concordance correlation coefficient with population moments:
 *   CCC = 2 cov / (var_y + var_p + (mean_y - mean_p)^2).
 * Unlike Pearson's r it stays defined for constant predictions (cov = 0 gives CCC = 0: no
 * concordance); it is undefined only when the denominator is 0, i.e. labels and predictions are
 * the same constant.
 */
export function concordanceCorrelation(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
): number | null {
  checkPair(truth, predicted, 'ccc');
  const m = moments(truth, predicted);
  const denominator = m.varTruth + m.varPredicted + (m.meanTruth - m.meanPredicted) ** 2;
  return denominator === 0 ? null : (2 * m.covariance) / denominator;
}

export function regressionMetrics(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
): RegressionValues {
  return {
    rmse: rmse(truth, predicted),
    corr: pearsonCorrelation(truth, predicted),
    sagr: signAgreement(truth, predicted),
    ccc: concordanceCorrelation(truth, predicted),
  };
}

/** RMSE, CORR, SAGR and CCC for valence and for arousal: `valence_rmse`, ..., `arousal_ccc`. */
export function scoreRegression(input: RegressionInput): RegressionReport {
  checkPair(input.valence, input.predValence, 'valence');
  checkPair(input.arousal, input.predArousal, 'arousal');
  const byTarget = {
    valence: regressionMetrics(input.valence, input.predValence),
    arousal: regressionMetrics(input.arousal, input.predArousal),
  };
  const report = {} as RegressionReport;
  for (const target of REGRESSION_TARGETS) {
    for (const metric of REGRESSION_METRICS)
      report[`${target}_${metric}`] = byTarget[target][metric];
  }
  return report;
}

/** The regression report as flat numbers for run stores and MLflow; undefined values left out. */
export function flattenRegressionReport(report: RegressionReport): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [key, value] of Object.entries(report)) if (value !== null) flat[key] = value;
  return flat;
}
