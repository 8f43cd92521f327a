import 'reflect-metadata';
import { main, type CommandModule } from './core/cli.js';
import { Registry } from './core/registry.js';
import { Runtime } from './core/runtime.js';
import { builtinPlugins } from './plugins/index.js';
import { pluginCommands } from './plugins/commands.js';

/** The composition root: core runtime + built-in plugins + their commands. */
export function createRuntime(): Runtime {
  const registry = new Registry();
  registry.registerAll(builtinPlugins);
  const runtime = new Runtime(registry);
  // An experiment without `reporters:` gets the console, plus MLflow when the environment
  // names a tracking server (as the MLflow Python client does).
  runtime.defaultReporters = () => [
    { type: 'console' },
    ...(process.env.MLFLOW_TRACKING_URI && registry.has('reporter', 'mlflow') ? [{ type: 'mlflow' }] : []),
  ];
  return runtime;
}

export async function runCli(argv: string[], extra: CommandModule[] = pluginCommands): Promise<number> {
  return main(createRuntime(), argv, extra);
}
