import type { PluginDefinition } from '../../core/plugin.js';

/** Built-in architecture plugins, registered explicitly. */
export const architecturePlugins: PluginDefinition[] = [];
