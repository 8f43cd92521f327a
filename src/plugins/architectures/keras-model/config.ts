/**
 * Keras model configs both ways. tfjs-layers reads Keras 2's JSON (snake_case, nested
 * `[[name, node, tensor, kwargs]]` inbound nodes); Keras 3 writes the same layer configs with
 * `module`/`registered_name` on every serialised object, dtype policies instead of dtype
 * strings, `batch_shape` on InputLayer and `{args, kwargs}` nodes holding `__keras_tensor__`
 * references. These functions map one onto the other.
 */
import * as tf from '@tensorflow/tfjs';
import {
  UserError,
  KERAS_LAYERS_MODULE,
  kerasLayerClass,
  kerasRegisteredName,
  tfjsClassOfKeras,
} from '../../../sdk/index.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Keras classes tfjs-layers implements under another name here. */
const TO_TFJS_CLASS: Record<string, string> = {
  // Frozen Keras BatchNormalization runs in inference mode; this layer does the same in tfjs.
  BatchNormalization: 'FreezableBatchNormalization',
};
const TO_KERAS_CLASS: Record<string, string> = {
  FreezableBatchNormalization: 'BatchNormalization',
};

const MODEL_CLASSES = new Set(['Functional', 'Model', 'Sequential']);

/** Drop Keras 3's bookkeeping from a serialised object (initializer, dtype policy, ...). */
function fromKeras3Value(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(fromKeras3Value);
  if (!isObject(value)) return value;
  if (
    typeof value.class_name === 'string' &&
    /DTypePolicy$/.test(value.class_name) &&
    isObject(value.config)
  )
    return value.config.name ?? 'float32';
  const out: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'module' || key === 'registered_name' || key === 'shared_object_id') continue;
    out[key] = fromKeras3Value(inner);
  }
  return out;
}

/** Keras 3 `{args, kwargs}` nodes to Keras 2 lists of `[layer, node, tensor, {}]`. */
function fromKeras3Nodes(nodes: JsonValue | undefined): JsonValue[] {
  if (!Array.isArray(nodes)) return [];
  return nodes.map((node) => {
    if (Array.isArray(node)) return node; // already Keras 2
    const tensors: JsonValue[] = [];
    const collect = (value: JsonValue): void => {
      if (Array.isArray(value)) value.forEach(collect);
      else if (
        isObject(value) &&
        value.class_name === '__keras_tensor__' &&
        isObject(value.config)
      ) {
        const history = value.config.keras_history as JsonValue[];
        tensors.push([history[0], history[1], history[2], {}]);
      }
    };
    collect(isObject(node) ? (node.args ?? []) : []);
    return tensors;
  });
}

/** `["in", 0, 0]` (Keras 3, one tensor) or `[["in", 0, 0], ...]` to the list form. */
function tensorList(value: JsonValue | undefined): JsonValue[] {
  if (!Array.isArray(value)) return [];
  return typeof value[0] === 'string' ? [value] : value;
}

function layerEntry(layer: JsonObject, label: string): JsonObject {
  const className = String(layer.class_name);
  const config = isObject(layer.config) ? (fromKeras3Value(layer.config) as JsonObject) : {};
  const name = String(layer.name ?? config.name);
  if (MODEL_CLASSES.has(className))
    throw new UserError(
      `${label}: layer '${name}' is a nested ${className} model, which keras-model does not import`,
    );
  if (className === 'InputLayer' && config.batch_shape !== undefined) {
    config.batch_input_shape = config.batch_shape;
    delete config.batch_shape;
  }
  delete config.optional;
  const tfjsClass = TO_TFJS_CLASS[className] ?? tfjsClassOfKeras(className) ?? className;
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  if (!Object.prototype.hasOwnProperty.call(known, tfjsClass))
    throw new UserError(
      `${label}: layer '${name}' is a ${className}, which tfjs-layers has no implementation of ` +
        '(keras-model imports the layers tfjs-layers implements)',
    );
  return {
    class_name: tfjsClass,
    name,
    config: { ...config, name },
    inbound_nodes: fromKeras3Nodes(layer.inbound_nodes),
  };
}

/**
 * A Keras model config (Keras 3 `config.json` or Keras 2 `model_config`) as the tfjs-layers
 * topology of a functional model; a Sequential model becomes the equivalent chain.
 */
export function kerasToTfjsTopology(model: JsonObject, label: string): JsonObject {
  const className = String(model.class_name);
  const config = model.config;
  if (!MODEL_CLASSES.has(className))
    throw new UserError(
      `${label}: the top-level object is a ${className}, not a Keras model (Functional or Sequential)`,
    );
  const rawLayers = isObject(config) ? config.layers : config;
  if (!Array.isArray(rawLayers) || !rawLayers.every(isObject))
    throw new UserError(`${label}: the model config has no layer list`);
  const name = isObject(config) && typeof config.name === 'string' ? config.name : 'model';
  if (className === 'Sequential') return sequentialToFunctional(rawLayers, name, label);
  const functional = config as JsonObject;
  return {
    class_name: 'Model',
    config: {
      name,
      layers: rawLayers.map((layer) => layerEntry(layer, label)),
      input_layers: tensorList(functional.input_layers),
      output_layers: tensorList(functional.output_layers),
    },
  };
}

