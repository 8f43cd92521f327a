import type { Command } from 'commander';
import {
  allowPluginsOption,
  setOption,
  type CommandModule,
  BackendService,
  ConfigError,
  UserError,
  formatDiagnostic,
  unresolvedEnvDiagnostics,
  type ArchitecturePlugin,
  type DatasetPlugin,
  type Runtime,
} from '../../sdk/index.js';
import { formatSummary, summarizeModel, type ModelSummary } from './summary.js';

export interface SummaryCommandOptions {
  set?: string[];
  json?: boolean;
  cacheDir: string;
  allowPlugins?: boolean;
}

/**
 * Build an experiment's model without reading its data: the dataset plugin describes the input
 * shape and task from its options (`describeTask`), the architecture plugin builds the model.
 */
export async function summarizeExperiment(
  runtime: Runtime,
  file: string,
  options: { set?: string[]; cacheDir: string; allowPlugins?: boolean },
): Promise<ModelSummary> {
  const resolved = await runtime.resolve(file, {
    overrides: options.set,
    allowUnresolvedEnv: true,
    loadPlugins: options.allowPlugins === true,
  });
  const { config } = resolved;
  for (const note of resolved.unchecked) runtime.logger.warn(formatDiagnostic(note));
  // summary builds the dataset's and architecture's plugins: one an unloaded module provides
  // cannot be built
  const missing = (['dataset', 'architecture'] as const).filter(
    (kind) => !runtime.registry.has(kind, config[kind].type),
  );
  if (missing.length > 0)
    throw new ConfigError(
      resolved.unchecked
        .filter((d) => missing.some((kind) => d.path.startsWith(`$.${kind}`)))
        .map((d) => ({ ...d, message: d.message.replace(/^not checked: /, 'cannot build: ') })),
    );
  // Shapes and parameter counts do not depend on pretrained weights, so summary never reads
  // them (they may be large, or not converted yet): an architecture's `weights` option is
  // built as 'none'.
  const weightsSchema = (
    runtime.registry.get('architecture', config.architecture.type).optionsSchema as {
      properties?: Record<string, unknown>;
    }
  ).properties?.weights;
  const architectureRef =
    weightsSchema === undefined ? config.architecture : { ...config.architecture, weights: 'none' };
  // Any other `${env:X}` left unset in what summary builds would be used as literal text: name it.
  const used = (path: readonly (string | number)[]) =>
    path[0] === 'architecture' && !(weightsSchema !== undefined && path[1] === 'weights');
  const unset = unresolvedEnvDiagnostics(
    {
      ...resolved.composed,
      unresolvedEnv: resolved.composed.unresolvedEnv.filter((u) => used(u.path)),
    },
    runtime.registry.envHints(),
  );
  if (unset.length > 0) throw new ConfigError(unset);
  await runtime.container.resolve(BackendService).activate(config.training?.backend ?? 'auto');
  const scope = runtime.createRunContainer(resolved, options.cacheDir);
  const dataset = runtime.instantiate<DatasetPlugin>(scope, 'dataset', config.dataset);
  if (typeof dataset.describeTask !== 'function') {
    throw new UserError(
      `${file}: dataset '${config.dataset.type}' cannot describe its input shape and task without reading the data ` +
        '(its plugin has no describeTask()), so summary cannot build the model',
    );
  }
  const request = dataset.describeTask();
  const architecture = runtime.instantiate<ArchitecturePlugin>(
    scope,
    'architecture',
    architectureRef,
  );
  const model = await architecture.build(request);
  try {
    return summarizeModel(model);
  } finally {
    model.dispose();
  }
}

function registerSummaryCommand(program: Command, runtime: Runtime): void {
  program
    .command('summary')
    .addHelpText(
      'after',
      '\nExamples:\n  $ affectlab summary experiments/vgg6-weighted.yaml\n  $ affectlab summary experiments/quickstart.yaml --set architecture.filters=[16,32,64,64] --json\n',
    )
    .description(
      "build the experiment's model (without reading the data) and print its layers, output shapes and parameter counts",
    )
    .argument('<file>', 'experiment YAML file')
    .addOption(setOption())
    .addOption(allowPluginsOption())
    .option(
      '--json',
      'print JSON: {layers: [{name, className, outputShape, params, trainable}], totalParams, ...}',
    )
    .option(
      '--cache-dir <dir>',
      'cache directory (as for run; summary reads nothing from it)',
      process.env.AFFECTLAB_CACHE ?? '.cache/affectlab',
    )
    .action(async (file: string, opts: SummaryCommandOptions) => {
      const summary = await summarizeExperiment(runtime, file, opts);
      process.stdout.write(
        opts.json ? JSON.stringify(summary, null, 2) + '\n' : formatSummary(summary),
      );
    });
}

/** CLI commands contributed by the architecture plugins. */
export const architectureCommands: CommandModule[] = [registerSummaryCommand];
