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
  return new Runtime(registry);
}

export async function runCli(argv: string[], extra: CommandModule[] = pluginCommands): Promise<number> {
  return main(createRuntime(), argv, extra);
}
