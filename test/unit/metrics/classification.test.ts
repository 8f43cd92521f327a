import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  METRIC_KEYS,
  NORM_METRIC_KEYS,
  averagePrecision,
  balanceConfusionRows,
  cohenKappa,
  confusionMatrix,
  flattenClassificationReport,
  formatConfusionMatrix,
  formatMetricTable,
  formatPerClassTable,
  fromConfusion,
  krippendorffAlphaNominal,
  rocAuc,
  scoreClassification,
} from '../../../src/core/metrics/index.js';
import { UserError } from '../../../src/sdk/errors.js';

const close = (
  actual: number | null | undefined,
  expected: number,
  what: string,
  tolerance = 1e-9,
): void => {
  assert.ok(actual !== null && actual !== undefined, `${what} is undefined; expected ${expected}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} != ${expected}`);
};
const closeAll = (
  actual: readonly (number | null)[],
  expected: readonly (number | null)[],
  what: string,
): void => {
  assert.equal(actual.length, expected.length, `${what}: length`);
  expected.forEach((e, i) => {
    if (e === null) assert.equal(actual[i], null, `${what}[${i}] should be undefined`);
    else close(actual[i], e, `${what}[${i}]`);
  });
};

// The report's Table 5 (VGG-type CNN), rows actual, columns predicted.
const TABLE5_CLASSES = ['Neutral', 'Happy', 'Sad', 'Surprise', 'Fear', 'Anger'];
const TABLE5 = [
  [561, 130, 27, 13, 10, 58],
  [266, 1126, 15, 11, 2, 23],
  [137, 46, 55, 4, 8, 22],
  [73, 24, 3, 33, 11, 4],
  [30, 5, 5, 8, 16, 5],
  [90, 39, 19, 6, 7, 108],
];

describe("the report's Table 5 confusion matrix", () => {
  const { labels, predictions } = fromConfusion(TABLE5);
  const report = scoreClassification({
    labels,
    predictions,
    classNames: TABLE5_CLASSES,
    normalized: true,
  });

  it('round-trips through fromConfusion', () => {
    // 3000 cells, not Table 3's 3006 test images: the published matrix sums to 3000.
    assert.equal(labels.length, 3000);
    assert.deepEqual(report.confusion, TABLE5);
  });

  it('gives the Table 6 recalls (rounded to whole percent)', () => {
    const table6: Record<string, number> = {
      Happy: 78,
      Neutral: 70,
      Anger: 40,
      Fear: 23,
      Surprise: 22,
      Sad: 20,
    };
    for (const cls of report.perClass) {
      assert.equal(
        Math.round((cls.recall as number) * 100),
        table6[cls.name],
        `recall of ${cls.name}`,
      );
    }
    close(report.perClass[1].recall, 1126 / 1443, 'Happy recall');
  });

  it('gives the Table 7 accuracy 0.633 and weighted F1 0.6232 (62%)', () => {
    close(report.orig.accuracy, 1899 / 3000, 'accuracy');
    assert.equal(report.orig.accuracy?.toFixed(3), '0.633');
    // scikit-learn 1.9.1 f1_score(average='weighted') on the expanded matrix: 0.6232247993944986
    close(report.orig.f1_weighted, 0.6232247993944986, 'f1_weighted', 1e-12);
    assert.equal(Math.round((report.orig.f1_weighted as number) * 100), 62);
    // scikit-learn: f1_score(average='macro') 0.4416351193413797, cohen_kappa_score 0.44866500314726654;
    // krippendorff 0.2.x alpha(level_of_measurement='nominal'): 0.4449734667210078
    close(report.orig.f1_macro, 0.4416351193413797, 'f1_macro', 1e-12);
    close(report.orig.kappa, 0.44866500314726654, 'kappa', 1e-12);
    close(report.orig.alpha, 0.4449734667210078, 'alpha', 1e-12);
  });

  it('gives skew-normalised values matching sample-weighted scikit-learn', () => {
    // norm accuracy: sklearn balanced_accuracy_score; norm kappa: cohen_kappa_score with each
    // example weighted N/(K n_c); norm precision/F1: precision_score/f1_score one-vs-rest with
    // negatives weighted P/N. All from scikit-learn 1.9.1.
    close(report.norm?.accuracy, 0.42349939033962675, 'norm accuracy', 1e-12);
    close(report.norm?.kappa, 0.3081992684075523, 'norm kappa', 1e-12);
    closeAll(
      report.perClass.map((c) => c.normPrecision),
      [
        0.7216751949922954, 0.8327571613006206, 0.8888204350504709, 0.9380456883147936,
        0.9470495577365813, 0.9073201343685785,
      ],
      'norm precision',
    );
    closeAll(
      report.perClass.map((c) => c.normF1),
      [
        0.7117672422240929, 0.8056856291036937, 0.3294599176130624, 0.3603022808884669,
        0.3725497205638771, 0.5566553271398442,
      ],
      'norm F1',
    );
    // Alpha of the row-balanced matrix, from the textbook coincidence-matrix formula (Python).
    close(report.norm?.alpha, 0.28334786309313975, 'norm alpha', 1e-12);
    // Norm accuracy of a balanced test set is the mean per-class recall.
    const meanRecall = report.perClass.reduce((s, c) => s + (c.recall as number), 0) / 6;
    close(report.norm?.accuracy, meanRecall, 'norm accuracy = mean recall', 1e-12);
    assert.equal(report.norm?.f1_weighted, report.norm?.f1_macro);
  });

  it('has no AUCs without scores, and says so', () => {
    assert.equal(report.orig.auc_roc, null);
    assert.equal(report.norm?.auc_pr, null);
    assert.ok(report.notes.some((n) => n.includes('no per-class scores')));
  });
});

