/**
 * The `.keras` file the SavedModel and MLflow exports wrap: from the `keras` export format when
 * one is registered (the Keras plugin's writer), else converted from the run's tfjs model by
 * Python Keras in .venv-keras (the same Python the SavedModel needs anyway).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ExportContext } from '../../core/inference/export-formats.js';
import { runKerasPython } from './python.js';

/**
 * tfjs' layers topology is Keras' own (Keras 2 style, snake_case); Keras 3 reads it once each
 * layer and nested initializer/regularizer/constraint names its module, InputLayer's
 * `batch_input_shape` is `batch_shape`, and affectlab's FreezableBatchNormalization (Keras'
 * BatchNormalization semantics when frozen) is Keras' BatchNormalization. Weights are set by
 * `<layer>/<weight>` name from the tfjs manifest, each one used exactly once.
 */
const CONVERT_SCRIPT = `
import json, os, sys
import numpy as np
import keras

model_dir, out = sys.argv[1], sys.argv[2]
MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers", "constraint": "keras.constraints"}
RENAMED = {"FreezableBatchNormalization": "BatchNormalization"}
manifest_json = json.load(open(os.path.join(model_dir, "model.json")))
topology = manifest_json["modelTopology"]
topology = topology.get("model_config", topology)
config = topology["config"]
layers = config["layers"] if isinstance(config, dict) else config
for layer in layers:
    layer["class_name"] = RENAMED.get(layer["class_name"], layer["class_name"])
    if not hasattr(keras.layers, layer["class_name"]):
        sys.exit(f"layer {layer['config'].get('name')} is a {layer['class_name']}, which Keras has no class for: this model cannot be converted by Python Keras")
    cfg = layer["config"]
    if layer["class_name"] == "InputLayer" and "batch_input_shape" in cfg:
        cfg["batch_shape"] = cfg.pop("batch_input_shape")
    for key, value in cfg.items():
        kind = next((k for k in MODULES if key.endswith(k)), None)
        if kind and isinstance(value, dict) and "class_name" in value:
            value["module"] = MODULES[kind]
            value["registered_name"] = None
    layer["module"] = "keras.layers"
    layer["registered_name"] = None
kind = {"Model": "Functional", "Functional": "Functional", "Sequential": "Sequential"}[topology["class_name"]]
module = "keras.src.models.functional" if kind == "Functional" else "keras"
model = keras.saving.deserialize_keras_object({"module": module, "class_name": kind, "config": config, "registered_name": kind})
data = b"".join(open(os.path.join(model_dir, p), "rb").read() for g in manifest_json["weightsManifest"] for p in g["paths"])
values, offset = {}, 0
for group in manifest_json["weightsManifest"]:
    for w in group["weights"]:
        if w.get("dtype", "float32") != "float32" or "quantization" in w:
            sys.exit(f"weight {w['name']} is {w.get('dtype')} / quantized: only float32 weights convert")
        n = int(np.prod(w["shape"]))
        values[w["name"]] = np.frombuffer(data, dtype=np.float32, count=n, offset=offset).reshape(w["shape"])
        offset += 4 * n
used = []
for layer in model.layers:
    names = [f"{layer.name}/{v.name}" for v in layer.weights]
    missing = [n for n in names if n not in values]
    if missing:
        sys.exit(f"the tfjs model has no weights {', '.join(missing)}")
    if names:
        layer.set_weights([values[n] for n in names])
        used += names
unused = sorted(set(values) - set(used))
if unused or len(used) != len(set(used)):
    sys.exit(f"tfjs weights not placed in the Keras model: {', '.join(unused)}")
model.save(out)
print(keras.__version__)
`;

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
 * Write `<dir>/model.keras` (or the keras format's file); returns its path and how it was made.
 * `concatenate`: a model with several outputs gets one, the outputs side by side.
 */
export async function kerasFile(
  context: ExportContext,
  dir: string,
  options: { concatenate?: boolean } = {},
): Promise<{ path: string; route: string }> {
  const made = await writeKerasFile(context, dir);
  if (!options.concatenate || context.run.task.kind !== 'expression+valence-arousal') return made;
  const path = join(dir, 'model-one-output.keras');
  runKerasPython('joining the model outputs', CONCATENATE_SCRIPT, [made.path, path]);
  return { path, route: `${made.route}, outputs concatenated` };
}

async function writeKerasFile(
  context: ExportContext,
  dir: string,
): Promise<{ path: string; route: string }> {
  mkdirSync(dir, { recursive: true });
  if (context.formats.has('keras')) {
    const result = await context.formats.get('keras').export({ ...context, outDir: dir });
    if (!result.path.endsWith('.keras'))
      throw new Error(`the keras export format returned ${result.path}, not a .keras file`);
    return { path: result.path, route: 'the keras export format' };
  }
  const path = join(dir, 'model.keras');
  const version = runKerasPython('converting the tfjs model to Keras', CONVERT_SCRIPT, [
    context.run.modelDir,
    path,
  ]).trim();
  return { path, route: `the tfjs model converted by Python Keras ${version}` };
}
