import type { ExportFormat } from '../../sdk/index.js';
import { kerasExportFormat } from './keras.js';
import { tfjsExportFormat } from './tfjs.js';
import { webExportFormat } from './web.js';
import { savedModelExportFormat } from './savedmodel.js';
import { mlflowModelExportFormat } from '../reporters/mlflow/model-export.js';

/**
 * Every built-in `affectlab export` format, registered by the composition root. `keras` is
 * written by the Keras import plugin's writer (architectures/keras-model); `savedmodel` and `mlflow` build on it (its result's path is the
 * .keras file).
 */
export const builtinExportFormats: ExportFormat[] = [
  tfjsExportFormat,
  webExportFormat,
  kerasExportFormat,
  savedModelExportFormat,
  mlflowModelExportFormat,
];
