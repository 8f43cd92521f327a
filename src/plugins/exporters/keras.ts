/**
 * `export --format keras`: the run's model as a Keras 3 `.keras` archive, written here without
 * Python (config.json, model.weights.h5 through h5wasm, metadata.json with the run's
 * description); `keras.saving.load_model` reads it. Layers Keras has no class for come as
 * Python classes in affectlab_keras_layers.py beside it. The savedmodel and mlflow formats wrap it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ExportFormat,
  describeModel,
  KERAS_LAYERS_MODULE,
  kerasLayersModuleSource,
} from '../../sdk/index.js';
import type { JsonObject } from '../architectures/keras-model/config.js';
import { KERAS_FORMAT_VERSION, writeKerasArchive } from '../architectures/keras-model/write.js';
import { DESCRIPTION_FILE } from './tfjs.js';

export const kerasExportFormat: ExportFormat = {
  name: 'keras',
  fileExtension: '.keras',
  description: `Keras ${KERAS_FORMAT_VERSION} .keras archive (written without Python), loads with keras.saving.load_model`,
  async export({ run, outDir }) {
    const model = await run.loadModel();
    const description = describeModel(run);
    const path = join(outDir, 'model.keras');
    let customLayers: string[];
    try {
      customLayers = await writeKerasArchive(model, path, {
        run: run.runId,
        experiment: run.experiment,
        model: run.modelSource,
        description: description as unknown as JsonObject,
      });
    } finally {
      model.dispose();
    }
    writeFileSync(join(outDir, DESCRIPTION_FILE), JSON.stringify(description, null, 2) + '\n');
    const files = ['model.keras', DESCRIPTION_FILE];
    const notes = [
      `Keras model of ${run.runId} (${run.modelSource}): keras.saving.load_model('${path}'); ` +
        `input and classes in metadata.json inside the archive (and in ${DESCRIPTION_FILE} of a folder export)`,
    ];
    if (customLayers.length > 0) {
      // layers Keras has no class for travel as Python classes, registered on import
      const module = `${KERAS_LAYERS_MODULE}.py`;
      writeFileSync(join(outDir, module), kerasLayersModuleSource(customLayers));
      files.push(module);
      notes.push(
        `its ${customLayers.join(', ')} layers are classes Keras lacks, in ${join(outDir, module)}: ` +
          `import ${KERAS_LAYERS_MODULE} (with ${outDir} on sys.path) before keras.saving.load_model`,
      );
    }
    return { path, files, notes };
  },
};
