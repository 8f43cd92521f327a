import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/sdk/errors.js';
import {
  flattenClassificationReport,
  scoreClassification,
} from '../../../src/core/metrics/classification.js';
import { epochMetricKeys } from '../../../src/core/metrics/keys.js';
import { flattenRegressionReport, scoreRegression } from '../../../src/core/metrics/regression.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';

/** An AffectNet experiment (nothing is read: validation only builds the dataset plugin). */
function experiment(task: string, training: string): string {
  const dir = tempDir();
  writeFiles(dir, {
    'e.yaml': [
      'name: monitors',
      'dataset:',
      '  type: affectnet',
      '  root: /nonexistent',
      `  task: ${task}`,
      '  classes: report6',
      'architecture: { type: vgg-type }',
      'training:',
      training,
      '',
    ].join('\n'),
  });
  return join(dir, 'e.yaml');
}

async function diagnosticsOf(promise: Promise<unknown>): Promise<ConfigError['diagnostics']> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.diagnostics;
  }
  assert.fail('expected a ConfigError');
}

describe('monitored metric names are checked at validation', () => {
  it('a misspelt checkpoint.monitor is an error at its line with a did-you-mean', async () => {
    const file = experiment('classification', '  checkpoint:\n    monitor: val_los');
    const d = await diagnosticsOf(testRuntime().resolve(file, { allowUnresolvedEnv: true }));
    assert.equal(d.length, 1);
    assert.deepEqual(
      [d[0].file, d[0].line, d[0].col, d[0].path],
      [file, 10, 14, '$.training.checkpoint.monitor'],
    );
    assert.match(d[0].message, /'val_los' is not a metric this classification task logs/);
    assert.match(d[0].message, /did you mean 'val_loss'\?/);
  });

  it('earlyStopping and reduce-on-plateau monitors are checked too', async () => {
    const file = experiment(
      'classification',
      [
        '  earlyStopping: { monitor: val_acuracy }',
        '  learningRate: { schedule: reduce-on-plateau, monitor: val_f1_makro }',
      ].join('\n'),
    );
    const d = await diagnosticsOf(testRuntime().resolve(file, { allowUnresolvedEnv: true }));
    assert.deepEqual(
      d.map((x) => [x.path, x.line]),
      [
        ['$.training.earlyStopping.monitor', 9],
        ['$.training.learningRate.monitor', 10],
      ],
    );
    assert.match(d[0].message, /did you mean 'val_accuracy'/);
    assert.match(d[1].message, /did you mean 'val_f1_macro'/);
  });

  it('val_valence_rmse is accepted for valence-arousal and rejected for classification', async () => {
    const training =
      '  checkpoint: { monitor: val_valence_rmse }\n  earlyStopping: { monitor: val_arousal_ccc }';
    const va = await testRuntime().resolve(experiment('valence-arousal', training), {
      allowUnresolvedEnv: true,
    });
    assert.equal(va.config.training.checkpoint?.monitor, 'val_valence_rmse');
    const multi = await testRuntime().resolve(experiment('expression+valence-arousal', training), {
      allowUnresolvedEnv: true,
    });
    assert.equal(multi.config.training.earlyStopping?.monitor, 'val_arousal_ccc');

    const d = await diagnosticsOf(
      testRuntime().resolve(experiment('classification', training), { allowUnresolvedEnv: true }),
    );
    assert.equal(d.length, 2);
    assert.match(
      d[0].message,
      /'val_valence_rmse' is not a metric this classification task logs \(only valence-arousal and expression\+valence-arousal tasks log it\)/,
    );
  });

  it('classification keys, per-class keys included, are accepted; valence-arousal has no accuracy', async () => {
    const ok = await testRuntime().resolve(
      experiment(
        'classification',
        '  checkpoint: { monitor: val_recall_happy }\n  earlyStopping: { monitor: accuracy }',
      ),
      { allowUnresolvedEnv: true },
    );
    assert.equal(ok.config.training.checkpoint?.monitor, 'val_recall_happy');
    const d = await diagnosticsOf(
      testRuntime().resolve(
        experiment('valence-arousal', '  checkpoint: { monitor: val_accuracy }'),
        { allowUnresolvedEnv: true },
      ),
    );
    assert.match(d[0].message, /not a metric this valence-arousal task logs/);
  });

  it('a monitor set with --set is blamed on the flag', async () => {
    const d = await diagnosticsOf(
      testRuntime().resolve(experiment('classification', '  epochs: 1'), {
        allowUnresolvedEnv: true,
        overrides: ['training.checkpoint.monitor=val_los'],
      }),
    );
    assert.equal(d[0].file, '--set training.checkpoint.monitor=val_los');
    assert.match(d[0].message, /did you mean 'val_loss'/);
  });

  it('epochMetricKeys lists exactly what the scorers produce, prefixed as the runner logs', () => {
    const classNames = ['Neutral', 'Happy', 'Sad'];
    const labels = [0, 1, 2, 0, 1, 2];
    const scores = labels.map((l, i) =>
      [0, 1, 2].map((c) => (c === l ? 0.6 : 0.2) + (c === i % 3 ? 0.1 : 0)),
    );
    const classification = Object.keys(
      flattenClassificationReport(
        scoreClassification({ labels, scores, classNames, normalized: false }),
      ),
    );
    const regression = Object.keys(
      flattenRegressionReport(
        scoreRegression({
          valence: [0.1, -0.4, 0.5, 0.2],
          arousal: [0.3, 0.1, -0.2, 0.6],
          predValence: [0.2, -0.3, 0.4, 0.1],
          predArousal: [0.2, 0.2, -0.1, 0.5],
        }),
      ),
    );
    const classes = classNames.map((name, index) => ({ index, code: index, name }));
    const val = (keys: string[]) => ['loss', ...keys].map((k) => `val_${k}`);
    assert.deepEqual(
      new Set(epochMetricKeys({ kind: 'classification', classes })),
      new Set(['loss', 'accuracy', ...val(['cross_entropy', ...classification])]),
    );
    assert.deepEqual(
      new Set(epochMetricKeys({ kind: 'valence-arousal', classes: [] })),
      new Set(['loss', ...val(regression)]),
    );
    assert.deepEqual(
      new Set(epochMetricKeys({ kind: 'expression+valence-arousal', classes })),
      new Set(['loss', ...val([...classification, ...regression])]),
    );
  });
});
