/** The files a run writes at its end or after each epoch: curves, final metrics, confusion matrix. */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { MetricReport } from '../metrics/classification.js';
import {
  formatConfusionMatrix,
  formatMetricTable,
  formatRegressionTable,
} from '../metrics/format.js';
import type { RegressionReport } from '../metrics/regression.js';
import { confusionMatrixSvg, lineChartSvg, sideBySideSvg, svgToPng } from '../reporting/plots.js';
import type { RunStore } from '../reporting/run-store.js';

export async function writeCurves(store: RunStore): Promise<void> {
  const epochs = store.readEpochs();
  const series = (key: string) => ({
    name: key,
    points: epochs
      .filter((e) => e.metrics[key] !== undefined)
      .map((e) => [e.epoch + 1, e.metrics[key]] as [number, number]),
  });
  const charts = [lineChartSvg('Loss', [series('loss'), series('val_loss')])];
  if (epochs.some((e) => e.metrics.val_accuracy !== undefined)) {
    charts.push(
      lineChartSvg('Accuracy / F1', [
        series('accuracy'),
        series('val_accuracy'),
        series('val_f1_macro'),
      ]),
    );
  }
  if (epochs.some((e) => e.metrics.val_valence_rmse !== undefined)) {
    charts.push(
      lineChartSvg('Valence / arousal RMSE', [
        series('val_valence_rmse'),
        series('val_arousal_rmse'),
      ]),
    );
  }
  store.writeFile('curves.png', await svgToPng(sideBySideSvg(charts)));
}

export async function writeFinalArtifacts(
  store: RunStore,
  report: MetricReport | undefined,
  regression: RegressionReport | undefined,
  flat: Record<string, number>,
  count: number,
  split: string,
  splitSources: Partial<Record<string, string>> = {},
  /** Images of the split not scored (they failed to decode); `count` is the images scored. */
  skipped = 0,
): Promise<void> {
  store.writeJson('metrics.json', {
    /** The split these (`${split}_`-prefixed) metrics scored. */
    split,
    source: splitSources[split] ?? null,
    /** The split the per-epoch `val_` metrics scored: what checkpoint selection and early stopping saw. */
    epochMetricsSplit: 'validation',
    splitSources,
    /** Images scored (what the confusion matrix adds up to). */
    count,
    skipped,
    metrics: flat,
    report: report ?? null,
    regression: regression ?? null,
  });
  const from = splitSources[split] ? `${splitSources[split]}, ` : '';
  const skippedText = skipped > 0 ? `, ${skipped} skipped` : '';
  const md: string[] = [
    `# ${basename(store.dir)}: ${split} split (${from}${count} images scored${skippedText})`,
    '',
  ];
  if (report) {
    md.push(
      formatMetricTable(report, 'markdown'),
      '',
      '## Confusion matrix',
      '',
      formatConfusionMatrix(report.confusion, report.classNames, 'markdown'),
      '',
    );
    const csv = [
      ['actual\\predicted', ...report.classNames].join(','),
      ...report.confusion.map((row, i) => [report.classNames[i], ...row].join(',')),
    ].join('\n');
    store.writeFile('confusion_matrix.csv', csv + '\n');
    store.writeFile(
      'confusion_matrix.png',
      await svgToPng(confusionMatrixSvg(report.confusion, report.classNames)),
    );
  }
  if (regression) {
    md.push('## Valence and arousal', '', formatRegressionTable(regression, 'markdown'), '');
  }
  store.writeFile('metrics.md', md.join('\n') + '\n');
  if (!existsSync(store.path('metrics.jsonl'))) store.writeFile('metrics.jsonl', '');
}
