/**
 * Reading Keras models without Python: a Keras 3 `.keras` archive (a zip of config.json,
 * metadata.json and model.weights.h5) or a legacy Keras 2 `.h5`/`.hdf5` model (the
 * `model_config` attribute and the `model_weights` group), or a legacy weights-only `.h5`
 * (what Keras Applications download). The model config becomes a tfjs-layers topology (which
 * is Keras 2's JSON format), the weights float32 arrays per layer name.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { unzipSync } from 'fflate';
import { UserError, markPretrained } from '../../../sdk/index.js';
import {
  isDataset,
  isGroup,
  openHdf5,
  readFloats,
  stringAttribute,
  stringListAttribute,
} from './hdf5.js';
import { kerasToTfjsTopology, type JsonObject } from './config.js';

export interface LayerWeight {
  /** The weight's own name (`kernel`), when the file says it (legacy h5); else `vars/<i>`. */
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface KerasModelFile {
  /** The file, for messages. */
  source: string;
  format: 'keras' | 'h5';
  kerasVersion?: string;
  /** The model as a tfjs-layers (Keras 2 JSON) topology. */
  topology: JsonObject;
  /** Weights by layer name, in the layer's weight order. */
  weights: Map<string, LayerWeight[]>;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

function parseJson(text: string, label: string): JsonObject {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new Error('not an object');
    return value as JsonObject;
  } catch (error) {
    throw new UserError(`${label}: invalid JSON (${(error as Error).message})`);
  }
}

