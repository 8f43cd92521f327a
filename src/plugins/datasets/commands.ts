import type { CommandModule } from '../../sdk/index.js';
import { registerSynthCommand } from './affectnet/synth-command.js';

/** CLI commands contributed by the dataset plugins. */
export const datasetCommands: CommandModule[] = [registerSynthCommand];
