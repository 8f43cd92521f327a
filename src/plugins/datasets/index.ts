import type { PluginDefinition } from '../../core/plugin/plugin.js';
import { affectnetDataset } from './affectnet/index.js';

/** Built-in dataset plugins, registered explicitly. */
export const datasetPlugins: PluginDefinition[] = [affectnetDataset as PluginDefinition];
