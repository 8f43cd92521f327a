import type { PluginDefinition } from '../sdk/index.js';
import { architecturePlugins } from './architectures/index.js';
import { callbackPlugins } from './callbacks/index.js';
import { datasetPlugins } from './datasets/index.js';
import { detectorPlugins } from './detectors/index.js';
import { launcherPlugins } from './launchers/index.js';
import { lossPlugins } from './losses/index.js';
import { optimizerPlugins } from './optimizers/index.js';
import { reporterPlugins } from './reporters/index.js';
import { samplerPlugins } from './samplers/index.js';

/**
 * Every built-in plugin, registered explicitly. A new built-in plugin is one import and one
 * entry in its kind's index; plugins outside the repository come from an experiment's
 * `plugins:` list.
 */
export const builtinPlugins: PluginDefinition[] = [
  ...datasetPlugins,
  ...samplerPlugins,
  ...architecturePlugins,
  ...reporterPlugins,
  ...launcherPlugins,
  ...callbackPlugins,
  ...optimizerPlugins,
  ...lossPlugins,
  ...detectorPlugins,
];
