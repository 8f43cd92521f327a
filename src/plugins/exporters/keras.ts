/**
 * `export --format keras`: the run's model as a Keras 3 `.keras` archive, written here without
 * Python (config.json, model.weights.h5 through h5wasm, metadata.json with the run's
 * description); `keras.saving.load_model` reads it. The savedmodel and mlflow formats wrap it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportFormat } from '../../core/inference/export-formats.js';
import { describeModel } from '../../core/inference/trained-run.js';
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
    try {
      await writeKerasArchive(model, path, {
        run: run.runId,
        experiment: run.experiment,
        model: run.modelSource,
        description: description as unknown as JsonObject,
      });
    } finally {
      model.dispose();
    }
    writeFileSync(join(outDir, DESCRIPTION_FILE), JSON.stringify(description, null, 2) + '\n');
    return {
      path,
      files: ['model.keras', DESCRIPTION_FILE],
      notes: [
        `Keras model of ${run.runId} (${run.modelSource}): keras.saving.load_model('${path}'); ` +
          `input and classes in metadata.json inside the archive (and in ${DESCRIPTION_FILE} of a folder export)`,
      ],
    };
  },
};
