import type { PluginDefinition } from '../../core/plugin.js';
import { consoleReporter } from './console.js';

/** Built-in reporter plugins, registered explicitly. */
export const reporterPlugins: PluginDefinition[] = [consoleReporter];
