import { isAbsolute, resolve, dirname } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { PLUGIN_SLOTS } from '../config/schema.js';
import type { ExperimentConfig, PluginRef } from '../config/types.js';
import { UserError } from '../errors.js';
import type { ResolvedExperiment, Runtime } from '../runtime.js';
import { setOption } from '../cli.js';
import { runExperiment, type RunResult } from '../runner/experiment-run.js';
import { RunStore } from '../runner/run-store.js';
import { expandSweep } from '../runner/sweep.js';

export interface RunCommandOptions {
  set?: string[];
  dryRun?: boolean;
  resume?: string;
  cacheDir: string;
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
      const instance = runtime.instantiate<object>(scope, slot.kind, ref);
      built[slot.list ? `${slot.key}[${i}]` : slot.key] =
        `${ref.type} (${instance.constructor.name})`;
    });
  }
  return built;
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

/** SIGINT/SIGTERM finish the current step, checkpoint and mark the run KILLED; a second one exits at once. */
function installStopHandlers(signal: { stop: boolean; reason?: string }): () => void {
  const handler = (name: NodeJS.Signals) => {
    if (signal.stop) {
      process.stderr.write(`\n${name} again: exiting without waiting\n`);
      process.exit(name === 'SIGINT' ? 130 : 143);
    }
    signal.stop = true;
    signal.reason = name;
    process.stderr.write(
      `\n${name}: finishing the current step, then writing a checkpoint (press again to exit at once)\n`,
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

export function registerRunCommand(program: Command, runtime: Runtime): void {
  program
    .command('run')
    .description(
      'resolve an experiment, build its plugins, train, evaluate and report (a sweep runs each combination)',
    )
    .argument('[file]', 'experiment YAML file (omit with --resume)')
    .addOption(setOption())
    .option('--dry-run', 'stop after building every plugin and print what was built')
    .option(
      '--resume <run>',
      'continue a run (its directory, or its id under the runs root) from its last completed epoch',
    )
    .option(
      '--cache-dir <dir>',
      'cache for synthetic data and preprocessed images',
      process.env.AFFECTLAB_CACHE ?? '.cache/affectlab',
    )
    .action(async (file: string | undefined, opts: RunCommandOptions) => {
      if (opts.resume) {
        const store = RunStore.open(opts.resume);
        file = store.path('config.yaml');
      }
      if (!file) throw new UserError('give an experiment file, or --resume <run>');
      const base = await runtime.resolve(file, {
        overrides: opts.set,
        allowUnresolvedEnv: opts.dryRun,
      });
      const combos = opts.resume ? [[]] : expandSweep(base.config.sweep);
      const group = base.config.sweep
        ? (base.config.sweep.group ?? `${base.config.name}-${Date.now().toString(36)}`)
        : undefined;
      const signal = { stop: false as boolean, reason: undefined as string | undefined };
      const uninstall = installStopHandlers(signal);
      const results: RunResult[] = [];
      try {
        for (const [i, combo] of combos.entries()) {
          const resolved = combo.length
            ? await runtime.resolve(file, {
                overrides: [...(opts.set ?? []), ...combo],
                allowUnresolvedEnv: opts.dryRun,
              })
            : base;
          if (combos.length > 1)
            runtime.logger.info(
              `sweep ${group}: run ${i + 1} of ${combos.length}: ${combo.join(' ')}`,
            );
          if (opts.dryRun) {
            process.stdout.write(
              stringify({
                experiment: resolved.config.name,
                ...(combo.length ? { overrides: combo } : {}),
                built: buildAll(runtime, resolved, opts.cacheDir),
              }),
            );
            continue;
          }
          const { sweep: _sweep, ...config } = absolutePlugins(resolved.config, file);
          const result = await runExperiment(
            runtime,
            { ...resolved, config: config as ExperimentConfig },
            {
              cacheDir: opts.cacheDir,
              resume: opts.resume,
              group,
              stopSignal: signal,
            },
          );
          results.push(result);
          if (result.status === 'KILLED') {
            process.exitCode = signal.reason === 'SIGTERM' ? 143 : 130;
            return;
          }
        }
      } finally {
        uninstall();
      }
      if (results.length > 1) {
        process.stdout.write(
          `\nsweep ${group}: ${results.length} runs\n${results.map((r) => `  ${r.status.padEnd(9)} ${r.runDir}`).join('\n')}\ncompare them: affectlab compare --group ${group}\n`,
        );
      }
    });
}
