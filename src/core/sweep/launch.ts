import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import type { ExperimentConfig, PluginRef } from '../config/types.js';
import { UserError } from '../../sdk/errors.js';
import type {
  LaunchOutcome,
  LaunchTask,
  LauncherPlugin,
  RunStatus,
} from '../../sdk/contracts/run.js';
import type { Runtime } from '../host/runtime.js';
import { resolveMode } from '../../sdk/monitor.js';
import { RunStore, newRunId, type EpochRecord, type RunRecord } from '../reporting/run-store.js';

/** The CLI entry a launched combination runs (`node bin/affectlab.js run ...`). */
export const CLI_ENTRY = fileURLToPath(new URL('../../../../bin/affectlab.js', import.meta.url));

export interface SweepCombination {
  index: number;
  /** The `--set` overrides of this combination. */
  overrides: string[];
  /** The combination this run repeats (sweep.repeat), and which seed of it. */
  group?: number;
  replica?: number;
  runId: string;
  runDir: string;
  /** The resolved config file the combination runs. */
  configFile: string;
  status: RunStatus | 'RUNNING' | 'PENDING';
  /** What the launcher saw: COMPLETED, FAILED, CANCELLED, Slurm's or Ray's word. */
  launcherState?: string;
  exitCode?: number;
  engineId?: string;
  /** A callback ended training early (early stopping, the sweep's scheduler): when and why. */
  stopped?: { epoch: number; reason: string };
  /** The monitored metric at the run's best epoch. */
  best?: { epoch: number; metric: string; mode: 'min' | 'max'; value: number };
}

/** `sweep.json` in a sweep's directory: what ran, how and how each combination ended. */
export interface SweepRecord {
  sweepId: string;
  experiment: string;
  sourceFile: string;
  mode: string;
  parameters: Record<string, unknown>;
  /** Runs per combination (sweep.repeat); above 1, the best is chosen by the mean. */
  repeat?: number;
  trials?: number;
  seed?: number;
  scheduler?: PluginRef;
  launcher: PluginRef;
  runsRoot: string;
  createdAt: number;
  endedAt?: number;
  combinations: SweepCombination[];
  /**
   * The best run by the monitored metric; with repeat > 1, the best run of the combination
   * whose mean over its seeds is best (`group`, `mean`, `sd`, `n` say which and how).
   */
  best?: {
    index: number;
    runId: string;
    metric: string;
    value: number;
    group?: number;
    mean?: number;
    sd?: number;
    n?: number;
  };
}

/** Mean and sample standard deviation (undefined for fewer than two values). */
export function meanSd(values: number[]): { mean: number; sd?: number; n: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd =
    n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : undefined;
  return { mean, sd, n };
}

/** The combinations of a repeated sweep: each group's runs, in order. */
export function groupsOf(record: SweepRecord): Map<number, SweepCombination[]> {
  const groups = new Map<number, SweepCombination[]>();
  for (const c of record.combinations) {
    const g = c.group ?? c.index;
    groups.set(g, [...(groups.get(g) ?? []), c]);
  }
  return groups;
}

/** The sweep's best: the best finished run, or with repeat > 1 the combination best on average. */
export function chooseBest(record: SweepRecord): SweepRecord['best'] {
  const better = (a: number, b: number, mode: 'min' | 'max') => (mode === 'min' ? a < b : a > b);
  const finished = (cs: SweepCombination[]) =>
    cs.filter(
      (c): c is SweepCombination & { best: NonNullable<SweepCombination['best']> } =>
        c.status === 'FINISHED' && c.best !== undefined,
    );
  const bestRun = (cs: SweepCombination[]) => {
    let best: (SweepCombination & { best: NonNullable<SweepCombination['best']> }) | undefined;
    for (const c of finished(cs))
      if (!best || better(c.best.value, best.best.value, c.best.mode)) best = c;
    return best;
  };
  if ((record.repeat ?? 1) <= 1) {
    const c = bestRun(record.combinations);
    return c && { index: c.index, runId: c.runId, metric: c.best.metric, value: c.best.value };
  }
  let chosen: NonNullable<SweepRecord['best']> | undefined;
  for (const [group, cs] of groupsOf(record)) {
    const done = finished(cs);
    const top = bestRun(cs);
    if (!top) continue;
    const stats = meanSd(done.map((c) => c.best.value));
    if (!chosen || better(stats.mean, chosen.mean as number, top.best.mode))
      chosen = {
        index: top.index,
        runId: top.runId,
        metric: top.best.metric,
        value: top.best.value,
        group,
        mean: stats.mean,
        ...(stats.sd !== undefined ? { sd: stats.sd } : {}),
        n: stats.n,
      };
  }
  return chosen;
}

