import 'reflect-metadata';
import { CliExtensions, type CommandModule } from './core/cli/extensions.js';
import { main } from './core/cli/program.js';
import { Registry } from './core/host/registry.js';
import { Runtime } from './core/host/runtime.js';
import { builtinPlugins } from './plugins/index.js';
import { expandCallbacks } from './plugins/callbacks/index.js';
import { builtinExtensions } from './plugins/extensions.js';
import { builtinExportFormats } from './plugins/exporters/index.js';

/** The composition root: core runtime + built-in plugins + their commands. */
export function createRuntime(): Runtime {
  const registry = new Registry();
  registry.registerAll(builtinPlugins);
  // what an experiment that names none gets (Keras' defaults: Adam at 1e-3, cross-entropy)
  registry.setDefault('optimizer', { type: 'adam', learningRate: 0.001 });
  registry.setDefault('classification-loss', { type: 'cross-entropy' });
  registry.setDefault('regression-loss', { type: 'mse' });
  const runtime = new Runtime(registry);
  // An experiment without `reporters:` gets the console; MLflow joins whenever the environment
  // names a tracking server (as with the MLflow Python client).
  runtime.reportersFor = (config) => {
    const listed = config.reporters ?? [{ type: 'console' }];
    const addMlflow =
      Boolean(process.env.MLFLOW_TRACKING_URI) &&
      registry.has('reporter', 'mlflow') &&
      !listed.some((r) => r.type === 'mlflow');
    return addMlflow ? [...listed, { type: 'mlflow' }] : listed;
  };
  runtime.defaultLauncher = { type: 'local' };
  runtime.defaultDetector = { type: 'face-api' };
  for (const format of builtinExportFormats) runtime.exportFormats.register(format);
  runtime.callbacksFor = (config) =>
    registry.has('callback', 'model-checkpoint')
      ? expandCallbacks(config)
      : (config.callbacks ?? []);
  return runtime;
}

/** What the built-in plugins add to the CLI: commands, doctor sections, run sources. */
export function createCliExtensions(): CliExtensions {
  const cli = new CliExtensions();
  for (const extensions of builtinExtensions) cli.extend(extensions);
  return cli;
}

/** `extra`: commands beyond core's and the plugins', for embedders. */
export async function runCli(argv: string[], extra: CommandModule[] = []): Promise<number> {
  return main(createRuntime(), argv, extra, createCliExtensions());
}
