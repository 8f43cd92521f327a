import * as tf from '@tensorflow/tfjs';
import {
  UserError,
  readWeightArtifacts,
  type WeightArtifacts,
  markPretrained,
} from '../../sdk/index.js';

/**
 * Loading pretrained weights into layers by name: the way Keras-converted weights (for example
 * ResNet-50's ImageNet weights through tensorflowjs_converter) reach a model built here. The
 * files are read with node:fs (see core/model-io.ts), so this works on every backend and
 * nothing is downloaded.
 */

export interface WeightLoadReport {
  /** The model.json or manifest the weights came from. */
  source: string;
  /** Layers whose weights were set. */
  layers: number;
  /** Weight tensors set. */
  tensors: number;
  /** Weights in the file that no layer asked for (a classifier top the model does not have). */
  unused: string[];
}

/** Weights Keras 3 names differently from Keras 2 and tfjs (a DepthwiseConv2D's `kernel`). */
const KERAS3_WEIGHT_NAMES: Record<string, string> = { depthwise_kernel: 'kernel' };

/** The file's name for a model weight `layer/weight`: as named, else Keras 3's name for it. */
function fileWeightName(byKey: Map<string, string>, key: string): string | undefined {
  const direct = byKey.get(key);
  if (direct !== undefined) return direct;
  const [layer, weight] = key.split('/');
  const renamed = Object.hasOwn(KERAS3_WEIGHT_NAMES, weight)
    ? KERAS3_WEIGHT_NAMES[weight]
    : undefined;
  return renamed === undefined ? undefined : byKey.get(`${layer}/${renamed}`);
}

/** `conv1_conv/kernel:0`, `resnet50/conv1_conv/kernel` → `conv1_conv/kernel`: layer and weight. */
function layerWeightKey(name: string): string {
  return name.replace(/:\d+$/, '').split('/').slice(-2).join('/');
}

/**
 * Set every weight of `layers` from the weights under `path` (a directory with a tfjs layers
 * `model.json` or a `weights_manifest.json`, or either JSON file; or weights already read with
 * `readWeightArtifacts`), matched by layer and weight name. Every weight of every layer must be
 * present with the right shape; weights the layers do not ask for are ignored and reported.
 */
export function loadWeightsByLayerName(
  layers: readonly tf.layers.Layer[],
  weights: string | WeightArtifacts,
): WeightLoadReport {
  const { specs, data, source } =
    typeof weights === 'string' ? readWeightArtifacts(weights) : weights;
  const byKey = new Map<string, string>();
  for (const spec of specs) {
    const key = layerWeightKey(spec.name);
    if (byKey.has(key)) {
      throw new UserError(
        `${source}: weights '${byKey.get(key)}' and '${spec.name}' both name ${key}`,
      );
    }
    byKey.set(key, spec.name);
  }
  const decoded = tf.io.decodeWeights(data, specs);
  try {
    const missing: string[] = [];
    const assignments: { layer: tf.layers.Layer; values: tf.Tensor[] }[] = [];
    const used = new Set<string>();
    for (const layer of layers) {
      if (layer.weights.length === 0) continue;
      const values: tf.Tensor[] = [];
      for (const variable of layer.weights) {
        const key = layerWeightKey(variable.originalName);
        const fileName = fileWeightName(byKey, key);
        if (fileName === undefined) {
          missing.push(key);
          continue;
        }
        const value = decoded[fileName];
        const shape = variable.shape as number[];
        if (!tf.util.arraysEqual(value.shape, shape)) {
          throw new UserError(
            `${source}: weight ${key} has shape [${value.shape.join(', ')}] but the model's layer needs ` +
              `[${shape.join(', ')}]` +
              (layer.name === 'conv1_conv' ? ' (ImageNet weights need 3-channel input)' : ''),
          );
        }
        used.add(fileName);
        values.push(value);
      }
      assignments.push({ layer, values });
    }
    if (missing.length > 0) {
      throw new UserError(
        `${source} has no value for ${missing.length} weight(s) the model needs, e.g. ${missing.slice(0, 3).join(', ')}: ` +
          'is it the same architecture, with Keras layer names?',
      );
    }
    for (const { layer, values } of assignments) {
      layer.setWeights(values);
      markPretrained(layer.weights);
    }
    return {
      source,
      layers: assignments.length,
      tensors: used.size,
      unused: specs.map((s) => s.name).filter((n) => !used.has(n)),
    };
  } finally {
    tf.dispose(decoded);
  }
}