/** Where sweeps live in a run store: `<root>/sweeps/<sweep-id>/`. */
export function sweepDirOf(runsRoot: string, sweepId: string): string {
  return resolve(runsRoot, 'sweeps', sweepId);
}

/**
 * A sweep by directory or by id under the runs root; else, for an experiment name, that
 * experiment's newest sweep with a generated id (`<name>-<yyyymmdd-hhmmss>-<hex>`); else
 * undefined.
 */
export function findSweep(dirOrId: string, runsRoot = 'runs'): string | undefined {
  if (existsSync(join(dirOrId, 'sweep.json'))) return resolve(dirOrId);
  const byId = sweepDirOf(runsRoot, dirOrId);
  if (existsSync(join(byId, 'sweep.json'))) return byId;
  const sweeps = resolve(runsRoot, 'sweeps');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(dirOrId) || !existsSync(sweeps)) return undefined;
  const generated = new RegExp(`^${dirOrId.replace(/\./g, '\\.')}-\\d{8}-\\d{6}-[0-9a-f]{6}$`);
  const newest = readdirSync(sweeps)
    .filter((id) => generated.test(id) && existsSync(join(sweeps, id, 'sweep.json')))
    .sort()
    .pop();
  return newest ? join(sweeps, newest) : undefined;
}

export function readSweep(sweepDir: string): SweepRecord {
  return JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8')) as SweepRecord;
}

function writeSweep(sweepDir: string, record: SweepRecord): void {
  new RunStore(sweepDir).writeJson('sweep.json', record);
}

