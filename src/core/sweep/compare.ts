import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { METRIC_KEYS, REGRESSION_METRIC_KEYS } from '../metrics/keys.js';
import { flattenParams } from '../runner/experiment-run.js';
import { RunStore, type EpochRecord } from '../reporting/run-store.js';
import { groupsOf, meanSd, type SweepRecord } from './launch.js';

const SWEEP_TAGS = new Set([
  'tags.affectlab.sweep',
  'tags.affectlab.combination',
  'tags.affectlab.trial',
]);

export interface SweepCompareRow {
  index: number;
  runId: string;
  status: string;
  /** The parameters that differ between the sweep's combinations. */
  params: Record<string, unknown>;
  /** 1-based best epoch by the checkpoint monitor, and that epoch's metrics. */
  bestEpoch?: number;
  metrics: Record<string, number>;
  /** Which combination it repeats and with which seed (sweep.repeat). */
  group?: number;
  replica?: number;
  /** Why a callback (early stopping, a sweep scheduler) ended training early. */
  stopped?: { epoch: number; reason: string };
}

/** One combination of a repeated sweep: its runs' best-epoch metrics, mean and sd. */
export interface SweepGroupRow {
  group: number;
  /** The parameters that differ between combinations (not the seed). */
  params: Record<string, unknown>;
  runs: number[];
  /** Finished runs the statistics are over. */
  n: number;
  mean: Record<string, number>;
  sd: Record<string, number>;
}

/** One row per combination: only the differing parameters, metrics of the best (not last) epoch. */
export function sweepCompare(record: SweepRecord): {
  columns: string[];
  rows: SweepCompareRow[];
  groups?: SweepGroupRow[];
  /** Set when the combinations' val_* metrics scored different validation splits. */
  warning?: string;
} {
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
      ...(c.group !== undefined ? { group: c.group, replica: c.replica } : {}),
      ...(c.stopped ? { stopped: c.stopped } : {}),
    };
  });
  // the summary metrics (per-class ones stay in the JSON), training's then validation's
  const summary = new Set<string>(['loss', ...METRIC_KEYS, ...REGRESSION_METRIC_KEYS]);
  const logged = new Set(rows.flatMap((r) => Object.keys(r.metrics)));
  const metricKeys = [
    ...[...summary].filter((k) => logged.has(k)),
    ...[...summary].map((k) => `val_${k}`).filter((k) => logged.has(k)),
  ];
  const columns = [...differing, ...metricKeys];
  const warning = validationSplitsWarning(record);
  if ((record.repeat ?? 1) <= 1) return { columns, rows, ...(warning ? { warning } : {}) };
  const groups: SweepGroupRow[] = [];
  for (const [group, cs] of groupsOf(record)) {
    const members = rows.filter((r) => cs.some((c) => c.index === r.index));
    const done = members.filter((r) => r.status === 'FINISHED' && r.bestEpoch !== undefined);
    const mean: Record<string, number> = {};
    const sd: Record<string, number> = {};
    for (const k of metricKeys) {
      const values = done.map((r) => r.metrics[k]).filter((v) => typeof v === 'number');
      if (values.length === 0) continue;
      const stats = meanSd(values);
      mean[k] = stats.mean;
      if (stats.sd !== undefined) sd[k] = stats.sd;
    }
    groups.push({
      group,
      params: Object.fromEntries(
        Object.entries(members[0]?.params ?? {}).filter(([k]) => k !== 'seed'),
      ),
      runs: members.map((r) => r.index),
      n: done.length,
      mean,
      sd,
    });
  }
  return { columns, rows, groups, ...(warning ? { warning } : {}) };
}

/**
 * The best-epoch metrics are val_* ones: combinations whose validation splits differ (a swept
 * `dataset.split`) were not scored on the same images. Read from each run's params.json.
 */
