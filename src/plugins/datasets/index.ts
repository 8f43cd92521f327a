import type { PluginDefinition } from '../../sdk/index.js';
import { affectnetDataset } from './affectnet/index.js';

/** Built-in dataset plugins, registered explicitly. */
export const datasetPlugins: PluginDefinition[] = [affectnetDataset as PluginDefinition];
