import type { PluginDefinition } from '../../sdk/index.js';
import { localLauncher } from './local.js';
import { rayLauncher } from './ray.js';
import { slurmLauncher } from './slurm.js';

/** Built-in launcher plugins, registered explicitly. */
export const launcherPlugins: PluginDefinition[] = [localLauncher, slurmLauncher, rayLauncher];
