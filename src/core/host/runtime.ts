import 'reflect-metadata';
import { dirname, resolve } from 'node:path';
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import { BackendService } from '../training/backend.js';
import { ConfigError, UserError, type Diagnostic } from '../../sdk/errors.js';
import { PLUGIN_OPTIONS, type PluginKind } from '../../sdk/contracts/plugin.js';
import { type DatasetPlugin, type ModelRequest } from '../../sdk/contracts/data.js';
import { Registry } from './registry.js';
import { Clock, Logger, Random, RunContext } from '../../sdk/services.js';
import {
  composeExperiment,
  unresolvedEnvDiagnostics,
  type ComposeOptions,
  type ResolvedExperiment,
} from '../config/compose.js';
import type { ExperimentConfig, PluginRef } from '../config/types.js';
import { validateExperiment } from '../config/validate.js';
import { monitorDiagnostics } from '../config/monitors.js';
import { loadExperimentPlugins, pluginSpecifierDiagnostics } from './loader.js';
import { withOptionDefaults } from './defaults.js';
import { ExportFormatRegistry } from '../inference/export-formats.js';

export type { ResolvedExperiment } from '../config/compose.js';

export interface ResolveOptions extends ComposeOptions {
  /** Accept `${env:X}` references that have no value (validate, config); `run` does not. */
  allowUnresolvedEnv?: boolean;
  /**
   * Import the modules of the experiment's `plugins:` list (default true: running an
   * experiment runs its code). false (validate, config, summary and run --dry-run without
   * --allow-plugins) imports nothing: every specifier is still checked, and the sections whose
   * plugin type only an unloaded module could provide are listed in `unchecked`.
   */
  loadPlugins?: boolean;
  /** The most runs a sweep may make (`--max-combinations`; default 10,000). */
  maxCombinations?: number;
}

/**
 * The application's root: a registry of plugins and a tsyringe container holding the core
 * services. Each run gets a child container; each plugin instance a grandchild holding its
 * options under PLUGIN_OPTIONS.
 */
export class Runtime {
  readonly container: DependencyContainer;
  /**
   * The reporters of a run: by default those the experiment lists. The composition root
   * replaces it (console by default, MLflow when MLFLOW_TRACKING_URI is set), so core names
   * no plugin.
   */
  /** Formats of `affectlab export` (the composition root registers tfjs, web, keras, mlflow...). */
  readonly exportFormats = new ExportFormatRegistry();

  reportersFor: (config: ExperimentConfig) => PluginRef[] = (config) => config.reporters ?? [];
  /**
   * The callbacks a run gets: the `callbacks:` list, plus whatever the composition root adds
   * (the built-in callbacks expand the `training.checkpoint`/`earlyStopping`/`learningRate`
   * shorthands here).
   */
  callbacksFor: (config: ExperimentConfig) => PluginRef[] = (config) => config.callbacks ?? [];

  /** The launcher of a sweep whose YAML names none (the composition root sets `local`). */
  defaultLauncher: PluginRef | undefined;

  /** The face detector `predict` uses on whole photos unless told otherwise (main.ts sets it). */
  defaultDetector: PluginRef | undefined;

  constructor(readonly registry: Registry) {
    this.container = globalContainer.createChildContainer();
    this.container.registerInstance(Registry, registry);
    this.container.registerSingleton(Logger);
    this.container.registerSingleton(Clock);
    this.container.registerSingleton(BackendService);
  }

  get logger(): Logger {
    return this.container.resolve(Logger);
  }

