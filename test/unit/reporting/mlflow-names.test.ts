/**
 * How affectlab's metrics, sweep children and evaluation tables are named in MLflow: Keras'
 * names per epoch at 1-based steps, the final evaluation in sections of its own, the weighted
 * objective apart from the plain cross-entropy, plugin references without JSON, MLflow's table
 * format, and nvidia-smi rows as MLflow's GPU metric names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combinationLabel } from '../../../src/core/sweep/launch.js';
import { crossEntropy } from '../../../src/core/runner/scoring.js';
import {
  affectlabEvaluationMetrics,
  epochMetricName,
  epochStep,
  evaluationMetricName,
  isWeightedLoss,
} from '../../../src/plugins/reporters/mlflow/metric-names.js';
import { sourceNameOf } from '../../../src/plugins/reporters/mlflow/mapping.js';
import { parseNvidiaSmi } from '../../../src/plugins/reporters/mlflow/system-metrics.js';
import {
  evaluationTables,
  loggedArtifactsTag,
} from '../../../src/plugins/reporters/mlflow/tables.js';

describe('MLflow metric names', () => {
  it('per epoch: Keras names; per-class validation metrics in their own section', () => {
    assert.equal(epochMetricName('loss', false), 'loss');
    assert.equal(epochMetricName('accuracy', false), 'accuracy');
    assert.equal(epochMetricName('val_loss', false), 'val_loss');
    assert.equal(epochMetricName('val_accuracy', false), 'val_accuracy');
    assert.equal(epochMetricName('val_f1_macro', false), 'val_f1_macro');
    assert.equal(epochMetricName('val_auc_roc', false), 'val_auc_roc');
    assert.equal(epochMetricName('val_recall_happy', false), 'val_class/happy/recall');
    assert.equal(epochMetricName('val_auc_pr_sad', false), 'val_class/sad/auc_pr');
    assert.equal(epochMetricName('val_valence_ccc', false), 'val_valence_ccc');
    assert.equal(epochStep(0), 1);
  });

  it('the weighted objective and the plain cross-entropy: like with like across strategies', () => {
    assert.equal(epochMetricName('loss', true), 'loss_weighted');
    assert.equal(epochMetricName('val_loss', true), 'val_loss_weighted');
    assert.equal(epochMetricName('val_cross_entropy', true), 'val_loss');
    // unweighted: the objective is the loss; the same number again is not logged
    assert.equal(epochMetricName('val_cross_entropy', false), undefined);
    assert.equal(evaluationMetricName('test_loss', true), 'test/loss_weighted');
    assert.equal(evaluationMetricName('test_cross_entropy', true), 'test/loss');
    assert.equal(isWeightedLoss({ params: { 'loss.class_weight.happy': 1.2 } }), true);
    assert.equal(isWeightedLoss({ params: { 'sampler.type': 'weighted' } }), false);
  });

  it('the final evaluation: split, Norm and per-class sections', () => {
    assert.equal(evaluationMetricName('test_accuracy', false), 'test/accuracy');
    assert.equal(evaluationMetricName('test_f1_macro', false), 'test/f1_macro');
    assert.equal(evaluationMetricName('test_norm_f1_macro', false), 'test_norm/f1_macro');
    assert.equal(evaluationMetricName('test_f1_happy', false), 'test_class/happy/f1');
    assert.equal(evaluationMetricName('test_norm_f1_happy', false), 'test_class/happy/norm_f1');
    assert.equal(evaluationMetricName('validation_kappa', false), 'validation/kappa');
    assert.equal(evaluationMetricName('test_arousal_rmse', false), 'test/arousal_rmse');
  });

  it('compare --from mlflow reads the names back as the run store has them', () => {
    const local = {
      test_loss: 1.3,
      test_cross_entropy: 1.1,
      test_accuracy: 0.4,
      test_norm_accuracy: 0.35,
      test_recall_happy: 0.5,
      test_norm_precision_happy: 0.2,
      test_auc_roc_anger: 0.7,
    };
    const mlflow = Object.fromEntries(
      Object.entries(local).map(([k, v]) => [evaluationMetricName(k, true) as string, v]),
    );
    assert.deepEqual(affectlabEvaluationMetrics(mlflow), local);
    // runs logged before these names pass unchanged
    assert.deepEqual(affectlabEvaluationMetrics({ test_accuracy: 0.4, loss: 1 }), {
      test_accuracy: 0.4,
    });
  });

  it('the plain cross-entropy of probabilities', () => {
    const ce = crossEntropy(
      [
        [0.5, 0.5],
        [0.25, 0.75],
      ],
      [0, 1],
    );
    assert.ok(Math.abs(ce - (Math.log(2) + Math.log(4 / 3)) / 2) < 1e-12);
  });
});

describe('MLflow run names and sources', () => {
  it('a swept plugin reference is its type plus the options given, never JSON', () => {
    assert.equal(combinationLabel(['sampler={"type":"weighted"}']), 'sampler=weighted');
    assert.equal(
      combinationLabel(['sampler={"type":"weighted","scheme":"inverse-frequency"}']),
      'sampler=weighted(scheme=inverse-frequency)',
    );
    assert.equal(
      combinationLabel(['training.optimizer={"type":"adam","learningRate":0.01}', 'seed=4']),
      'optimizer=adam(learningRate=0.01),seed=4',
    );
    assert.equal(combinationLabel(['dataset.root=/data/a/b']), 'root=b');
    assert.equal(combinationLabel(['architecture.filters=[8,16]']), 'filters=[8,16]');
    const long = combinationLabel([`x={"type":"t","a":"${'v'.repeat(100)}"}`]);
    assert.ok(long.length <= 62 && !long.includes('{'), long);
  });

  it('mlflow.source.name is the file relative to its repository, else the working directory', () => {
    assert.equal(sourceNameOf('/p/repo/experiments/a.yaml', '/p/repo', '/x'), 'experiments/a.yaml');
    assert.equal(sourceNameOf('/w/exp/a.yaml', undefined, '/w'), 'exp/a.yaml');
    assert.equal(sourceNameOf('/elsewhere/a.yaml', '/p/repo', '/w'), '/elsewhere/a.yaml');
  });
});

describe('MLflow evaluation tables and GPU metrics', () => {
  it("per-class metrics and the confusion matrix in MLflow's table format", () => {
    const tables = evaluationTables(
      JSON.stringify({
        split: 'test',
        report: {
          classNames: ['Neutral', 'Happy'],
          perClass: [
            { name: 'Neutral', support: 3, predicted: 2, precision: 1, recall: 0.667, f1: 0.8 },
            { name: 'Happy', support: 1, predicted: 2, precision: 0.5, recall: 1, f1: null },
          ],
          confusion: [
            [2, 1],
            [0, 1],
          ],
        },
      }),
    );
    assert.deepEqual(
      tables.map((t) => t.path),
      ['tables/test_per_class.json', 'tables/test_confusion_matrix.json'],
    );
    assert.deepEqual(tables[0].table.data[1].slice(0, 6), ['Happy', 1, 2, 0.5, 1, null]);
    assert.deepEqual(tables[1].table, {
      columns: ['actual', 'Neutral', 'Happy'],
      data: [
        ['Neutral', 2, 1],
        ['Happy', 0, 1],
      ],
    });
    assert.deepEqual(evaluationTables('{"split":"test","report":null}'), []);
    assert.deepEqual(evaluationTables('not json'), []);
    const tag = loggedArtifactsTag('[{"path":"x.json","type":"table"}]', ['x.json', 'y.json']);
    assert.deepEqual(JSON.parse(tag), [
      { path: 'x.json', type: 'table' },
      { path: 'y.json', type: 'table' },
    ]);
  });

  it("nvidia-smi rows become MLflow's gpu_<i>_* metrics", () => {
    const metrics = parseNvidiaSmi(
      '0, 87, 40000, 81559, 250.5, 700.00\n1, 3, 1, 81559, [N/A], [N/A]\n',
    );
    assert.equal(metrics.gpu_0_utilization_percentage, 87);
    assert.ok(Math.abs(metrics.gpu_0_memory_usage_megabytes - (40000 * 1048576) / 1e6) < 1e-9);
    assert.ok(Math.abs(metrics.gpu_0_memory_usage_percentage - (40000 / 81559) * 100) < 1e-9);
    assert.equal(metrics.gpu_0_power_usage_watts, 250.5);
    assert.equal(metrics.gpu_1_utilization_percentage, 3);
    assert.equal(metrics.gpu_1_power_usage_watts, undefined);
    assert.deepEqual(parseNvidiaSmi(''), {});
  });
});
