import type { CommandModule } from '../core/cli/command.js';
import { architectureCommands } from './architectures/commands.js';
import { datasetCommands } from './datasets/commands.js';
import { reporterCommands } from './reporters/commands.js';
import { samplerCommands } from './samplers/commands.js';

/** CLI commands contributed by plugins (synth, summary, sync...). */
export const pluginCommands: CommandModule[] = [
  ...datasetCommands,
  ...samplerCommands,
  ...architectureCommands,
  ...reporterCommands,
];
