import type { CommandModule } from '../../core/cli/command.js';

/** CLI commands contributed by the sampler plugins. */
export const samplerCommands: CommandModule[] = [];
