import type { PluginDefinition } from '../../core/plugin.js';

/** Built-in sampler plugins, registered explicitly. */
export const samplerPlugins: PluginDefinition[] = [];
