import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { METRIC_KEYS, REGRESSION_METRIC_KEYS } from '../metrics/keys.js';
import type { RunRecord } from './run-store.js';
import { confusionMatrixSvg } from './plots.js';

/** One run as `affectlab compare` sees it, from the local store or from MLflow. */
export interface RunSummary {
  runId: string;
  experiment: string;
  status: string;
  group?: string;
  startTime?: number;
  source: string;
  /** The final evaluation's metrics without the split prefix: accuracy, norm_accuracy, recall_happy... */
  metrics: Record<string, number>;
  /** The split the metrics scored (`test`, `validation`), as the run recorded it. */
  split?: string;
  /** Where that split's examples came from, in the dataset's words (`validation.csv`). */
  splitSource?: string;
  classNames?: string[];
  confusion?: number[][];
}

export interface RunQuery {
  experiment?: string;
  group?: string;
  runsRoot: string;
  /** The values of the source's own command-line options, by camel-cased name (trackingUri). */
  options: Record<string, string | undefined>;
}

/** Where runs come from: `local` (the run store) here; plugins register others. */
export type RunSource = (query: RunQuery) => Promise<RunSummary[]>;

/** `vgg6-*` style globs over experiment names. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** Strip the evaluation split prefix (`test_`, `validation_`) from final metrics. */
export function unprefixMetrics(
  metrics: Record<string, number>,
  split: string,
): Record<string, number> {
  const prefix = `${split}_`;
  return Object.fromEntries(
    Object.entries(metrics)
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, v]) => [k.slice(prefix.length), v]),
  );
}

export const localRuns: RunSource = async (query) => {
  const { runsRoot } = query;
  if (!existsSync(runsRoot)) return [];
  const match = query.experiment ? globToRegExp(query.experiment) : undefined;
  const out: RunSummary[] = [];
  for (const experiment of readdirSync(runsRoot).sort()) {
    if (match && !match.test(experiment)) continue;
    const expDir = join(runsRoot, experiment);
    for (const runId of readdirSync(expDir).sort()) {
      const dir = join(expDir, runId);
      if (!existsSync(join(dir, 'run.json'))) continue;
      const record = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
      if (query.group && record.group !== query.group) continue;
      let metrics: Record<string, number> = {};
      let classNames: string[] | undefined;
      let confusion: number[][] | undefined;
      let split: string | undefined;
      let splitSource: string | undefined;
      if (existsSync(join(dir, 'metrics.json'))) {
        const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as {
          split: string;
          source?: string | null;
          metrics: Record<string, number>;
          report: { classNames: string[]; confusion: number[][] } | null;
        };
        metrics = unprefixMetrics(m.metrics, m.split);
        split = m.split;
        splitSource = m.source ?? undefined;
        classNames = m.report?.classNames;
        confusion = m.report?.confusion;
      }
      out.push({
        runId,
        experiment,
        status: record.status,
        group: record.group,
        startTime: record.startTime,
        source: dir,
        metrics,
        split,
        splitSource,
        classNames,
        confusion,
      });
    }
  }
  return out;
};

/** A run's split in words: `test (validation.csv)`, or `?` when the run did not record it. */
export function splitLabel(run: RunSummary): string {
  if (run.split === undefined) return '?';
  return run.splitSource ? `${run.split} (${run.splitSource})` : run.split;
}

/**
 * Runs whose metrics scored different splits (or the same split name from different sources)
 * do not compare: one line saying which, or undefined when they all scored the same.
 */
export function mixedSplitsWarning(runs: readonly RunSummary[]): string | undefined {
  const byLabel = new Map<string, number>();
  for (const run of runs) byLabel.set(splitLabel(run), (byLabel.get(splitLabel(run)) ?? 0) + 1);
  if (byLabel.size <= 1) return undefined;
  return (
    'these runs were scored on different splits, so their columns do not compare: ' +
    [...byLabel].map(([label, n]) => `${label} for ${n} run(s)`).join(', ') +
    '; pass --split to keep one'
  );
}

/** The columns of the report's Appendix A (Orig and Norm), then per-class recall. */
export function compareColumns(runs: RunSummary[]): string[] {
  const cols: string[] = [];
  const has = (k: string) => runs.some((r) => r.metrics[k] !== undefined);
  for (const k of METRIC_KEYS) for (const key of [k, `norm_${k}`]) if (has(key)) cols.push(key);
  for (const k of REGRESSION_METRIC_KEYS) if (has(k)) cols.push(k);
  const recalls = [
    ...new Set(runs.flatMap((r) => Object.keys(r.metrics).filter((k) => k.startsWith('recall_')))),
  ].sort();
  return [...cols, ...recalls];
}

/** Lower is better for errors, higher for everything else. */
function better(col: string): 'min' | 'max' {
  return /rmse|loss/.test(col) ? 'min' : 'max';
}

export interface CompareTable {
  columns: string[];
  rows: { run: RunSummary; values: (number | undefined)[]; best: boolean[] }[];
  /** Set when the runs scored different splits (mixedSplitsWarning). */
  warning?: string;
}

