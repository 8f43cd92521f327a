/**
 * Console and Markdown tables of metric reports: the summary in the layout of the report's
 * Appendix A (rows = metrics, columns Orig / Norm), per-class metrics, the confusion matrix and
 * the valence/arousal metrics. Undefined values print as "undefined", never as a number.
 */
import type { MetricReport } from './classification.js';
import {
  METRIC_KEYS,
  METRIC_LABELS,
  REGRESSION_METRICS,
  REGRESSION_METRIC_LABELS,
  REGRESSION_TARGETS,
} from './keys.js';
import type { RegressionReport } from './regression.js';

export type TableFormat = 'table' | 'markdown';

export const UNDEFINED_TEXT = 'undefined';

export function formatValue(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? UNDEFINED_TEXT
    : value.toFixed(digits);
}

/** A table with a header row; text columns left-aligned, the others right-aligned. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  format: TableFormat,
): string {
  const widths = header.map((h, c) =>
    rows.reduce((w, row) => Math.max(w, row[c].length), h.length),
  );
  if (format === 'markdown') {
    const line = (cells: readonly string[]): string =>
      `| ${cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
    const rule = `| ${widths.map((w, c) => (c === 0 ? '-'.repeat(w) : '-'.repeat(Math.max(w - 1, 1)) + ':')).join(' | ')} |`;
    return [line(header), rule, ...rows.map(line)].join('\n') + '\n';
  }
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  return (
    [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n'
  );
}

/** Summary metrics: rows Accuracy, F1, Kappa, Alpha, AUC-ROC, AUC-PR; columns Orig (and Norm). */
export function formatMetricTable(report: MetricReport, format: TableFormat = 'table'): string {
  const norm = report.norm;
  const header = norm ? ['Metric', 'Orig', 'Norm'] : ['Metric', 'Orig'];
  const rows = METRIC_KEYS.map((key) => {
    const row = [METRIC_LABELS[key], formatValue(report.orig[key])];
    if (norm) row.push(formatValue(norm[key]));
    return row;
  });
  return renderTable(header, rows, format);
}

/** One row per class: support, precision, recall, F1, AUCs (and their Norm values). */
export function formatPerClassTable(report: MetricReport, format: TableFormat = 'table'): string {
  const withNorm = report.norm !== undefined;
  const header = [
    'Class',
    'Support',
    'Predicted',
    'Precision',
    'Recall',
    'F1',
    'AUC-ROC',
    'AUC-PR',
  ];
  if (withNorm) header.push('Norm Precision', 'Norm F1', 'Norm AUC-PR');
  const rows = report.perClass.map((cls) => {
    const row = [
      cls.name,
      String(cls.support),
      String(cls.predicted),
      formatValue(cls.precision),
      formatValue(cls.recall),
      formatValue(cls.f1),
      formatValue(cls.aucRoc),
      formatValue(cls.aucPr),
    ];
    if (withNorm)
      row.push(formatValue(cls.normPrecision), formatValue(cls.normF1), formatValue(cls.normAucPr));
    return row;
  });
  return renderTable(header, rows, format);
}

/** Rows: actual class; columns: predicted class (the report's Tables 4 and 5). */
export function formatConfusionMatrix(
  confusion: readonly (readonly number[])[],
  classNames: readonly string[],
  format: TableFormat = 'table',
): string {
  const header = ['actual \\ predicted', ...classNames];
  const rows = confusion.map((row, c) => [classNames[c], ...row.map((count) => String(count))]);
  return renderTable(header, rows, format);
}

/** Rows RMSE, CORR, SAGR, CCC; columns Valence, Arousal. */
export function formatRegressionTable(
  report: RegressionReport,
  format: TableFormat = 'table',
): string {
  const header = ['Metric', ...REGRESSION_TARGETS.map((t) => t[0].toUpperCase() + t.slice(1))];
  const rows = REGRESSION_METRICS.map((metric) => [
    REGRESSION_METRIC_LABELS[metric],
    ...REGRESSION_TARGETS.map((target) => formatValue(report[`${target}_${metric}`])),
  ]);
  return renderTable(header, rows, format);
}
