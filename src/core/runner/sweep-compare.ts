import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { METRIC_KEYS, REGRESSION_METRIC_KEYS } from '../metrics/keys.js';
import { flattenParams } from './experiment-run.js';
import { RunStore, type EpochRecord } from './run-store.js';
import type { SweepRecord } from './sweep-launch.js';

const SWEEP_TAGS = new Set(['tags.affectlab.sweep', 'tags.affectlab.combination']);

export interface SweepCompareRow {
  index: number;
  runId: string;
  status: string;
  /** The parameters that differ between the sweep's combinations. */
  params: Record<string, unknown>;
  /** 1-based best epoch by the checkpoint monitor, and that epoch's metrics. */
  bestEpoch?: number;
  metrics: Record<string, number>;
}

/** One row per combination: only the differing parameters, metrics of the best (not last) epoch. */
export function sweepCompare(record: SweepRecord): { columns: string[]; rows: SweepCompareRow[] } {
  const flat = record.combinations.map((c) =>
    existsSync(c.configFile)
      ? flattenParams(parseYaml(readFileSync(c.configFile, 'utf8')))
      : ({} as Record<string, unknown>),
  );
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  // the tags a sweep adds to each combination (its label) differ by construction
  const differing = keys.filter(
    (k) => !SWEEP_TAGS.has(k) && new Set(flat.map((f) => JSON.stringify(f[k] ?? null))).size > 1,
  );
  const rows = record.combinations.map((c, i) => {
    const epochs = existsSync(c.runDir)
      ? (new RunStore(c.runDir).readEpochs() as EpochRecord[])
      : [];
    const best = c.best ? epochs.find((e) => e.epoch === c.best?.epoch) : undefined;
    return {
      index: c.index,
      runId: c.runId,
      status: c.status,
      params: Object.fromEntries(differing.map((k) => [k, flat[i][k]])),
      bestEpoch: best ? best.epoch + 1 : undefined,
      metrics: best?.metrics ?? {},
    };
  });
  // the summary metrics (per-class ones stay in the JSON), training's then validation's
  const summary = new Set<string>(['loss', ...METRIC_KEYS, ...REGRESSION_METRIC_KEYS]);
  const logged = new Set(rows.flatMap((r) => Object.keys(r.metrics)));
  const metricKeys = [
    ...[...summary].filter((k) => logged.has(k)),
    ...[...summary].map((k) => `val_${k}`).filter((k) => logged.has(k)),
  ];
  return { columns: [...differing, ...metricKeys], rows };
}

export function formatSweepCompare(record: SweepRecord, format: 'table' | 'json'): string {
  const { columns, rows } = sweepCompare(record);
  if (format === 'json')
    return JSON.stringify({ sweepId: record.sweepId, best: record.best, rows }, null, 2);
  const paramKeys = columns.filter((c) => rows.some((r) => c in r.params));
  const metricKeys = columns.filter((c) => !paramKeys.includes(c));
  const cell = (v: unknown) =>
    v === undefined
      ? '-'
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toFixed(4)
        : String(v);
  const head = ['#', 'status', ...paramKeys, 'best epoch', ...metricKeys];
  const body = rows.map((r) => [
    String(r.index) + (record.best?.index === r.index ? '*' : ''),
    r.status,
    ...paramKeys.map((k) => cell(r.params[k])),
    cell(r.bestEpoch),
    ...metricKeys.map((k) => cell(r.metrics[k])),
  ]);
  const widths = head.map((h, i) => body.reduce((w, row) => Math.max(w, row[i].length), h.length));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join('  ');
  const best = record.best
    ? `\n* best: combination ${record.best.index} by ${record.best.metric} (${record.best.value.toFixed(4)})`
    : '';
  return (
    `sweep ${record.sweepId}: ${rows.length} combinations, parameters that differ and the best epoch's metrics\n` +
    [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') +
    best
  );
}
