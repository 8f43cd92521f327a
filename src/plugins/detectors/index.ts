import type { PluginDefinition } from '../../sdk/index.js';
import { faceApiDetectorPlugin } from './face-api.js';

export const detectorPlugins: PluginDefinition[] = [faceApiDetectorPlugin];