/** Read a `.keras` archive or a legacy `.h5` model file. */
export async function readKerasModelFile(path: string): Promise<KerasModelFile> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UserError(
      `${path}: cannot read the Keras model (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const isZip = ZIP_MAGIC.every((b, i) => bytes[i] === b);
  return isZip ? readKerasArchive(path, bytes) : readLegacyH5Model(path);
}

async function readKerasArchive(path: string, bytes: Buffer): Promise<KerasModelFile> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      filter: (file) => ['config.json', 'metadata.json', 'model.weights.h5'].includes(file.name),
    });
  } catch (error) {
    throw new UserError(`${path}: not a readable .keras archive (${(error as Error).message})`);
  }
  for (const name of ['config.json', 'model.weights.h5']) {
    if (!entries[name]) throw new UserError(`${path}: the .keras archive has no ${name}`);
  }
  const decoder = new TextDecoder();
  const config = parseJson(decoder.decode(entries['config.json']), `${path}!config.json`);
  const metadata = entries['metadata.json']
    ? parseJson(decoder.decode(entries['metadata.json']), `${path}!metadata.json`)
    : {};
  const topology = kerasToTfjsTopology(config, `${path}!config.json`);
  // h5wasm reads from the filesystem: the weights file goes to a private temp dir for the read.
  const dir = mkdtempSync(join(tmpdir(), 'affectlab-keras-'));
  try {
    const h5Path = join(dir, 'model.weights.h5');
    writeFileSync(h5Path, entries['model.weights.h5']);
    const weights = await readKeras3Weights(h5Path, `${path}!model.weights.h5`);
    return {
      source: path,
      format: 'keras',
      kerasVersion: typeof metadata.keras_version === 'string' ? metadata.keras_version : undefined,
      topology,
      weights,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Keras 3 weights: `layers/<snake_case class>[_n]/vars/<i>` whose `vars` group carries the
 * layer's name as an attribute; nested models would have `layers/<model>/layers/...`.
 */
async function readKeras3Weights(path: string, label: string): Promise<Map<string, LayerWeight[]>> {
  const file = await openHdf5(path, label);
  try {
    const weights = new Map<string, LayerWeight[]>();
    const layers = file.get('layers');
    if (!isGroup(layers)) return weights;
    for (const key of layers.keys()) {
      const layer = layers.get(key);
      if (!isGroup(layer)) continue;
      if (layer.keys().includes('layers'))
        throw new UserError(
          `${label}: layers/${key} is a nested model, which keras-model does not import (flatten it in Keras first)`,
        );
      const vars = layer.get('vars');
      if (!isGroup(vars)) continue;
      const name = stringAttribute(vars, 'name') ?? key;
      const values: LayerWeight[] = [];
      const indices = vars
        .keys()
        .map(Number)
        .sort((a, b) => a - b);
      for (const index of indices) {
        const dataset = vars.get(String(index));
        if (!isDataset(dataset)) continue;
        values.push({ name: `vars/${index}`, ...readFloats(dataset, label) });
      }
      weights.set(name, values);
    }
    return weights;
  } finally {
    file.close();
  }
}

/** A legacy Keras 2 `.h5` model: `model_config` plus the weights under `model_weights`. */
async function readLegacyH5Model(path: string): Promise<KerasModelFile> {
  const file = await openHdf5(path);
  try {
    const configText = stringAttribute(file, 'model_config');
    if (configText === undefined) {
      throw new UserError(
        `${path}: an HDF5 file without a model_config attribute (a weights-only file?): keras-model needs a whole model ` +
          "saved with Keras' model.save (.keras or .h5)",
      );
    }
    const topology = kerasToTfjsTopology(
      parseJson(configText, `${path}: model_config`),
      `${path}: model_config`,
    );
    const weightsGroup = file.get('model_weights');
    if (!isGroup(weightsGroup))
      throw new UserError(`${path}: the model file has no model_weights group`);
    return {
      source: path,
      format: 'h5',
      kerasVersion: stringAttribute(file, 'keras_version'),
      topology,
      weights: legacyWeights(weightsGroup, path),
    };
  } finally {
    file.close();
  }
}

/**
 * Legacy (Keras 2 / `save_weights` to .h5) weights: one group per layer (`layer_names`), each
 * listing its datasets in weight order (`weight_names`, e.g. `conv1_conv/kernel:0`).
 */
function legacyWeights(
  root: import('h5wasm/node').Group,
  label: string,
): Map<string, LayerWeight[]> {
  const layerNames = stringListAttribute(root, 'layer_names');
  if (!layerNames)
    throw new UserError(`${label}: no layer_names attribute: not a Keras weights file`);
  const weights = new Map<string, LayerWeight[]>();
  for (const layerName of layerNames) {
    const group = root.get(layerName);
    if (!isGroup(group))
      throw new UserError(`${label}: layer_names lists ${layerName} but there is no such group`);
    const names = stringListAttribute(group, 'weight_names') ?? [];
    const values = names.map((weightName) => {
      const dataset = group.get(weightName);
      if (!isDataset(dataset))
        throw new UserError(
          `${label}: layer ${layerName} lists weight ${weightName} but the file has no such dataset`,
        );
      const short = weightName.replace(/:\d+$/, '').split('/').pop() ?? weightName;
      return { name: short, ...readFloats(dataset, label) };
    });
    weights.set(layerName, values);
  }
  return weights;
}

/** A legacy weights-only `.h5` (Keras Applications' downloads), or the weights of a legacy model file. */
export async function readLegacyH5Weights(path: string): Promise<Map<string, LayerWeight[]>> {
  const file = await openHdf5(path);
  try {
    const group = file.get('model_weights');
    return legacyWeights(isGroup(group) ? group : file, path);
  } finally {
    file.close();
  }
}

/**
 * Set each layer's weights from `weights` by layer name. Every layer that has weights must find
 * them, with the same count and shapes; weights for layers the model lacks are an error too
 * unless `allowUnused` (a replaced head leaves the old one's weights unused).
 */
export function assignWeights(
  layers: readonly tf.layers.Layer[],
  weights: Map<string, LayerWeight[]>,
  source: string,
  allowUnused = false,
): { layers: number; tensors: number; unused: string[] } {
  const used = new Set<string>();
  const assignments: { layer: tf.layers.Layer; values: tf.Tensor[] }[] = [];
  try {
    for (const layer of layers) {
      const wanted = layer.weights;
      if (wanted.length === 0) continue;
      const found = weights.get(layer.name);
      if (!found)
        throw new UserError(
          `${source}: no weights for layer '${layer.name}' (${layer.getClassName()}) in the file`,
        );
      if (found.length !== wanted.length)
        throw new UserError(
          `${source}: layer '${layer.name}' (${layer.getClassName()}) has ${wanted.length} weights but the file has ${found.length}`,
        );
      const values = found.map((value, i) => {
        const shape = wanted[i].shape as number[];
        if (!tf.util.arraysEqual(value.shape, shape))
          throw new UserError(
            `${source}: layer '${layer.name}' weight ${i} (${wanted[i].originalName.split('/').pop() ?? ''}) has shape ` +
              `[${value.shape.join(', ')}] in the file but the layer needs [${shape.join(', ')}]`,
          );
        return tf.tensor(value.values, value.shape, 'float32');
      });
      used.add(layer.name);
      assignments.push({ layer, values });
    }
    const unused = [...weights]
      .filter(([name, list]) => list.length > 0 && !used.has(name))
      .map(([name]) => name);
    if (unused.length > 0 && !allowUnused)
      throw new UserError(
        `${source}: weights for layer(s) the model does not have: ${unused.slice(0, 5).join(', ')}`,
      );
    for (const { layer, values } of assignments) {
      layer.setWeights(values);
      markPretrained(layer.weights);
    }
    return {
      layers: assignments.length,
      tensors: assignments.reduce((n, a) => n + a.values.length, 0),
      unused,
    };
  } finally {
    for (const { values } of assignments) tf.dispose(values);
  }
}
