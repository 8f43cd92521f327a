/**
 * The `.keras` file the SavedModel and MLflow exports wrap: the `keras` export format's (the
 * Keras plugin's writer, no Python), with the outputs joined where a consumer needs one (also
 * without Python).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, KERAS_LAYERS_MODULE, type ExportContext } from '../../sdk/index.js';
import * as tf from '@tensorflow/tfjs';

/**
 * One output instead of several: the outputs side by side (a Concatenate layer named `outputs`),
 * for consumers that take a single array (MLflow's keras flavor turns the prediction into one
 * numpy array). Built here in tfjs, so no Python is needed.
 */
function joinOutputs(model: tf.LayersModel): tf.LayersModel {
  const joined = tf.layers
    .concatenate({ name: 'outputs' })
    .apply(model.outputs) as tf.SymbolicTensor;
  return tf.model({ inputs: model.inputs, outputs: joined, name: model.name });
}

/**
 * The .keras file, how it was made and, where the model has layers Keras has no class for, the
 * affectlab_keras_layers.py that declares them (imported before Keras loads the file).
 */
export interface KerasFile {
  path: string;
  route: string;
  layersModule?: string;
}

/**
 * The keras export format's file, written in `dir`; returns its path and how it was made.
 * `concatenate`: a model with several outputs gets one, the outputs side by side.
 */
export async function kerasFile(
  context: ExportContext,
  dir: string,
  options: { concatenate?: boolean } = {},
): Promise<KerasFile> {
  const oneOutput = options.concatenate && context.run.task.kind === 'expression+valence-arousal';
  if (!oneOutput) return writeKerasFile(context, dir);
  const run = {
    ...context.run,
    loadModel: async () => joinOutputs(await context.run.loadModel()),
  };
  const made = await writeKerasFile({ ...context, run }, dir);
  return { ...made, route: `${made.route}, outputs concatenated` };
}

async function writeKerasFile(context: ExportContext, dir: string): Promise<KerasFile> {
  mkdirSync(dir, { recursive: true });
  if (!context.formats.has('keras'))
    throw new UserError(
      `this export wraps the .keras file of \`export --format keras\`, which this build does not register (formats: ${context.formats.names().join(', ')})`,
    );
  const result = await context.formats.get('keras').export({ ...context, outDir: dir });
  if (!result.path.endsWith('.keras'))
    throw new Error(`the keras export format returned ${result.path}, not a .keras file`);
  const module = join(dir, `${KERAS_LAYERS_MODULE}.py`);
  return {
    path: result.path,
    route: 'the keras export format',
    ...(existsSync(module) ? { layersModule: module } : {}),
  };
}
