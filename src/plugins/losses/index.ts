import type { PluginDefinition } from '../../sdk/index.js';
import { cccPlugin } from './ccc.js';
import { crossEntropyPlugin } from './cross-entropy.js';
import { msePlugin } from './mse.js';

/** Built-in loss plugins (`training.loss.classification` / `.regression`), registered explicitly. */
export const lossPlugins: PluginDefinition[] = [crossEntropyPlugin, msePlugin, cccPlugin];
