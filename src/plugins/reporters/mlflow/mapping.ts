/**
 * How an affectlab run maps onto MLflow: run name, standard tags, params, metrics and the
 * dataset input. Pure functions of the RunInfo (plus facts about the machine gathered once),
 * so the live reporter and `affectlab sync` log exactly the same things.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import { basename, dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import type { RunInfo } from '../../../sdk/index.js';
import {
  MLFLOW_LIMITS,
  type MlflowDatasetInput,
  type MlflowKeyValue,
  type MlflowMetric,
} from './client.js';

const execFileAsync = promisify(execFile);

/** Facts about where and by whom a run was started, captured when it starts. */
export interface SourceFacts {
  user: string;
  gitCommit?: string;
  /** The experiment file relative to the project (its git repository, else the working directory). */
  sourceName?: string;
}

/** The user name as Python's getpass.getuser() finds it. */
export function currentUser(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LOGNAME || env.USER || env.LNAME || env.USERNAME;
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The commit checked out in the repository holding `file`, when git and a repository are there. */
export async function gitCommitOf(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('git', ['rev-parse', 'HEAD'], {
      cwd: dirname(file),
      timeout: 5000,
    });
    const commit = stdout.trim();
    return /^[0-9a-f]{40,64}$/.test(commit) ? commit : undefined;
  } catch {
    return undefined; // no git, no repository, or the directory is gone
  }
}

/** The top directory of the git repository holding `file`, when there is one. */
export async function gitRootOf(file: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('git', ['rev-parse', '--show-toplevel'], {
      cwd: dirname(file),
      timeout: 5000,
    });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * `mlflow.source.name`: the experiment file relative to its project, the git repository it is
 * in (else the working directory), so the runs table's Source column names the file, not `3.yaml`.
 */
export function sourceNameOf(file: string, root: string | undefined, cwd = process.cwd()): string {
  const abs = resolve(file);
  for (const base of [root, cwd]) {
    if (!base) continue;
    const rel = relative(resolve(base), abs);
    if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  }
  return abs;
}

export async function gatherSourceFacts(run: RunInfo): Promise<SourceFacts> {
  const [gitCommit, root] = await Promise.all([
    gitCommitOf(run.sourceFile),
    gitRootOf(run.sourceFile),
  ]);
  return { user: currentUser(), gitCommit, sourceName: sourceNameOf(run.sourceFile, root) };
}

/**
 * A key MLflow accepts for a metric, param or tag: only letters, digits and `_ - . space : /`,
 * no empty, `.` or `..` path segments, at most 250 characters (longer keys keep a hash suffix
 * so two long keys stay distinct).
 */
export function mlflowKey(key: string): string {
  let out = key
    .replace(/[^A-Za-z0-9_\-. :/]/g, '_')
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.' && segment !== '..')
    .join('/');
  if (out === '') out = '_';
  if (out.length > MLFLOW_LIMITS.keyLength) {
    const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
    out = `${out.slice(0, MLFLOW_LIMITS.keyLength - 9)}~${hash}`;
  }
  return out;
}

/** Cut a value to `limit` characters, marking the cut. */
export function truncate(value: string, limit: number): string {
  return value.length <= limit ? value : `${value.slice(0, limit - 3)}...`;
}

/** A param or tag value as text: strings as they are, everything else as JSON. */
export function valueText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value) ?? String(value);
}

/**
 * MLflow params of a run: the runner's flattened params (dotted keys of the resolved config plus
 * data counts), each value as text within MLflow's length limit.
 */
export function runParams(run: RunInfo): MlflowKeyValue[] {
  const byKey = new Map<string, string>();
  for (const [key, value] of Object.entries(run.params ?? {})) {
    byKey.set(mlflowKey(key), truncate(valueText(value), MLFLOW_LIMITS.paramValueLength));
  }
  return [...byKey].map(([key, value]) => ({ key, value }));
}

/** Metrics of one event; NaN travels as NaN (a null in events.jsonl was a NaN). */
export function toMetrics(
  metrics: Record<string, number | null>,
  step: number,
  timestamp: number,
  rename: (key: string) => string | undefined = (key) => key,
): MlflowMetric[] {
  const out: MlflowMetric[] = [];
  for (const [key, value] of Object.entries(metrics)) {
    const name = rename(key);
    if (name === undefined) continue;
    out.push({ key: mlflowKey(name), value: value === null ? NaN : value, step, timestamp });
  }
  return out;
}

export interface NamingOptions {
  runName?: string;
  experimentName?: string;
}

/** The run is named after the experiment file: `experiments/vgg6-weighted.yaml` -> `vgg6-weighted`. */
export function runNameOf(run: RunInfo, options: NamingOptions = {}): string {
  if (options.runName) return options.runName;
  const base = basename(run.sourceFile, extname(run.sourceFile));
  // a sweep's child: the experiment and its swept values, unique within the sweep
  const combination = (run.resolvedConfig.tags as Record<string, unknown> | undefined)?.[
    'affectlab.combination'
  ];
  if (typeof combination === 'string' && combination !== '')
    return `${run.experiment}-${combination}`;
  return base || run.experiment;
}

