import type { PluginDefinition } from '../../sdk/index.js';
import { downSampleSampler } from './down-sample.js';
import { imbalancedSampler } from './imbalanced.js';
import { upSampleSampler } from './up-sample.js';
import { weightedSampler } from './weighted.js';

/** Built-in sampler plugins, registered explicitly. */
export const samplerPlugins: PluginDefinition[] = [
  imbalancedSampler,
  downSampleSampler,
  upSampleSampler,
  weightedSampler,
];
