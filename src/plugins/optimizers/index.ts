import type { PluginDefinition } from '../../sdk/index.js';
import { adamOptimizer } from './adam.js';
import { adamwOptimizer } from './adamw.js';
import { rmspropOptimizer } from './rmsprop.js';
import { sgdOptimizer } from './sgd.js';

/** Built-in optimizer plugins (`training.optimizer.type`), registered explicitly. */
export const optimizerPlugins: PluginDefinition[] = [
  adamOptimizer,
  adamwOptimizer,
  sgdOptimizer,
  rmspropOptimizer,
];