  /** Compose, load external plugins, validate. Throws ConfigError with file:line:col. */
  async resolve(file: string, options: ResolveOptions = {}): Promise<ResolvedExperiment> {
    const composed = composeExperiment(file, options);
    const refused = pluginSpecifierDiagnostics(composed);
    const load = options.loadPlugins ?? true;
    // a refused specifier stops a run before any module of the list is imported
    if (load && refused.length > 0) throw new ConfigError(refused);
    const externalPlugins = load ? await loadExperimentPlugins(composed, this.registry) : [];
    const listed = Array.isArray(composed.config.plugins) ? composed.config.plugins : [];
    const unchecked: Diagnostic[] = [];
    const config = validateExperiment(composed, this.registry, options.env, {
      pluginsNotLoaded: load ? [] : listed.map(String),
      unchecked,
      extra: load ? [] : refused,
      maxCombinations: options.maxCombinations,
    }) as unknown as ExperimentConfig;
    if (!load && listed.length > 0)
      unchecked.unshift({
        ...(composed.sources.locate(['plugins']) ?? { file }),
        path: '$.plugins',
        message:
          `not imported: ${listed.join(', ')} (reading a config runs no code from it; ` +
          '--allow-plugins imports them)',
      });
    const resolved = { file, composed, config, externalPlugins, unchecked };
    // Monitored metric names depend on the task, which only the dataset plugin knows.
    let request: ModelRequest | undefined;
    try {
      // (a dataset type from a module not loaded cannot describe it: nothing to check then)
      if (this.registry.has('dataset', config.dataset.type)) request = this.describeTask(resolved);
    } catch (error) {
      // e.g. an unknown class preset: a problem in the dataset's options, so name them.
      if (!(error instanceof UserError) || error instanceof ConfigError) throw error;
      const loc = composed.sources.locate(['dataset']) ?? { file };
      throw new ConfigError([{ ...loc, path: '$.dataset', message: error.message }]);
    }
    if (request) {
      const monitors = monitorDiagnostics(composed, config, request.task);
      if (monitors.length > 0) throw new ConfigError(monitors);
    }
    if (!options.allowUnresolvedEnv && composed.unresolvedEnv.length > 0) {
      throw new ConfigError(unresolvedEnvDiagnostics(composed, this.registry.envHints()));
    }
    return resolved;
  }

  /**
   * The model input and task the experiment's dataset poses, from its options alone (the
   * plugin is built, no data is read), or undefined when the plugin cannot tell without data.
   */
  describeTask(
    resolved: ResolvedExperiment,
    cacheDir = '.cache/affectlab',
  ): ModelRequest | undefined {
    const scope = this.createRunContainer(resolved, cacheDir);
    const dataset = this.instantiate<DatasetPlugin>(scope, 'dataset', resolved.config.dataset);
    return typeof dataset.describeTask === 'function' ? dataset.describeTask() : undefined;
  }

  /** A child container for one run, with its seeded RNG and context. */
  createRunContainer(resolved: ResolvedExperiment, cacheDir: string): DependencyContainer {
    const { config } = resolved;
    return this.createScope(
      new RunContext(
        config.name,
        resolved.file,
        config.seed,
        resolve(cacheDir),
        dirname(resolve(resolved.file)),
        sweepOf(config),
      ),
    );
  }

  /**
   * A child container holding `context` and an RNG seeded with its seed: a run's (above), or
   * one made in code to build plugins outside a run (benchmarks, notebooks).
   */
  createScope(context: RunContext): DependencyContainer {
    const child = this.container.createChildContainer();
    child.registerInstance(Random, new Random(context.seed));
    child.registerInstance(RunContext, context);
    return child;
  }

  /**
   * Build one plugin: its class resolved in a grandchild container that holds its options,
   * with its schema's defaults filled in (here, for every plugin, so no plugin class re-states
   * a default; refs made in code, like the callbacks of the training shorthands or the default
   * launcher, get them too).
   */
  instantiate<T>(scope: DependencyContainer, kind: PluginKind, ref: PluginRef): T {
    const definition = this.registry.get(kind, ref.type);
    const { type: _type, ...given } = ref;
    const options = withOptionDefaults(definition, given);
    const pluginScope = scope.createChildContainer();
    pluginScope.register(PLUGIN_OPTIONS, { useValue: options });
    if (definition.inject) {
      const args = definition.inject.map((token) => pluginScope.resolve(token));
      return new definition.implementation(...args) as T;
    }
    return pluginScope.resolve(definition.implementation) as T;
  }
}

/** A sweep's trial carries its sweep and index as tags (written by the sweep, see sweep-launch). */
function sweepOf(config: ExperimentConfig): RunContext['sweep'] {
  const id = config.tags?.['affectlab.sweep'];
  const trial = Number(config.tags?.['affectlab.trial']);
  if (!id || !Number.isInteger(trial)) return undefined;
  return { id, dir: resolve(config.runs?.root ?? 'runs', 'sweeps', id), trial };
}
