import type { PluginDefinition } from '../../sdk/index.js';
import { consoleReporter } from './console.js';
import { mlflowReporter } from './mlflow/reporter.js';

/** Built-in reporter plugins, registered explicitly. */
export const reporterPlugins: PluginDefinition[] = [consoleReporter, mlflowReporter];
