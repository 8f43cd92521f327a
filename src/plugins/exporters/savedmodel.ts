/**
 * `export --format savedmodel`: a TensorFlow SavedModel. tfjs-node can load SavedModels
 * (tf.node.loadSavedModel) but has no writer, so this goes through Python: the `keras` export's
 * .keras file, loaded by Keras and written with `model.export(format='tf_saved_model')`.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { UserError } from '../../core/errors.js';
import type { ExportFormat } from '../../core/inference/export-formats.js';
import { runKerasPython } from './python.js';

const EXPORT_SCRIPT = `
import sys
import keras
model = keras.saving.load_model(sys.argv[1])
model.export(sys.argv[2], format="tf_saved_model", verbose=False)
print(keras.__version__)
`;

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path, base) : [relative(base, path)];
    })
    .sort();
}

export const savedModelExportFormat: ExportFormat = {
  name: 'savedmodel',
  description:
    "TensorFlow SavedModel (serving signature 'serve'), written by Python Keras from the keras export",
  async export(context) {
    const { outDir, formats } = context;
    if (!formats.has('keras'))
      throw new UserError(
        `the SavedModel is written from the keras export, which this build does not register (formats: ${formats.names().join(', ')})`,
      );
    const kerasDir = join(outDir, '.keras-export');
    mkdirSync(kerasDir, { recursive: true });
    const keras = await formats.get('keras').export({ ...context, outDir: kerasDir });
    // model.export writes the SavedModel folder itself and refuses one that is not empty
    rmSync(join(outDir, 'saved_model'), { recursive: true, force: true });
    const savedModel = join(outDir, 'saved_model');
    const version = runKerasPython('export --format savedmodel', EXPORT_SCRIPT, [
      keras.path,
      savedModel,
    ]).trim();
    rmSync(kerasDir, { recursive: true, force: true });
    return {
      path: savedModel,
      files: filesUnder(outDir),
      notes: [
        `SavedModel of ${context.run.runId} (Keras ${version}): tf.saved_model.load('${savedModel}').serve(x), ` +
          `or tf.node.loadSavedModel('${savedModel}') in tfjs-node`,
      ],
    };
  },
};
