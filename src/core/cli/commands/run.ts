import { isAbsolute, resolve, dirname } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { PLUGIN_SLOTS } from '../../config/schema.js';
import type { ExperimentConfig, PluginRef } from '../../config/types.js';
import { UserError, formatDiagnostic } from '../../../sdk/errors.js';
import type { ResolvedExperiment, Runtime } from '../../host/runtime.js';
import { allowPluginsOption, maxCombinationsOption, setOption } from '../command.js';
import { runExperiment, type Evaluation } from '../../runner/experiment-run.js';
import {
  formatConfusionMatrix,
  formatMetricTable,
  formatRegressionTable,
} from '../../metrics/format.js';
import { experimentFileNotes } from '../../host/file-notes.js';
import { RunStore, newRunId } from '../../reporting/run-store.js';
import { countTrials, expandTrials, iterateTrials, type SweepTrial } from '../../sweep/sweep.js';
import {
  createSweep,
  findSweep,
  readSweep,
  retagCombinations,
  runSweep,
  type SweepRecord,
} from '../../sweep/launch.js';
import type {
  LauncherPlugin,
  ReporterPlugin,
  SweepEnd,
  SweepInfo,
} from '../../../sdk/contracts/run.js';

export interface RunCommandOptions {
  set?: string[];
  dryRun?: boolean;
  resume?: string;
  cacheDir: string;
  launcher?: string;
  runId?: string;
  group?: string;
  allowPlugins?: boolean;
  maxCombinations?: number;
  first: number;
}

/** Build every plugin of the experiment without reading data; returns `slot -> description`. */
function buildAll(
  runtime: Runtime,
  resolved: ResolvedExperiment,
  cacheDir: string,
): Record<string, string> {
  const scope = runtime.createRunContainer(resolved, cacheDir);
  const built: Record<string, string> = {};
  for (const slot of PLUGIN_SLOTS) {
    const value = (
      resolved.config as unknown as Record<string, PluginRef | PluginRef[] | undefined>
    )[slot.key];
    const refs =
      slot.key === 'reporters'
        ? runtime.reportersFor(resolved.config)
        : value === undefined
          ? []
          : Array.isArray(value)
            ? value
            : [value];
    refs.forEach((ref, i) => {
      if (!runtime.registry.has(slot.kind, ref.type)) {
        // a type from a plugin module that --dry-run did not import (no --allow-plugins)
        built[slot.list ? `${slot.key}[${i}]` : slot.key] =
          `${ref.type} (not built: plugin modules not loaded; --allow-plugins loads them)`;
        return;
      }
      const instance = runtime.instantiate<object>(scope, slot.kind, ref);
      built[slot.list ? `${slot.key}[${i}]` : slot.key] =
        `${ref.type} (${instance.constructor.name})`;
    });
  }
  return built;
}

/** `files:` for --dry-run: whether downloaded files (`weights: imagenet`) are cached. */
function fileNotesOf(
  runtime: Runtime,
  resolved: ResolvedExperiment,
): { files?: Record<string, Record<string, string | boolean>> } {
  const notes = experimentFileNotes(runtime.registry, resolved.config);
  if (notes.length === 0) return {};
  return {
    files: Object.fromEntries(
      notes.map(({ key, what, cached, path, url, hash }) => [
        key,
        { what, cached, path, ...(cached ? {} : { url, hash }) },
      ]),
    ),
  };
}

/** Relative `plugins:` entries become absolute, so a saved config loads from its run directory. */
function absolutePlugins(config: ExperimentConfig, file: string): ExperimentConfig {
  if (!config.plugins) return config;
  const base = dirname(resolve(file));
  return {
    ...config,
    plugins: config.plugins.map((p) =>
      p.startsWith('.') && !isAbsolute(p) ? resolve(base, p) : p,
    ),
  };
}

/**
 * SIGINT/SIGTERM set `signal.stop`, and the work in hand ends cleanly (`doing` tells the user
 * how: finish the step and checkpoint, cancel the sweep's runs); a second one exits at once.
 * Returns the uninstaller. The one signal handler of `run`, its sweeps and dry runs.
 */
