import type { Command } from 'commander';
import { stringify } from 'yaml';
import { PLUGIN_SLOTS } from '../config/schema.js';
import type { PluginRef } from '../config/types.js';
import type { Runtime } from '../runtime.js';
import { setOption } from '../cli.js';

export interface RunCommandOptions {
  set?: string[];
  dryRun?: boolean;
  resume?: string;
  cacheDir: string;
}

export function registerRunCommand(program: Command, runtime: Runtime): void {
  program
    .command('run')
    .description('resolve an experiment, build its plugins, train, evaluate and report')
    .argument('<file>', 'experiment YAML file')
    .addOption(setOption())
    .option('--dry-run', 'stop after building every plugin and print what was built')
    .option('--cache-dir <dir>', 'cache for synthetic data and preprocessed images', process.env.AFFECTLAB_CACHE ?? '.cache/affectlab')
    .action(async (file: string, opts: RunCommandOptions) => {
      const resolved = await runtime.resolve(file, { overrides: opts.set, allowUnresolvedEnv: opts.dryRun });
      const scope = runtime.createRunContainer(resolved, opts.cacheDir);
      const built: Record<string, string> = {};
      for (const slot of PLUGIN_SLOTS) {
        const value = (resolved.config as unknown as Record<string, PluginRef | PluginRef[] | undefined>)[slot.key];
        const refs = value === undefined ? [] : Array.isArray(value) ? value : [value];
        refs.forEach((ref, i) => {
          const instance = runtime.instantiate<object>(scope, slot.kind, ref);
          built[slot.list ? `${slot.key}[${i}]` : slot.key] = `${ref.type} (${instance.constructor.name})`;
        });
      }
      process.stdout.write(stringify({ experiment: resolved.config.name, built }));
      if (opts.dryRun) return;
      runtime.logger.warn('training is not wired in yet: stopped after building every plugin');
    });
}