export function compareTable(runs: RunSummary[], sortBy?: string): CompareTable {
  const columns = compareColumns(runs);
  const key = sortBy ?? (columns.includes('f1_macro') ? 'f1_macro' : columns[0]);
  const sorted = [...runs].sort((a, b) => {
    const dir = better(key) === 'max' ? -1 : 1;
    return (
      ((a.metrics[key] ?? -Infinity) - (b.metrics[key] ?? -Infinity)) * dir ||
      a.runId.localeCompare(b.runId)
    );
  });
  const bestOf = columns.map((c) => {
    const vals = sorted.map((r) => r.metrics[c]).filter((v): v is number => v !== undefined);
    if (vals.length === 0) return undefined;
    // reduce, not Math.max(...vals): a run store may hold more runs than a call takes arguments
    return better(c) === 'max'
      ? vals.reduce((a, b) => (b > a ? b : a))
      : vals.reduce((a, b) => (b < a ? b : a));
  });
  return {
    columns,
    warning: mixedSplitsWarning(runs),
    rows: sorted.map((run) => {
      const values = columns.map((c) => run.metrics[c]);
      return {
        run,
        values,
        best: values.map((v, i) => v !== undefined && v === bestOf[i] && sorted.length > 1),
      };
    }),
  };
}

function cell(v: number | undefined): string {
  return v === undefined ? '-' : v.toFixed(3);
}

export function formatCompare(
  table: CompareTable,
  format: 'table' | 'markdown' | 'json' | 'html',
): string {
  const head = ['run', 'experiment', 'status', 'split', ...table.columns];
  const body = table.rows.map((r) => [
    r.run.runId,
    r.run.experiment,
    r.run.status,
    splitLabel(r.run),
    ...r.values.map((v, i) => (r.best[i] ? `${cell(v)}*` : cell(v))),
  ]);
  if (format === 'json') {
    return JSON.stringify(
      table.rows.map((r) => ({
        runId: r.run.runId,
        experiment: r.run.experiment,
        status: r.run.status,
        group: r.run.group,
        source: r.run.source,
        split: r.run.split ?? null,
        splitSource: r.run.splitSource ?? null,
        metrics: Object.fromEntries(table.columns.map((c, i) => [c, r.values[i] ?? null])),
        best: table.columns.filter((_, i) => r.best[i]),
      })),
      null,
      2,
    );
  }
  if (format === 'markdown') {
    const md = (row: string[]) => `| ${row.join(' | ')} |`;
    const bold = table.rows.map((r, ri) =>
      body[ri].map((c, i) => (i >= 4 && r.best[i - 4] ? `**${c.replace(/\*$/, '')}**` : c)),
    );
    return (
      [md(head), md(head.map(() => '---')), ...bold.map(md)].join('\n') +
      '\n\nBold: best value of the column.' +
      (table.warning ? `\n\n**Warning:** ${table.warning}.` : '')
    );
  }
  if (format === 'html') return compareHtml(table);
  const widths = head.map((h, i) => body.reduce((w, r) => Math.max(w, r[i].length), h.length));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join('  ');
  return (
    [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') +
    '\n* best value of the column' +
    (table.warning ? `\nwarning: ${table.warning}` : '')
  );
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A self-contained page: the table, then every run's confusion matrix side by side. */
export function compareHtml(table: CompareTable): string {
  const th = ['run', 'experiment', 'status', 'split', ...table.columns]
    .map((h) => `<th>${escapeHtml(h)}</th>`)
    .join('');
  const rows = table.rows
    .map(
      (r) =>
        `<tr><td>${escapeHtml(r.run.runId)}</td><td>${escapeHtml(r.run.experiment)}</td><td>${r.run.status}</td><td>${escapeHtml(splitLabel(r.run))}</td>${r.values.map((v, i) => `<td${r.best[i] ? ' class="best"' : ''}>${cell(v)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  const matrices = table.rows
    .filter((r) => r.run.confusion && r.run.classNames)
    .map(
      (r) =>
        `<figure>${confusionMatrixSvg(r.run.confusion as number[][], r.run.classNames as string[], `${r.run.experiment} ${r.run.runId}`)}</figure>`,
    )
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>affectlab compare</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:nth-child(-n+4),th{text-align:left}.best{font-weight:bold;background:#e6f4ea}.matrices{display:flex;flex-wrap:wrap;gap:1em}</style></head>
<body><h1>affectlab compare</h1><p>${table.rows.length} run(s). Bold: best value of each column. Metrics of each run's final evaluation (Orig and skew-normalised Norm), on the split it names.</p>${table.warning ? `<p class="warning"><strong>Warning:</strong> ${escapeHtml(table.warning)}.</p>` : ''}
<table><thead><tr>${th}</tr></thead><tbody>
${rows}
</tbody></table>
<h2>Confusion matrices</h2><div class="matrices">${matrices}</div></body></html>
`;
}