// Example 1: three classes, scores with ties (row 2 ties 0/1 -> argmax takes class 0).
const EX1_LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 0];
const EX1_SCORES = [
  [0.6, 0.3, 0.1],
  [0.4, 0.4, 0.2],
  [0.2, 0.5, 0.3],
  [0.3, 0.6, 0.1],
  [0.5, 0.3, 0.2],
  [0.1, 0.2, 0.7],
  [0.2, 0.2, 0.6],
  [0.3, 0.3, 0.4],
  [0.6, 0.2, 0.2],
  [0.2, 0.2, 0.6],
];

describe('example 1: three classes, tied scores (expected values from scikit-learn 1.9.1)', () => {
  const report = scoreClassification({
    labels: EX1_LABELS,
    scores: EX1_SCORES,
    classNames: ['a', 'b', 'c'],
    normalized: true,
  });

  it('takes the first maximum as the prediction on ties', () => {
    assert.deepEqual(report.confusion, [
      [2, 1, 1],
      [1, 1, 0],
      [1, 0, 3],
    ]);
  });

  it('threshold metrics', () => {
    close(report.orig.accuracy, 0.6, 'accuracy');
    closeAll(
      report.perClass.map((c) => c.precision),
      [0.5, 0.5, 0.75],
      'precision',
    );
    closeAll(
      report.perClass.map((c) => c.recall),
      [0.5, 0.5, 0.75],
      'recall',
    );
    closeAll(
      report.perClass.map((c) => c.f1),
      [0.5, 0.5, 0.75],
      'f1',
    );
    close(report.orig.f1_macro, 0.5833333333333334, 'f1_macro');
    close(report.orig.f1_weighted, 0.6, 'f1_weighted');
    close(report.orig.kappa, 0.375, 'kappa');
    // krippendorff (PyPI) alpha(reliability_data=[labels, predictions], level 'nominal')
    close(report.orig.alpha, 0.40625, 'alpha');
  });

  it('rank metrics with tied scores grouped', () => {
    // roc_auc_score / average_precision_score one-vs-rest per class
    closeAll(
      report.perClass.map((c) => c.aucRoc),
      [0.5208333333333334, 0.8125, 0.8125],
      'auc_roc',
    );
    closeAll(
      report.perClass.map((c) => c.aucPr),
      [0.4722222222222222, 0.6666666666666666, 0.7291666666666666],
      'auc_pr',
    );
    close(report.orig.auc_roc, (0.5208333333333334 + 0.8125 + 0.8125) / 3, 'macro auc_roc');
    close(
      report.orig.auc_pr,
      (0.4722222222222222 + 0.6666666666666666 + 0.7291666666666666) / 3,
      'macro auc_pr',
    );
  });

  it('skew-normalised metrics', () => {
    // average_precision_score / precision_score / f1_score with negatives weighted P/N
    closeAll(
      report.perClass.map((c) => c.normAucPr),
      [0.5727272727272728, 0.8333333333333333, 0.7920454545454546],
      'norm auc_pr',
    );
    closeAll(
      report.perClass.map((c) => c.normPrecision),
      [0.6, 0.8, 0.8181818181818182],
      'norm precision',
    );
    closeAll(
      report.perClass.map((c) => c.normF1),
      [0.5454545454545455, 0.6153846153846154, 0.782608695652174],
      'norm f1',
    );
    close(report.norm?.accuracy, 0.5833333333333334, 'norm accuracy (balanced_accuracy_score)');
    close(report.norm?.kappa, 0.375, 'norm kappa');
    close(report.norm?.alpha, 0.40314136125654443, 'norm alpha');
    assert.equal(report.norm?.auc_roc, report.orig.auc_roc, 'ROC AUC is skew-invariant');
    close(
      report.norm?.f1_macro,
      (0.5454545454545455 + 0.6153846153846154 + 0.782608695652174) / 3,
      'norm f1_macro',
    );
  });

  it('flattens to stable keys', () => {
    const flat = flattenClassificationReport(report);
    for (const key of [...METRIC_KEYS, ...NORM_METRIC_KEYS])
      assert.equal(typeof flat[key], 'number', key);
    close(flat.recall_c, 0.75, 'recall_c');
    close(flat.norm_f1_a, 0.5454545454545455, 'norm_f1_a');
    assert.ok(Object.values(flat).every(Number.isFinite));
  });
});

