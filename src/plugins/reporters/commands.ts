import type { CommandModule } from '../../core/cli.js';

/** CLI commands contributed by the reporter plugins. */
export const reporterCommands: CommandModule[] = [];
