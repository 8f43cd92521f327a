/** `export --format tfjs`: the run's tfjs layers model as it is, with a description of its input. */
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ExportFormat, describeModel } from '../../sdk/index.js';

/** The description written next to every exported model (input, preprocessing, classes). */
export const DESCRIPTION_FILE = 'affectlab-model.json';

export const tfjsExportFormat: ExportFormat = {
  name: 'tfjs',
  description: 'TensorFlow.js layers model (model.json + weights), loads with tf.loadLayersModel',
  async export({ run, outDir }) {
    cpSync(run.modelDir, outDir, { recursive: true });
    writeFileSync(
      join(outDir, DESCRIPTION_FILE),
      JSON.stringify(describeModel(run), null, 2) + '\n',
    );
    return {
      path: join(outDir, 'model.json'),
      files: readdirSync(outDir).sort(),
      notes: [
        `tfjs model of ${run.runId} (${run.modelSource}): tf.loadLayersModel('file://${join(outDir, 'model.json')}'); ` +
          `input and classes in ${DESCRIPTION_FILE}`,
      ],
    };
  },
};