// Example 2: four classes; class 3 never in the labels (but predicted twice); class 2 never predicted.
const EX2_LABELS = [0, 0, 1, 1, 1, 2, 2, 0, 1, 0];
const EX2_PREDICTIONS = [0, 3, 1, 1, 0, 0, 1, 0, 3, 0];
const EX2_SCORES = [
  [0.5, 0.1, 0.1, 0.3],
  [0.3, 0.1, 0.2, 0.4],
  [0.2, 0.5, 0.2, 0.1],
  [0.1, 0.6, 0.2, 0.1],
  [0.4, 0.3, 0.2, 0.1],
  [0.4, 0.2, 0.3, 0.1],
  [0.2, 0.4, 0.3, 0.1],
  [0.7, 0.1, 0.1, 0.1],
  [0.1, 0.3, 0.2, 0.4],
  [0.6, 0.2, 0.1, 0.1],
];

describe('example 2: a class absent from the labels and a class never predicted (scikit-learn 1.9.1)', () => {
  const classNames = ['w', 'x', 'y', 'z'];
  const report = scoreClassification({
    labels: EX2_LABELS,
    predictions: EX2_PREDICTIONS,
    scores: EX2_SCORES,
    classNames,
    normalized: true,
  });

  it('marks undefined per-class values as null instead of 0', () => {
    closeAll(
      report.perClass.map((c) => c.precision),
      [0.6, 0.6666666666666666, null, 0],
      'precision',
    );
    closeAll(
      report.perClass.map((c) => c.recall),
      [0.75, 0.5, 0, null],
      'recall',
    );
    closeAll(
      report.perClass.map((c) => c.f1),
      [0.6666666666666666, 0.5714285714285714, 0, 0],
      'f1',
    );
    closeAll(
      report.perClass.map((c) => c.aucRoc),
      [0.9166666666666667, 0.9166666666666667, 1, null],
      'auc_roc',
    );
    closeAll(
      report.perClass.map((c) => c.aucPr),
      [0.9166666666666666, 0.9, 1, null],
      'auc_pr',
    );
  });

  it("averages like sklearn's default label set and leaves undefined AUCs out", () => {
    close(report.orig.accuracy, 0.5, 'accuracy');
    close(
      report.orig.f1_macro,
      0.30952380952380953,
      'f1_macro (absent-but-predicted class counts as 0)',
    );
    close(report.orig.f1_weighted, 0.49523809523809526, 'f1_weighted');
    close(report.orig.kappa, 0.2647058823529411, 'kappa');
    close(report.orig.alpha, 0.2748091603053435, 'alpha (krippendorff package)');
    close(
      report.orig.auc_roc,
      (0.9166666666666667 * 2 + 1) / 3,
      'auc_roc over the 3 defined classes',
    );
    close(
      report.orig.auc_pr,
      (0.9166666666666666 + 0.9 + 1) / 3,
      'auc_pr over the 3 defined classes',
    );
    assert.ok(report.notes.some((n) => n.includes("'z' is absent from the labels")));
    assert.ok(report.notes.some((n) => n.includes("'y' is never predicted")));
  });

  it('skew-normalises over the classes present in the labels', () => {
    closeAll(
      report.perClass.map((c) => c.normPrecision),
      [0.6923076923076924, 0.75, null, null],
      'norm precision',
    );
    closeAll(
      report.perClass.map((c) => c.normF1),
      [0.72, 0.6, 0, null],
      'norm f1',
    );
    closeAll(
      report.perClass.map((c) => c.normAucPr),
      [0.9375, 0.9285714285714286, 1, null],
      'norm auc_pr',
    );
    close(report.norm?.accuracy, 0.4166666666666667, 'norm accuracy');
    close(report.norm?.kappa, 0.1923076923076923, 'norm kappa');
    close(report.norm?.alpha, 0.1857142857142856, 'norm alpha');
    close(report.norm?.f1_macro, (0.72 + 0.6 + 0) / 3, 'norm f1_macro');
  });

  it('leaves undefined metrics out of the flat record', () => {
    const flat = flattenClassificationReport(report);
    assert.equal('recall_z' in flat, false);
    assert.equal('precision_y' in flat, false);
    assert.equal(flat.precision_z, 0);
  });
});

