export { kerasModelPlugin, KerasModel, type KerasModelOptions } from './plugin.js';
export {
  readKerasModelFile,
  readLegacyH5Weights,
  assignWeights,
  type KerasModelFile,
  type LayerWeight,
} from './read.js';
export { writeKerasArchive, kerasSnakeCase, KERAS_FORMAT_VERSION } from './write.js';
export { kerasToTfjsTopology, toKeras3Config } from './config.js';