function sequentialToFunctional(rawLayers: JsonObject[], name: string, label: string): JsonObject {
  const layers = rawLayers.map((layer) => layerEntry({ ...layer, inbound_nodes: [] }, label));
  if (layers[0]?.class_name !== 'InputLayer') {
    // Keras 2 Sequential: the input shape rides on the first layer.
    const first = (layers[0]?.config ?? {}) as JsonObject;
    const shape = first.batch_input_shape;
    if (!Array.isArray(shape))
      throw new UserError(`${label}: a Sequential model without an input shape cannot be imported`);
    layers.unshift({
      class_name: 'InputLayer',
      name: `${name}_input`,
      config: { batch_input_shape: shape, dtype: 'float32', sparse: false, name: `${name}_input` },
      inbound_nodes: [],
    });
  }
  for (let i = 1; i < layers.length; i++)
    layers[i].inbound_nodes = [[[String(layers[i - 1].name), 0, 0, {}]]];
  const last = String(layers[layers.length - 1].name);
  return {
    class_name: 'Model',
    config: {
      name,
      layers,
      input_layers: [[String(layers[0].name), 0, 0]],
      output_layers: [[last, 0, 0]],
    },
  };
}

// ---- tfjs -> Keras 3 -----------------------------------------------------------------------

const SERIALISED_MODULE: [RegExp, string][] = [
  [/initializer$/, 'keras.initializers'],
  [/regularizer$/, 'keras.regularizers'],
  [/constraint$/, 'keras.constraints'],
];

const dtypePolicy = (name: JsonValue): JsonObject => ({
  module: 'keras',
  class_name: 'DTypePolicy',
  config: { name: typeof name === 'string' ? name : 'float32' },
  registered_name: null,
});

/**
 * One tfjs layer config as Keras 3 writes it. `layer` gives the output shapes for the
 * `__keras_tensor__` references of the nodes that read it.
 */
function toKeras3Layer(entry: JsonObject, shapes: Map<string, JsonValue>): JsonObject {
  const tfjsClass = String(entry.class_name);
  const className = TO_KERAS_CLASS[tfjsClass] ?? tfjsClass;
  const config = { ...(entry.config as JsonObject) };
  const name = String(entry.name ?? config.name);
  if (tfjsClass === 'InputLayer') {
    config.batch_shape = config.batch_input_shape ?? null;
    delete config.batch_input_shape;
    delete config.input_dtype;
  } else {
    config.dtype = dtypePolicy(config.dtype ?? 'float32');
  }
  for (const [key, value] of Object.entries(config)) {
    const module = SERIALISED_MODULE.find(([pattern]) => pattern.test(key))?.[1];
    if (module && isObject(value) && typeof value.class_name === 'string')
      config[key] = {
        module,
        class_name: value.class_name,
        config: value.config ?? {},
        registered_name: null,
      };
  }
  const nodes = (entry.inbound_nodes as JsonValue[][][] | undefined) ?? [];
  const inboundNodes = nodes.map((node) => {
    const tensors = node.map((ref) => ({
      class_name: '__keras_tensor__',
      config: {
        shape: shapes.get(String(ref[0])) ?? null,
        dtype: 'float32',
        keras_history: [ref[0], ref[1], ref[2]],
      },
    }));
    // Merge layers (Add, Concatenate) take a list; the others one tensor.
    return { args: tensors.length === 1 ? [tensors[0]] : [tensors], kwargs: {} };
  });
  // a layer Keras has no class for travels as the Python class its plugin declared
  const custom = kerasLayerClass(tfjsClass);
  return {
    module: custom ? KERAS_LAYERS_MODULE : 'keras.layers',
    class_name: custom ? custom.className : className,
    config,
    registered_name: custom ? kerasRegisteredName(custom) : null,
    name,
    inbound_nodes: inboundNodes,
  };
}

/** A tfjs LayersModel's topology as Keras 3's `config.json` (a Functional model). */
export function toKeras3Config(model: tf.LayersModel): JsonObject {
  const json = model.toJSON(null, false) as unknown as JsonObject;
  const topology = (isObject(json.model_config) ? json.model_config : json) as JsonObject;
  const config = topology.config as JsonObject;
  const rawLayers = Array.isArray(config)
    ? (config as JsonObject[])
    : (config.layers as JsonObject[]);
  if (topology.class_name === 'Sequential')
    throw new UserError(
      `model ${model.name} is a tfjs Sequential model: export a functional model (tf.model)`,
    );
  const shapes = new Map<string, JsonValue>();
  for (const layer of model.layers) {
    const shape = layer.outputShape;
    shapes.set(
      layer.name,
      (Array.isArray(shape[0]) || shape[0] === undefined ? shape[0] : shape) as JsonValue,
    );
  }
  const single = (list: JsonValue) => (Array.isArray(list) && list.length === 1 ? list[0] : list);
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: model.name,
      trainable: true,
      layers: rawLayers.map((layer) => toKeras3Layer(layer, shapes)),
      input_layers: single(config.input_layers),
      output_layers: single(config.output_layers),
    },
    registered_name: 'Functional',
  };
}