function installStopHandlers(
  signal: { stop: boolean; reason?: string },
  doing?: string,
): () => void {
  const handler = (name: NodeJS.Signals) => {
    if (signal.stop) {
      process.stderr.write(`\n${name} again: exiting without waiting\n`);
      process.exit(name === 'SIGINT' ? 130 : 143);
    }
    signal.stop = true;
    signal.reason = name;
    if (doing) process.stderr.write(`\n${name}: ${doing} (press again to exit at once)\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export function registerRunCommand(program: Command, runtime: Runtime): void {
  const command = program
    .command('run')
    .description(
      'resolve an experiment, build its plugins, train, evaluate and report (a sweep runs each combination)',
    );
  addRunOptions(command).action((file: string | undefined, opts: RunCommandOptions) =>
    runCommand(runtime, file, opts),
  );
}

function addRunOptions(command: Command): Command {
  return command
    .argument('[file]', 'experiment YAML file (omit with --resume)')
    .addOption(setOption())
    .option(
      '--dry-run',
      'stop after building every plugin and print what was built (a sweep: its run count and ' +
        'first combinations); imports no plugins: module unless --allow-plugins',
    )
    .addOption(allowPluginsOption())
    .addOption(maxCombinationsOption())
    .addOption(
      new Option('--first <n>', 'with --dry-run: how many combinations of a sweep to print')
        .argParser((v: string) => {
          const n = Number(v);
          if (!Number.isSafeInteger(n) || n < 0)
            throw new InvalidArgumentError('give a whole number');
          return n;
        })
        .default(10),
    )
    .option(
      '--resume <run>',
      'continue a run (its directory, or its id under the runs root) from its last completed epoch; ' +
        'its saved config has URL credentials redacted (http://***@host), so an MLflow server ' +
        'that needs them takes them from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD',
    )
    .option(
      '--launcher <type>',
      'how a sweep runs its combinations (local, slurm, ray; default: the YAML launcher:, else local)',
    )
    .addOption(new Option('--run-id <id>', 'run id to create (set by launchers)').hideHelp())
    .addOption(new Option('--group <tag>', 'sweep group tag (set by launchers)').hideHelp())
    .option(
      '--cache-dir <dir>',
      'cache for synthetic data and preprocessed images',
      process.env.AFFECTLAB_CACHE ?? '.cache/affectlab',
    );
}

async function runCommand(
  runtime: Runtime,
  file: string | undefined,
  opts: RunCommandOptions,
): Promise<void> {
  const sweepDir = opts.resume ? findSweep(opts.resume) : undefined;
  if (sweepDir) {
    await resumeSweep(runtime, sweepDir, opts);
    return;
  }
  if (opts.resume) {
    const store = RunStore.open(opts.resume);
    file = store.path('config.yaml');
  }
  if (!file) throw new UserError('give an experiment file, or --resume <run or sweep>');
  // --launcher picks the plugin (before --set, so --set launcher.x applies to it). As an
  // override of launcher.type it keeps the YAML's launcher options when the YAML names the same
  // one and drops them when it names another (applyOverride), so the file is resolved once.
  const launcherSet = opts.launcher ? [`launcher.type=${JSON.stringify(opts.launcher)}`] : [];
  const base = await runtime.resolve(file, {
    overrides: [...launcherSet, ...(opts.set ?? [])],
    allowUnresolvedEnv: opts.dryRun,
    // a dry run imports the plugins: modules only when allowed; a run always does
    loadPlugins: !opts.dryRun || opts.allowPlugins === true,
    maxCombinations: opts.maxCombinations,
  });
  for (const note of base.unchecked) runtime.logger.warn(formatDiagnostic(note));
  const group = base.config.sweep
    ? (base.config.sweep.group ?? `${base.config.name}-${newRunId()}`)
    : opts.group;
  if (opts.dryRun && base.config.sweep) {
    await dryRunSweep(runtime, base, file, [...launcherSet, ...(opts.set ?? [])], {
      ...opts,
      group: group as string,
    });
    return;
  }
  if (base.config.sweep && !opts.resume) {
    const trials = expandTrials(base.config.sweep, base.config.seed);
    await launchSweep(runtime, base, file, trials, group as string, launcherSet, opts);
    return;
  }
  // one experiment (a sweep's children run through launchSweep, a sweep's dry run above)
  if (opts.dryRun) {
    process.stdout.write(
      stringify({
        experiment: base.config.name,
        built: buildAll(runtime, base, opts.cacheDir),
        ...fileNotesOf(runtime, base),
      }),
    );
    return;
  }
  await runOne(runtime, base, file, group, opts);
}

/** One experiment, trained and evaluated here; Ctrl-C/SIGTERM stop it after a checkpoint. */
async function runOne(
  runtime: Runtime,
  base: ResolvedExperiment,
  file: string,
  group: string | undefined,
  opts: RunCommandOptions,
): Promise<void> {
  const signal = { stop: false as boolean, reason: undefined as string | undefined };
  const uninstall = installStopHandlers(
    signal,
    'finishing the current step, then writing a checkpoint',
  );
  try {
    const { sweep: _sweep, ...config } = absolutePlugins(base.config, file);
    const result = await runExperiment(
      runtime,
      { ...base, config: config as ExperimentConfig },
      {
        cacheDir: opts.cacheDir,
        resume: opts.resume,
        runId: opts.runId,
        group,
        stopSignal: signal,
        onEvaluated: printEvaluation,
      },
    );
    if (result.status === 'KILLED') process.exitCode = signal.reason === 'SIGTERM' ? 143 : 130;
  } finally {
    uninstall();
  }
}

/** The final evaluation's tables on stdout: per-class scores and the confusion matrix. */
function printEvaluation({ report, regression }: Evaluation): void {
  if (report)
    process.stdout.write(
      `\n${formatMetricTable(report, 'table')}\n\n${formatConfusionMatrix(report.confusion, report.classNames, 'table')}\n`,
    );
  if (regression) process.stdout.write(`\n${formatRegressionTable(regression, 'table')}\n`);
}

/**
 * `run --dry-run` of a sweep: its run count (counted, not expanded), then the first `--first`
 * combinations, built one at a time from a lazy expansion; SIGINT/SIGTERM stop it between two.
 */
async function dryRunSweep(
  runtime: Runtime,
  base: ResolvedExperiment,
  file: string,
  overrides: string[],
  opts: RunCommandOptions & { group: string },
): Promise<void> {
  const sweep = base.config.sweep;
  const total = countTrials(sweep);
  const shown = Math.min(total, opts.first);
  // the count as a YAML comment: each combination stays one document, as without a sweep
  process.stdout.write(
    `# sweep ${base.config.name}: ${total} runs (${sweep?.mode ?? 'grid'}); the first ${shown}:\n` +
      `# group: ${opts.group}\n`,
  );
  const signal = { stop: false as boolean, reason: undefined as string | undefined };
  const uninstall = installStopHandlers(signal);
  try {
    let i = 0;
    for (const trial of iterateTrials(sweep, base.config.seed)) {
      if (i >= shown) break;
      // let a pending signal be handled between two combinations
      await new Promise((done) => setImmediate(done));
      if (signal.stop) {
        process.stderr.write(`\n${signal.reason}: dry run stopped after ${i} of ${shown}\n`);
        process.exitCode = signal.reason === 'SIGTERM' ? 143 : 130;
        return;
      }
      const resolved = await runtime.resolve(file, {
        overrides: [...overrides, ...trial.overrides],
        allowUnresolvedEnv: true,
        loadPlugins: opts.allowPlugins === true,
        maxCombinations: opts.maxCombinations,
      });
      i++;
      process.stdout.write(
        stringify({
          experiment: resolved.config.name,
          combination: `${i} of ${total}`,
          launcher: resolved.config.launcher ?? runtime.defaultLauncher,
          ...(sweep?.scheduler ? { scheduler: sweep.scheduler } : {}),
          overrides: trial.overrides,
          built: buildAll(runtime, resolved, opts.cacheDir),
        }),
      );
    }
    if (total > shown)
      process.stdout.write(`# ... and ${total - shown} more (--first <n> prints more)\n`);
  } finally {
    uninstall();
  }
}

function launcherOf(
  runtime: Runtime,
  resolved: ResolvedExperiment,
  cacheDir: string,
): LauncherPlugin {
  const ref = resolved.config.launcher ?? runtime.defaultLauncher;
  if (!ref) throw new UserError('no launcher: name one with launcher: in the YAML or --launcher');
  return runtime.instantiate<LauncherPlugin>(
    runtime.createRunContainer(resolved, cacheDir),
    'launcher',
    ref,
  );
}

function printSweepEnd(
  result: Awaited<ReturnType<typeof runSweep>>,
  signal: { stop: boolean; reason?: string },
): void {
  const { record } = result;
  const lines = record.combinations.map(
    (c) =>
      `  ${c.status.padEnd(9)} ${c.overrides.join(' ').padEnd(40)} ${c.best ? `${c.best.metric}=${c.best.value.toFixed(4)}@${c.best.epoch + 1} ` : ''}${c.runDir}` +
      (c.stopped
        ? `\n            stopped after epoch ${c.stopped.epoch + 1}: ${c.stopped.reason}`
        : ''),
  );
  const b = record.best;
  const best = b
    ? b.mean !== undefined
      ? `best: combination ${b.group} by its mean ${b.metric} over ${b.n} seeds, ${b.mean.toFixed(4)} ± ${b.sd === undefined ? '-' : b.sd.toFixed(4)}; its best run ${record.combinations[b.index].overrides.join(' ')} (${b.value.toFixed(4)})\n`
      : `best: ${record.combinations[b.index].overrides.join(' ')} (${b.metric} ${b.value.toFixed(4)})\n`
    : '';
  process.stdout.write(
    `\nsweep ${record.sweepId}: ${record.combinations.length} runs, ${result.unfinished} not finished\n${lines.join('\n')}\n${best}` +
      `compare them: affectlab compare --sweep ${record.sweepId}` +
      (result.unfinished > 0
        ? `\nrerun the unfinished: affectlab run --resume ${result.dir}`
        : '') +
      '\n',
  );
  if (signal.stop) process.exitCode = signal.reason === 'SIGTERM' ? 143 : 130;
  else if (result.unfinished > 0) process.exitCode = 1;
}

/** A new sweep: one resolved config per combination, run by the launcher. */
async function launchSweep(
  runtime: Runtime,
  base: ResolvedExperiment,
  file: string,
  trials: SweepTrial[],
  group: string,
  launcherSet: string[],
  opts: RunCommandOptions,
): Promise<void> {
  const configs: (SweepTrial & { config: ExperimentConfig })[] = [];
  const scheduler = base.config.sweep?.scheduler;
  for (const trial of trials) {
    const resolved = await runtime.resolve(file, {
      overrides: [...launcherSet, ...(opts.set ?? []), ...trial.overrides],
      maxCombinations: opts.maxCombinations,
    });
    const {
      sweep: _sweep,
      launcher: _launcher,
      ...config
    } = absolutePlugins(resolved.config, file);
    // a launched run's working directory is the experiment file's, so a relative runs root
    // would put its run elsewhere than where the sweep looks for it
    config.runs = { ...config.runs, root: resolve(config.runs?.root ?? 'runs') };
    // the sweep's scheduler (e.g. asha) acts in every trial as one more callback
    if (scheduler) config.callbacks = [...(config.callbacks ?? []), scheduler];
    configs.push({ ...trial, config: config as ExperimentConfig });
  }
  // launcherOf fails when neither the YAML nor the composition root names one
  const launcher = launcherOf(runtime, base, opts.cacheDir);
  const launcherRef = (base.config.launcher ?? runtime.defaultLauncher) as PluginRef;
  const reporters = sweepReporters(runtime, base, opts.cacheDir);
  const { dir, record } = createSweep(group, file, base.config, configs, launcherRef);
  const info = sweepInfo(record, dir);
  // the reporters' tags for every child (MLflow: its parent run), written into each config
  const childTags: Record<string, string> = {};
  for (const r of reporters) {
    try {
      Object.assign(childTags, (await r.sweepStarted?.(info)) ?? {});
    } catch (error) {
      runtime.logger.warn(
        `sweep ${group}: a reporter failed at the sweep's start: ${(error as Error).message}`,
      );
    }
  }
  retagCombinations(record, childTags);
  const signal = { stop: false as boolean, reason: undefined as string | undefined };
  const uninstall = installStopHandlers(signal, "cancelling the sweep's runs");
  try {
    const result = await runSweep(runtime, dir, launcher, {
      cacheDir: opts.cacheDir,
      stopSignal: signal,
    });
    await endSweep(runtime, reporters, info, result, signal);
    printSweepEnd(result, signal);
  } finally {
    uninstall();
  }
}

function sweepReporters(
  runtime: Runtime,
  resolved: ResolvedExperiment,
  cacheDir: string,
): ReporterPlugin[] {
  const scope = runtime.createRunContainer(resolved, cacheDir);
  return runtime
    .reportersFor(resolved.config)
    .map((ref) => runtime.instantiate<ReporterPlugin>(scope, 'reporter', ref))
    .filter((r) => typeof r.sweepStarted === 'function' || typeof r.sweepEnded === 'function');
}

function sweepInfo(record: SweepRecord, dir: string): SweepInfo {
  return {
    sweepId: record.sweepId,
    experiment: record.experiment,
    sweepDir: dir,
    sourceFile: record.sourceFile,
    mode: record.mode,
    parameters: record.parameters,
    launcher: record.launcher,
    combinations: record.combinations.map((c) => ({
      index: c.index,
      overrides: c.overrides,
      runId: c.runId,
    })),
    startTime: record.createdAt,
  };
}

async function endSweep(
  runtime: Runtime,
  reporters: ReporterPlugin[],
  info: SweepInfo,
  result: Awaited<ReturnType<typeof runSweep>>,
  signal: { stop: boolean },
): Promise<void> {
  const { record } = result;
  const best = record.best
    ? {
        runId: record.best.runId,
        overrides: record.combinations[record.best.index].overrides,
        metric: record.best.metric,
        value: record.best.value,
      }
    : undefined;
  const failed = record.combinations.filter((c) => c.status !== 'FINISHED').length;
  const end: SweepEnd = {
    status: signal.stop ? 'KILLED' : failed > 0 ? 'FAILED' : 'FINISHED',
    finished: record.combinations.length - failed,
    failed,
    best,
  };
  for (const r of reporters) {
    try {
      await r.sweepEnded?.(info, end);
    } catch (error) {
      runtime.logger.warn(
        `sweep ${info.sweepId}: a reporter failed at the sweep's end: ${(error as Error).message}`,
      );
    }
  }
}

/** `run --resume <sweep>`: rerun only the combinations that did not finish. */
async function resumeSweep(runtime: Runtime, dir: string, opts: RunCommandOptions): Promise<void> {
  const record = readSweep(dir);
  const first = record.combinations[0];
  const resolved = await runtime.resolve(first.configFile);
  const ref =
    opts.launcher && opts.launcher !== record.launcher.type
      ? { type: opts.launcher }
      : record.launcher;
  const launcher = runtime.instantiate<LauncherPlugin>(
    runtime.createRunContainer(resolved, opts.cacheDir),
    'launcher',
    ref,
  );
  const reporters = sweepReporters(runtime, resolved, opts.cacheDir);
  const signal = { stop: false as boolean, reason: undefined as string | undefined };
  const uninstall = installStopHandlers(signal, "cancelling the sweep's runs");
  try {
    const result = await runSweep(runtime, dir, launcher, {
      cacheDir: opts.cacheDir,
      stopSignal: signal,
    });
    await endSweep(runtime, reporters, sweepInfo(result.record, dir), result, signal);
    printSweepEnd(result, signal);
  } finally {
    uninstall();
  }
}
