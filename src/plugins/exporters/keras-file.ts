/**
 * The `.keras` file the SavedModel and MLflow exports wrap: the `keras` export format's (the
 * Keras plugin's writer, no Python), with the outputs joined where a consumer needs one.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { KERAS_LAYERS_MODULE } from '../../core/inference/keras-layers.js';
import type { ExportContext } from '../../core/inference/export-formats.js';
import { runKerasPython } from './python.js';

/**
 * One output instead of several: the outputs side by side (Concatenate), for consumers that
 * take a single array (MLflow's keras flavor turns the prediction into one numpy array).
 */
const CONCATENATE_SCRIPT = `
import sys
import keras
model = keras.saving.load_model(sys.argv[1])
if len(model.outputs) > 1:
    joined = keras.layers.Concatenate(name="outputs")(list(model.outputs))
    model = keras.Model(model.inputs, joined, name=model.name)
model.save(sys.argv[2])
print(len(model.outputs))
`;

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
  const made = await writeKerasFile(context, dir);
  if (!options.concatenate || context.run.task.kind !== 'expression+valence-arousal') return made;
  const path = join(dir, 'model-one-output.keras');
  runKerasPython(
    'joining the model outputs',
    CONCATENATE_SCRIPT,
    [made.path, path],
    made.layersModule,
  );
  return { ...made, path, route: `${made.route}, outputs concatenated` };
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
