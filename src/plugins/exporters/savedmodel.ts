/**
 * `export --format savedmodel`: a TensorFlow SavedModel. tfjs-node can load SavedModels
 * (tf.node.loadSavedModel) but has no writer, so this goes through Python: the run's .keras
 * file (keras-file.ts), loaded by Keras and written with `model.export(format='tf_saved_model')`.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ExportFormat, RunStore } from '../../sdk/index.js';
import { kerasFile } from './keras-file.js';
import { runKerasPython } from './python.js';

const EXPORT_SCRIPT = `
import sys
import keras
model = keras.saving.load_model(sys.argv[1])
model.export(sys.argv[2], format="tf_saved_model", verbose=False)
print(keras.__version__)
`;

export const savedModelExportFormat: ExportFormat = {
  name: 'savedmodel',
  description:
    "TensorFlow SavedModel (serving signature 'serve'), written by Python Keras (.venv-keras)",
  async export(context) {
    const { outDir } = context;
    const kerasDir = join(outDir, '.keras-export');
    const keras = await kerasFile(context, kerasDir);
    // model.export writes the SavedModel folder itself and refuses one that is not empty
    rmSync(join(outDir, 'saved_model'), { recursive: true, force: true });
    const savedModel = join(outDir, 'saved_model');
    const version = runKerasPython(
      'export --format savedmodel',
      EXPORT_SCRIPT,
      [keras.path, savedModel],
      keras.layersModule,
    ).trim();
    rmSync(kerasDir, { recursive: true, force: true });
    return {
      path: savedModel,
      files: new RunStore(outDir).files(),
      notes: [
        `SavedModel of ${context.run.runId} (Keras ${version}, from ${keras.route}): tf.saved_model.load('${savedModel}').serve(x), ` +
          `or tf.node.loadSavedModel('${savedModel}') in tfjs-node`,
      ],
    };
  },
};