/** A short human description for `mlflow.note.content`: the experiment's own, or a generated one. */
export function describeRun(run: RunInfo): string {
  const config = run.resolvedConfig;
  if (typeof config.description === 'string' && config.description.trim() !== '')
    return config.description.trim();
  const typeOf = (slot: string): string | undefined => {
    const ref = config[slot] as { type?: unknown } | undefined;
    return typeof ref?.type === 'string' ? ref.type : undefined;
  };
  const training = (config.training ?? {}) as { epochs?: unknown; batchSize?: unknown };
  const parts = [
    `${run.experiment}: ${typeOf('architecture') ?? 'model'} on ${typeOf('dataset') ?? 'a dataset'}`,
  ];
  const sampler = typeOf('sampler');
  if (sampler) parts[0] += ` with ${sampler} sampling`;
  const details: string[] = [];
  if (typeof training.epochs === 'number') details.push(`${training.epochs} epochs`);
  if (typeof training.batchSize === 'number') details.push(`batch ${training.batchSize}`);
  if (typeof config.seed === 'number') details.push(`seed ${config.seed}`);
  details.push(`${run.backend.name} backend`);
  return `${parts[0]} (${details.join(', ')}), from ${run.sourceFile}`;
}

/** The tags set on the run: the experiment's own `tags:`, then MLflow's standard ones and affectlab's. */
export function runTags(
  run: RunInfo,
  facts: SourceFacts,
  options: NamingOptions = {},
): MlflowKeyValue[] {
  const tags = new Map<string, string>();
  const userTags = run.resolvedConfig.tags;
  if (userTags && typeof userTags === 'object') {
    for (const [key, value] of Object.entries(userTags)) tags.set(mlflowKey(key), valueText(value));
  }
  tags.set('mlflow.runName', runNameOf(run, options));
  // a sweep's child carries its experiment file's name in its tags (it runs from a copy)
  const sourceName = tags.get('mlflow.source.name') ?? facts.sourceName ?? run.sourceFile;
  tags.set('mlflow.source.name', sourceName);
  tags.set('mlflow.source.type', 'LOCAL');
  tags.set('mlflow.user', facts.user);
  if (facts.gitCommit) tags.set('mlflow.source.git.commit', facts.gitCommit);
  tags.set('mlflow.note.content', describeRun(run));
  if (run.group) tags.set('affectlab.group', run.group);
  tags.set('affectlab.runId', run.runId);
  tags.set('affectlab.runDir', run.runDir);
  tags.set('affectlab.experiment', run.experiment);
  tags.set('affectlab.backend', run.backend.name);
  if (run.backend.devices.length > 0) tags.set('affectlab.devices', run.backend.devices.join(', '));
  return [...tags].map(([key, value]) => ({
    key,
    value: truncate(value, MLFLOW_LIMITS.tagValueLength),
  }));
}

/** JSON with sorted keys, so equal descriptions hash equally. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const PROFILE_KEYS = ['totals', 'counts', 'trainCounts', 'classPreset', 'task', 'badRecords'];
const PROFILE_SOFT_LIMIT = 64 * 1024;

/**
 * The dataset as an MLflow run input (`runs/log-inputs`): named after the dataset, a digest of
 * its description (file lists, preset, counts), source `local` with the data root as its URI,
 * the columns a record has as schema, and the split sizes and class counts as profile.
 */
export function datasetInput(run: RunInfo): MlflowDatasetInput {
  const description = run.dataset ?? {};
  const config = (run.resolvedConfig.dataset ?? {}) as Record<string, unknown>;
  const text = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;
  const name =
    text(description.dataset) ?? text(description.name) ?? text(config.type) ?? 'dataset';
  const digest = createHash('sha256').update(stableJson(description)).digest('hex').slice(0, 16);
  const uri =
    text(description.root) ?? text(config.root) ?? text(description.path) ?? run.sourceFile;

  const task =
    text(description.task) ??
    text((description.task as { kind?: unknown } | undefined)?.kind) ??
    'classification';
  const columns: { type: string; name: string; required: boolean }[] = [
    { type: 'string', name: 'image', required: true },
  ];
  if (task.includes('classification') || task.includes('expression'))
    columns.push({ type: 'long', name: 'label', required: true });
  if (task.includes('valence')) {
    columns.push(
      { type: 'double', name: 'valence', required: true },
      { type: 'double', name: 'arousal', required: true },
    );
  }

  const totals = description.totals as Record<string, unknown> | undefined;
  const numRows =
    totals && typeof totals === 'object'
      ? Object.values(totals).reduce<number>((sum, v) => sum + (typeof v === 'number' ? v : 0), 0)
      : undefined;
  const picked = Object.fromEntries(
    PROFILE_KEYS.filter((k) => k in description).map((k) => [k, description[k]]),
  );
  let profile = JSON.stringify({
    ...(numRows === undefined ? {} : { num_rows: numRows }),
    ...picked,
  });
  if (Object.keys(picked).length === 0) profile = JSON.stringify(description);
  if (profile.length > PROFILE_SOFT_LIMIT)
    profile = JSON.stringify({ num_rows: numRows ?? null, truncated: true });

  return {
    dataset: {
      name: truncate(name, MLFLOW_LIMITS.datasetNameLength),
      digest,
      sourceType: 'local',
      source: truncate(JSON.stringify({ uri }), MLFLOW_LIMITS.datasetSourceLength),
      schema: JSON.stringify({ mlflow_colspec: columns }),
      profile,
    },
    tags: [{ key: 'mlflow.data.context', value: 'train' }],
  };
}