function validationSplitsWarning(record: SweepRecord): string | undefined {
  const byRun = new Map<string, number[]>();
  for (const c of record.combinations) {
    const file = `${c.runDir}/params.json`;
    if (!existsSync(file)) continue;
    const params = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const source = params['data.validation_source'];
    if (typeof source !== 'string') continue;
    byRun.set(source, [...(byRun.get(source) ?? []), c.index]);
  }
  if (byRun.size <= 1) return undefined;
  return (
    "the combinations' validation metrics scored different validation splits, so they do not compare: " +
    [...byRun].map(([source, runs]) => `${source} (#${runs.join(', #')})`).join('; ')
  );
}

export function formatSweepCompare(record: SweepRecord, format: 'table' | 'json'): string {
  const { columns, rows, groups, warning } = sweepCompare(record);
  if (format === 'json')
    return JSON.stringify(
      {
        sweepId: record.sweepId,
        best: record.best,
        rows,
        ...(groups ? { groups } : {}),
        ...(warning ? { warning } : {}),
      },
      null,
      2,
    );
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
  const anyStopped = rows.some((r) => r.stopped);
  const head = [
    '#',
    'status',
    ...paramKeys,
    'best epoch',
    ...(anyStopped ? ['stopped after'] : []),
    ...metricKeys,
  ];
  const body = rows.map((r) => [
    String(r.index) + (record.best?.index === r.index ? '*' : ''),
    r.status,
    ...paramKeys.map((k) => cell(r.params[k])),
    cell(r.bestEpoch),
    ...(anyStopped ? [r.stopped ? `epoch ${r.stopped.epoch + 1}` : '-'] : []),
    ...metricKeys.map((k) => cell(r.metrics[k])),
  ]);
  const table = (h: string[], b: string[][]) => {
    const widths = h.map((x, i) => b.reduce((w, row) => Math.max(w, row[i].length), x.length));
    const line = (row: string[]) => row.map((c, i) => c.padEnd(widths[i])).join('  ');
    return [line(h), line(widths.map((w) => '-'.repeat(w))), ...b.map(line)].join('\n');
  };
  const b = record.best;
  const best = !b
    ? ''
    : b.mean !== undefined
      ? `\n* best: combination ${b.group} by its mean ${b.metric} over ${b.n} seeds (${b.mean.toFixed(4)} ± ${b.sd === undefined ? '-' : b.sd.toFixed(4)}); its best run is #${b.index} (${b.value.toFixed(4)})`
      : `\n* best: combination ${b.index} by ${b.metric} (${b.value.toFixed(4)})`;
  const stopped = rows
    .filter((r) => r.stopped)
    .map((r) => `\n  #${r.index} after epoch ${(r.stopped?.epoch ?? 0) + 1}: ${r.stopped?.reason}`)
    .join('');
  let grouped = '';
  if (groups) {
    const groupParams = paramKeys.filter((k) => k !== 'seed');
    const pm = (g: SweepGroupRow, k: string) =>
      g.mean[k] === undefined
        ? '-'
        : `${g.mean[k].toFixed(4)} ± ${g.sd[k] === undefined ? '-' : g.sd[k].toFixed(4)}`;
    grouped =
      `\n\nmean ± sd over the seeds of each combination (finished runs, best epochs)\n` +
      table(
        ['combination', ...groupParams, 'runs', 'n', ...metricKeys],
        groups.map((g) => [
          String(g.group) + (record.best?.group === g.group ? '*' : ''),
          ...groupParams.map((k) => cell(g.params[k])),
          g.runs.join(','),
          String(g.n),
          ...metricKeys.map((k) => pm(g, k)),
        ]),
      );
  }
  return (
    `sweep ${record.sweepId}: ${rows.length} combinations, parameters that differ and the best epoch's metrics\n` +
    table(head, body) +
    (stopped ? `\nstopped early:${stopped}` : '') +
    grouped +
    best +
    (warning ? `\nwarning: ${warning}` : '')
  );
}
