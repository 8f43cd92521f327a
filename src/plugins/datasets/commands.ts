import type { CommandModule } from '../../core/cli.js';

/** CLI commands contributed by the dataset plugins. */
export const datasetCommands: CommandModule[] = [];
