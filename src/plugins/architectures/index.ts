import type { PluginDefinition } from '../../sdk/index.js';
import { alexNetPlugin } from './alexnet.js';
import { efficientNetB0Plugin } from './efficientnet-b0.js';
import { kerasModelPlugin } from './keras-model/index.js';
import { mobileNetV2Plugin } from './mobilenet-v2.js';
import { resNet50Plugin } from './resnet50.js';
import { vggTypePlugin } from './vgg-type.js';

/** Built-in architecture plugins, registered explicitly. */
export const architecturePlugins: PluginDefinition[] = [
  vggTypePlugin,
  resNet50Plugin,
  alexNetPlugin,
  mobileNetV2Plugin,
  efficientNetB0Plugin,
  kerasModelPlugin,
];

export {
  EXPRESSION_OUTPUT,
  VALENCE_AROUSAL_OUTPUT,
  LayerNames,
  buildTaskHeads,
  buildTaskModel,
  headOptionsSchema,
  requireInputSide,
  taskOutputNames,
  type HeadOptions,
  type RegressionActivation,
} from './heads.js';
export {
  LocalResponseNormalization,
  FreezableBatchNormalization,
  KerasNormalization,
} from './layers.js';
export { loadWeightsByLayerName, type WeightLoadReport } from './weights.js';
export { summarizeModel, formatSummary, type ModelSummary, type LayerSummary } from './summary.js';
