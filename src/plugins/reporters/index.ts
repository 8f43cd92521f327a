import type { PluginDefinition } from '../../core/plugin/plugin.js';
import { consoleReporter } from './console.js';
import { mlflowReporter } from './mlflow/reporter.js';

/** Built-in reporter plugins, registered explicitly. */
export const reporterPlugins: PluginDefinition[] = [consoleReporter, mlflowReporter];