/** A new sweep's record and directory: one resolved config file per combination. */
export function createSweep(
  sweepId: string,
  sourceFile: string,
  base: ExperimentConfig,
  combos: { overrides: string[]; config: ExperimentConfig; group?: number; replica?: number }[],
  launcher: PluginRef,
): { dir: string; record: SweepRecord } {
  const runsRoot = resolve(base.runs?.root ?? 'runs');
  const dir = sweepDirOf(runsRoot, sweepId);
  if (existsSync(join(dir, 'sweep.json')))
    throw new UserError(
      `sweep ${sweepId} exists already (${dir}): continue it with affectlab run --resume ${sweepId}, or give sweep.group another name`,
    );
  const store = RunStore.create(join(runsRoot, 'sweeps'), sweepId, '.', { reuse: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const record: SweepRecord = {
    sweepId,
    experiment: base.name,
    sourceFile: resolve(sourceFile),
    mode: base.sweep?.mode ?? 'grid',
    parameters: base.sweep?.parameters ?? {},
    ...(base.sweep?.repeat ? { repeat: base.sweep.repeat } : {}),
    ...(base.sweep?.mode === 'random'
      ? { trials: base.sweep.trials, seed: base.sweep.seed ?? base.seed }
      : {}),
    ...(base.sweep?.scheduler ? { scheduler: base.sweep.scheduler } : {}),
    launcher,
    runsRoot,
    createdAt: Date.now(),
    combinations: combos.map(({ overrides, config, group, replica }, index) => {
      const runId = `${newRunId()}-${String(index).padStart(3, '0')}`;
      const runDir = resolve(config.runs?.root ?? 'runs', config.name, runId);
      const configFile = store.writeYaml(`configs/${index}.yaml`, config);
      return {
        index,
        overrides,
        ...(group !== undefined ? { group, replica } : {}),
        runId,
        runDir,
        configFile,
        status: 'PENDING',
      };
    }),
  };
  writeSweep(dir, record);
  return { dir, record };
}

/** A value as a name shows it: a plugin reference as `type(option=value,...)`, never JSON braces. */
function briefValue(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(briefValue).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const { type, ...rest } = value as Record<string, unknown>;
    const options = Object.entries(rest).map(([k, v]) => `${k}=${briefValue(v)}`);
    const head = typeof type === 'string' ? type : '';
    return options.length > 0 ? `${head}(${options.join(',')})` : head || '()';
  }
  return typeof value === 'string' ? value : String(value);
}

/** A swept value, short: JSON as briefValue, a path by its last segment, at most 60 characters. */
function shortValue(value: string): string {
  let text = value;
  if (/^[[{]/.test(value)) {
    try {
      text = briefValue(JSON.parse(value));
    } catch {
      text = value;
    }
  } else if (value.includes('/')) text = value.split('/').filter(Boolean).pop() ?? value;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * `sampler=weighted(scheme=inverse-frequency),learningRate=0.01`: the swept values, by the last
 * segment of each key; a plugin reference is its type plus the options the sweep gives it.
 */
export function combinationLabel(overrides: string[]): string {
  return overrides
    .map((o) => {
      const eq = o.indexOf('=');
      const key = o.slice(0, eq).split('.').pop() ?? o;
      return `${key}=${shortValue(o.slice(eq + 1))}`;
    })
    .join(',');
}

/** Each combination's label, made unique within the sweep (`#<index>` where two would read alike). */
function uniqueLabels(record: SweepRecord): Map<number, string> {
  const labels = record.combinations.map((c) => combinationLabel(c.overrides) || String(c.index));
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return new Map(
    record.combinations.map((c, i) => [
      c.index,
      (counts.get(labels[i]) ?? 0) > 1 ? `${labels[i]}#${c.index}` : labels[i],
    ]),
  );
}

/**
 * Tags in each combination's config: the sweep, the combination's label (a reporter names the
 * run by it) and the reporters' own (a parent run's id).
 */
export function retagCombinations(record: SweepRecord, extra: Record<string, string>): void {
  const labels = uniqueLabels(record);
  for (const c of record.combinations) {
    const config = parseYaml(readFileSync(c.configFile, 'utf8')) as ExperimentConfig;
    config.tags = {
      ...(config.tags ?? {}),
      'affectlab.sweep': record.sweepId,
      'affectlab.combination': labels.get(c.index) ?? String(c.index),
      'affectlab.trial': String(c.index),
      ...extra,
    };
    writeFileSync(c.configFile, stringify(config));
  }
}

function readRun(runDir: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

/** The monitored metric at a run's best epoch (the checkpoint's monitor), if it logged any. */
function bestOf(runDir: string, config: ExperimentConfig): SweepCombination['best'] {
  const metric = config.training.checkpoint?.monitor ?? 'val_loss';
  const mode = resolveMode(metric, config.training.checkpoint?.mode);
  const epochs = new RunStore(runDir).readEpochs() as EpochRecord[];
  const record = readRun(runDir);
  let best: EpochRecord | undefined = epochs.find((e) => e.epoch === record?.bestEpoch);
  if (!best) {
    for (const e of epochs) {
      const v = e.metrics[metric];
      if (typeof v !== 'number' || Number.isNaN(v)) continue;
      const b = best?.metrics[metric];
      if (b === undefined || (mode === 'min' ? v < b : v > b)) best = e;
    }
  }
  const value = best?.metrics[metric];
  return best && typeof value === 'number' ? { epoch: best.epoch, metric, mode, value } : undefined;
}

/** A combination's config, as createSweep wrote it from a validated config. */
function loadConfig(file: string): ExperimentConfig {
  return parseYaml(readFileSync(file, 'utf8')) as ExperimentConfig;
}

/** The command line of one combination: a fresh run with its run id, or a resume of it. */
function taskOf(
  combo: SweepCombination,
  record: SweepRecord,
  sweepDir: string,
  cacheDir: string,
): LaunchTask {
  const previous = readRun(combo.runDir);
  const resumable = previous !== undefined && existsSync(join(combo.runDir, 'checkpoints'));
  if (previous && !resumable) {
    // failed before its first checkpoint: start over, keeping the old attempt for its log
    const attempts = join(sweepDir, 'attempts');
    mkdirSync(attempts, { recursive: true });
    renameSync(combo.runDir, join(attempts, `${combo.runId}-${Date.now()}`));
  }
  const args = resumable
    ? ['run', '--resume', combo.runDir]
    : ['run', combo.configFile, '--run-id', combo.runId];
  return {
    index: combo.index,
    argv: [
      process.execPath,
      CLI_ENTRY,
      ...args,
      '--group',
      record.sweepId,
      '--cache-dir',
      resolve(cacheDir),
    ],
    cwd: dirname(record.sourceFile),
    runDir: combo.runDir,
    logFile: join(sweepDir, 'logs', `${combo.index}.log`),
    label: `[${combo.index}] ${combo.overrides.join(' ') || '(no overrides)'}`,
  };
}

export interface SweepResult {
  record: SweepRecord;
  dir: string;
  /** Combinations not FINISHED. */
  unfinished: number;
}

/**
 * Run the combinations that have not finished (all of a new sweep) through the launcher and
 * record how each ended. A failing combination is recorded and the others go on.
 */
export async function runSweep(
  runtime: Runtime,
  dir: string,
  launcher: LauncherPlugin,
  options: { cacheDir: string; stopSignal: { stop: boolean; reason?: string } },
): Promise<SweepResult> {
  const record = readSweep(dir);
  const todo = record.combinations.filter((c) => c.status !== 'FINISHED');
  const tasks = todo.map((c) => taskOf(c, record, dir, options.cacheDir));
  for (const c of todo) c.status = 'RUNNING';
  writeSweep(dir, record);
  const logger = runtime.logger;
  logger.info(
    `sweep ${record.sweepId}: ${tasks.length} of ${record.combinations.length} combinations via the ${record.launcher.type} launcher (${dir})`,
  );
  let outcomes: LaunchOutcome[] = [];
  try {
    outcomes = await launcher.launch(tasks, {
      sweepId: record.sweepId,
      sweepDir: dir,
      stopSignal: options.stopSignal,
      log: (line) => logger.info(`sweep ${record.sweepId}: ${line}`),
    });
  } finally {
    const byIndex = new Map(outcomes.map((o) => [o.index, o]));
    for (const c of todo) {
      const outcome = byIndex.get(c.index);
      const run = readRun(c.runDir);
      // the run's own record decides; a run that never wrote one failed (or never started)
      c.status =
        run && run.status !== 'RUNNING'
          ? run.status
          : outcome?.state === 'CANCELLED' || options.stopSignal.stop
            ? 'KILLED'
            : 'FAILED';
      c.launcherState = outcome?.state ?? 'UNKNOWN';
      if (run?.stopped) c.stopped = run.stopped;
      else delete c.stopped;
      c.exitCode = outcome?.exitCode;
      c.engineId = outcome?.engineId;
      c.best = existsSync(c.configFile) ? bestOf(c.runDir, loadConfig(c.configFile)) : undefined;
    }
    record.best = chooseBest(record);
    record.endedAt = Date.now();
    writeSweep(dir, record);
  }
  return {
    record,
    dir,
    unfinished: record.combinations.filter((c) => c.status !== 'FINISHED').length,
  };
}