describe('metric building blocks', () => {
  it('ROC AUC and AP group tied scores (scikit-learn: 0.7777..., 0.7333...)', () => {
    const positive = [true, false, true, false, true, false];
    const scores = [0.5, 0.5, 0.5, 0.2, 0.8, 0.5];
    close(rocAuc(positive, scores), 0.7777777777777778, 'auc');
    close(averagePrecision(positive, scores), 0.7333333333333334, 'ap');
    // Hand-worked: all scores tied -> one threshold: AUC 0.5, AP = prevalence.
    close(rocAuc([true, false, false], [1, 1, 1]), 0.5, 'all tied auc');
    close(averagePrecision([true, false, false], [1, 1, 1]), 1 / 3, 'all tied ap');
    // A perfect ranking.
    close(rocAuc([false, false, true], [0.1, 0.2, 0.9]), 1, 'perfect auc');
    assert.equal(rocAuc([true, true], [0.1, 0.2]), null, 'no negatives');
    assert.equal(averagePrecision([false, false], [0.1, 0.2]), null, 'no positives');
  });

  it('kappa and alpha are undefined when everything falls in one class', () => {
    const oneClass = [
      [5, 0],
      [0, 0],
    ];
    assert.equal(cohenKappa(oneClass), null);
    assert.equal(krippendorffAlphaNominal(oneClass), null);
    // Perfect agreement over two classes: kappa = alpha = 1.
    assert.equal(
      cohenKappa([
        [3, 0],
        [0, 2],
      ]),
      1,
    );
    close(
      krippendorffAlphaNominal([
        [3, 0],
        [0, 2],
      ]),
      1,
      'alpha',
    );
  });

  it('balances confusion rows to equal class totals, keeping N', () => {
    const balanced = balanceConfusionRows([
      [3, 1],
      [0, 0],
      [1, 3],
    ]);
    assert.deepEqual(balanced, [
      [3, 1],
      [0, 0],
      [1, 3],
    ]);
    const skewed = balanceConfusionRows([
      [6, 2],
      [1, 1],
    ]);
    assert.deepEqual(skewed, [
      [3.75, 1.25],
      [2.5, 2.5],
    ]);
  });

  it('rejects bad input with a clear error', () => {
    assert.throws(() => confusionMatrix([0, 1], [0], 2), /1 predictions for 2 labels/);
    assert.throws(
      () => confusionMatrix([0, 2], [0, 1], 2),
      /labels\[1\] = 2 is not a class index in 0..1/,
    );
    assert.throws(
      () =>
        scoreClassification({
          labels: [0, 1],
          scores: [[0.5, 0.5], [0.1]],
          classNames: ['a', 'b'],
          normalized: false,
        }),
      (e: unknown) => e instanceof UserError && /score row 1 has 1 values/.test(e.message),
    );
    assert.throws(
      () =>
        scoreClassification({
          labels: [0, 1],
          scores: [
            [0.5, NaN],
            [0.1, 0.9],
          ],
          classNames: ['a', 'b'],
          normalized: false,
        }),
      /score row 0, class 1 is NaN/,
    );
    assert.throws(
      () => scoreClassification({ labels: [0], classNames: ['a', 'b'], normalized: false }),
      /predictions or per-class scores/,
    );
    assert.throws(
      () =>
        scoreClassification({
          labels: [0],
          predictions: [0],
          classNames: ['Fear!', 'fear'],
          normalized: false,
        }),
      /both map to the metric key suffix 'fear'/,
    );
    assert.throws(() => fromConfusion([[1, 2]]), /row 0 has 2 columns; expected 1/);
  });

  it('accepts Float32Array score rows', () => {
    const report = scoreClassification({
      labels: [0, 1, 1],
      scores: [Float32Array.of(0.9, 0.1), Float32Array.of(0.2, 0.8), Float32Array.of(0.6, 0.4)],
      classNames: ['a', 'b'],
      normalized: false,
    });
    assert.equal(report.norm, undefined);
    close(report.orig.accuracy, 2 / 3, 'accuracy');
    close(report.orig.auc_roc, 1, 'auc');
  });
});

describe('metric tables', () => {
  const { labels, predictions } = fromConfusion(TABLE5);
  const report = scoreClassification({
    labels,
    predictions,
    classNames: TABLE5_CLASSES,
    normalized: true,
  });

  it('prints an Appendix A style table with Orig and Norm columns', () => {
    const text = formatMetricTable(report, 'table');
    const lines = text.trimEnd().split('\n');
    assert.match(lines[0], /^Metric\s+Orig\s+Norm$/);
    assert.match(text, /Accuracy\s+0\.6330\s+0\.4235/);
    assert.match(text, /AUC-ROC\s+undefined\s+undefined/);
    const markdown = formatMetricTable(report, 'markdown');
    assert.match(markdown, /^\| Metric +\| Orig +\| Norm +\|$/m);
    assert.match(markdown, /\| F1-score \(weighted\) \| 0\.6232 +\| /);
  });

  it('prints per-class and confusion tables', () => {
    assert.match(formatPerClassTable(report), /Happy\s+1443\s+1370\s+0\.8219\s+0\.7803/);
    const confusion = formatConfusionMatrix(report.confusion, TABLE5_CLASSES);
    assert.match(confusion, /Neutral\s+561\s+130\s+27\s+13\s+10\s+58/);
  });
});
