/**
 * Writing a tfjs LayersModel as a Keras 3 `.keras` archive without Python: config.json
 * (Keras 3's Functional config), metadata.json and model.weights.h5 (through h5wasm), zipped
 * uncompressed as Keras itself does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { hdf5 } from './hdf5.js';
import { toKeras3Config, type JsonObject } from './config.js';
import { kerasLayerClass } from '../../../sdk/index.js';

/** The Keras version whose format this writer follows (and the tests load it with). */
export const KERAS_FORMAT_VERSION = '3.15.1';

/** Keras' `naming.to_snake_case`, which names each layer's group in model.weights.h5. */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * model.weights.h5 as Keras 3 writes it: `layers/<snake_case class>[_n]/vars/<i>` in
 * model.layers order (Keras addresses layers by class and position, not by name), each `vars`
 * group naming its layer, plus the model's own empty `vars`.
 */
async function writeWeightsH5(
  model: tf.LayersModel,
  path: string,
  classOf: (layer: tf.layers.Layer) => string,
): Promise<void> {
  const h5 = await hdf5();
  const file = new h5.File(path, 'w');
  try {
    file.create_group('vars').create_attribute('name', model.name);
    const layers = file.create_group('layers');
    const used = new Map<string, number>();
    for (const layer of model.layers) {
      const base = kerasSnakeCase(classOf(layer));
      const count = used.get(base);
      used.set(base, (count ?? -1) + 1);
      const key = count === undefined ? base : `${base}_${count + 1}`;
      const vars = layers.create_group(key).create_group('vars');
      vars.create_attribute('name', layer.name);
      layer.weights.forEach((weight, i) => {
        const value = weight.read();
        vars.create_dataset({
          name: String(i),
          data: value.dataSync() as Float32Array,
          shape: value.shape,
          dtype: '<f',
        });
      });
    }
  } finally {
    file.close();
  }
}

/**
 * Write `model` to `path` as a `.keras` archive; `extra` goes into metadata.json under
 * `affectlab`. Returns the tfjs classes of its layers that travel as declared Python classes
 * (core/inference/keras-layers.ts): a reader imports their module before loading.
 */
export async function writeKerasArchive(
  model: tf.LayersModel,
  path: string,
  extra: JsonObject = {},
): Promise<string[]> {
  const config = toKeras3Config(model);
  const classes = new Map<string, string>();
  for (const layer of (config.config as JsonObject).layers as JsonObject[])
    classes.set(String(layer.name), String(layer.class_name));
  const dir = mkdtempSync(join(tmpdir(), 'affectlab-keras-out-'));
  try {
    const h5Path = join(dir, 'model.weights.h5');
    await writeWeightsH5(model, h5Path, (layer) => classes.get(layer.name) ?? layer.getClassName());
    const now = new Date().toISOString();
    const metadata = {
      keras_version: KERAS_FORMAT_VERSION,
      date_saved: `${now.slice(0, 10)}@${now.slice(11, 19)}`,
      affectlab: extra,
    };
    const encoder = new TextEncoder();
    const zipped = zipSync(
      {
        'metadata.json': [encoder.encode(JSON.stringify(metadata)), { level: 0 }],
        'config.json': [encoder.encode(JSON.stringify(config)), { level: 0 }],
        'model.weights.h5': [new Uint8Array(readFileSync(h5Path)), { level: 0 }],
      },
      { level: 0 },
    );
    writeFileSync(path, zipped);
    return [...new Set(model.layers.map((layer) => layer.getClassName()))].filter(
      (name) => kerasLayerClass(name) !== undefined,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
