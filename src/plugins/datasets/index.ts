import type { PluginDefinition } from '../../core/plugin.js';

/** Built-in dataset plugins, registered explicitly. */
export const datasetPlugins: PluginDefinition[] = [];
