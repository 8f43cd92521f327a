import type { CommandModule } from '../../sdk/index.js';

/** CLI commands contributed by the sampler plugins. */
export const samplerCommands: CommandModule[] = [];
