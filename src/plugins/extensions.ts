import type { PluginExtensions } from '../sdk/index.js';
import { architectureCommands } from './architectures/commands.js';
import { datasetCommands } from './datasets/commands.js';
import { mlflowExtensions } from './reporters/mlflow/extensions.js';
import { samplerCommands } from './samplers/commands.js';

/**
 * What the built-in plugins add to the CLI (synth, summary, sync; doctor's mlflow section;
 * compare --from mlflow), handed to CliExtensions.extend by the composition root (createCliExtensions in main.ts).
 */
export const builtinExtensions: PluginExtensions[] = [
  { commands: datasetCommands },
  { commands: samplerCommands },
  { commands: architectureCommands },
  mlflowExtensions,
];
