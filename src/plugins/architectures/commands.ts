import type { CommandModule } from '../../core/cli.js';

/** CLI commands contributed by the architecture plugins. */
export const architectureCommands: CommandModule[] = [];
