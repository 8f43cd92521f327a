/**
 * The final evaluation as MLflow tables (what `mlflow.log_table` writes): a JSON artifact
 * `{"columns": [...], "data": [[...], ...]}` (pandas' "split" orientation), listed in the run's
 * `mlflow.loggedArtifacts` tag as `{"path": ..., "type": "table"}` so the MLflow UI's
 * evaluation view shows it. Built from the run's `metrics.json`, so sync makes the same tables.
 */

/** One table as MLflow reads it. */
export interface MlflowTable {
  columns: string[];
  data: (string | number | null)[][];
}

export interface TableArtifact {
  /** Artifact path, relative to the run's artifact root. */
  path: string;
  table: MlflowTable;
}

/** The tag MLflow lists a run's tables in, and one entry of it. */
export const LOGGED_ARTIFACTS_TAG = 'mlflow.loggedArtifacts';
export interface LoggedArtifact {
  path: string;
  type: string;
}

interface ClassRow {
  name?: unknown;
  support?: unknown;
  predicted?: unknown;
  precision?: unknown;
  recall?: unknown;
  f1?: unknown;
  aucRoc?: unknown;
  aucPr?: unknown;
  normPrecision?: unknown;
  normF1?: unknown;
}

interface MetricsFile {
  split?: unknown;
  report?: { classNames?: unknown; perClass?: unknown; confusion?: unknown } | null;
}

const num = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;

/** The per-class table and the confusion matrix of a `metrics.json`, or none when it has no report. */
export function evaluationTables(metricsJson: string): TableArtifact[] {
  let parsed: MetricsFile;
  try {
    parsed = JSON.parse(metricsJson) as MetricsFile;
  } catch {
    return [];
  }
  const report = parsed?.report;
  if (!report || !Array.isArray(report.classNames) || !Array.isArray(report.perClass)) return [];
  const split =
    typeof parsed.split === 'string' && /^[a-z]+$/.test(parsed.split) ? parsed.split : 'test';
  const classNames = report.classNames.map(String);
  const perClass: MlflowTable = {
    columns: [
      'class',
      'support',
      'predicted',
      'precision',
      'recall',
      'f1',
      'auc_roc',
      'auc_pr',
      'norm_precision',
      'norm_f1',
    ],
    data: (report.perClass as ClassRow[]).map((row, i) => [
      typeof row.name === 'string' ? row.name : (classNames[i] ?? String(i)),
      num(row.support),
      num(row.predicted),
      num(row.precision),
      num(row.recall),
      num(row.f1),
      num(row.aucRoc),
      num(row.aucPr),
      num(row.normPrecision),
      num(row.normF1),
    ]),
  };
  const tables: TableArtifact[] = [{ path: `tables/${split}_per_class.json`, table: perClass }];
  if (Array.isArray(report.confusion)) {
    tables.push({
      path: `tables/${split}_confusion_matrix.json`,
      table: {
        columns: ['actual', ...classNames],
        data: (report.confusion as unknown[]).map((row, i) => [
          classNames[i] ?? String(i),
          ...(Array.isArray(row) ? row.map(num) : []),
        ]),
      },
    });
  }
  return tables;
}

/** The tag value listing `paths` as tables, added to what the tag already lists. */
export function loggedArtifactsTag(current: string | undefined, paths: string[]): string {
  let list: LoggedArtifact[] = [];
  try {
    const parsed = JSON.parse(current ?? '[]') as unknown;
    if (Array.isArray(parsed)) list = parsed as LoggedArtifact[];
  } catch {
    list = [];
  }
  for (const path of paths) {
    if (!list.some((entry) => entry?.path === path && entry?.type === 'table'))
      list.push({ path, type: 'table' });
  }
  return JSON.stringify(list);
}
