import type { PluginDefinition } from '../../core/plugin.js';

/** Built-in reporter plugins, registered explicitly. */
export const reporterPlugins: PluginDefinition[] = [];
