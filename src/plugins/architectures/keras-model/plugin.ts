import 'reflect-metadata';
import { isAbsolute, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  UserError,
  Enum,
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type ArchitecturePlugin,
  type ModelRequest,
  Logger,
  RunContext,
} from '../../../sdk/index.js';
import { buildTaskHeads, headOptionsSchema, taskOutputNames } from '../heads.js';
// Registers FreezableBatchNormalization, which imported BatchNormalization layers become.
import '../layers.js';
import type { JsonObject, JsonValue } from './config.js';
import { assignWeights, readKerasModelFile } from './read.js';

const kerasModelOptions = Options({
  path: Type.String({
    minLength: 1,
    description:
      'A Keras 3 .keras archive or a legacy Keras .h5/.hdf5 model (model.save), relative to the experiment file.',
  }),
  trainable: Type.Boolean({
    default: true,
    description: 'false freezes every imported layer (a replaced head still trains).',
  }),
  // model.layers order
  freezeUpTo: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Freeze the imported layers up to and including this layer name.',
    }),
  ),
  head: Enum(['keep', 'replace'], {
    default: 'keep',
    description:
      "keep: the model's own output (its classes must match the task's); replace: a new task head.",
  }),
  headFrom: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'With head: replace, the layer whose output feeds the new head (default: the input of the last weighted layer).',
    }),
  ),
  inputScale: Type.Number({
    minimum: -1e6,
    maximum: 1e6,
    default: 1,
    description:
      "Pipeline pixels ([0, 1]) reach the model as x * inputScale + inputOffset (fer's model: 2 and -1).",
  }),
  inputOffset: Type.Number({
    minimum: -1e6,
    maximum: 1e6,
    default: 0,
    description: 'See inputScale.',
  }),
  ...headOptionsSchema,
});
export type KerasModelOptions = Static<typeof kerasModelOptions>;

const RESCALE_LAYER = 'input_rescaling';

/**
 * Insert a Rescaling layer after the model's input, in the topology itself, so the imported
 * model stays one flat graph (which exports to Keras as it came).
 */
function withInputRescaling(topology: JsonObject, scale: number, offset: number): JsonObject {
  const config = topology.config as JsonObject;
  const layers = config.layers as JsonObject[];
  const inputs = (config.input_layers as JsonValue[][]).map((ref) => String(ref[0]));
  if (inputs.length !== 1)
    throw new UserError('inputScale/inputOffset need a model with one input');
  const input = inputs[0];
  const renamed: JsonObject[] = layers.map((layer) => ({
    ...layer,
    inbound_nodes: (layer.inbound_nodes as JsonValue[][][]).map((node) =>
      node.map((ref) => (ref[0] === input ? [RESCALE_LAYER, ...ref.slice(1)] : ref)),
    ),
  }));
  const at = renamed.findIndex((layer) => layer.name === input) + 1;
  renamed.splice(at, 0, {
    class_name: 'Rescaling',
    name: RESCALE_LAYER,
    config: { name: RESCALE_LAYER, scale, offset, dtype: 'float32', trainable: false },
    inbound_nodes: [[[input, 0, 0, {}]]],
  });
  return { ...topology, config: { ...config, layers: renamed } };
}

/**
 * A Keras model read from its own file, without Python: Keras 3 `.keras` or legacy `.h5`
 * (config and weights through h5wasm), rebuilt as a tfjs model to predict, evaluate or
 * fine-tune, with its head kept or replaced for the task's classes.
 */
@injectable()
export class KerasModel implements ArchitecturePlugin {
  constructor(
    @inject(PLUGIN_OPTIONS) private readonly options: KerasModelOptions,
    private readonly logger: Logger,
    private readonly context: RunContext,
  ) {}

  async build({ inputShape, task }: ModelRequest): Promise<tf.LayersModel> {
    const { options } = this;
    const path = isAbsolute(options.path)
      ? options.path
      : resolve(this.context.baseDir, options.path);
    const file = await readKerasModelFile(path);
    let topology = file.topology;
    if (options.inputScale !== 1 || options.inputOffset !== 0)
      topology = withInputRescaling(topology, options.inputScale, options.inputOffset);
    let imported: tf.LayersModel;
    try {
      imported = await tf.models.modelFromJSON({ modelTopology: topology });
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `${path}: tfjs-layers cannot build the Keras model: ${(error as Error).message}`,
      );
    }
    const loaded = assignWeights(imported.layers, file.weights, path, options.head === 'replace');
    this.logger.info(
      `keras-model: ${path} (${file.format}${file.kerasVersion ? `, Keras ${file.kerasVersion}` : ''}): ` +
        `${imported.layers.length} layers, ${loaded.tensors} weight tensors in ${loaded.layers} layers`,
    );
    if (imported.inputs.length !== 1)
      throw new UserError(
        `${path}: the model has ${imported.inputs.length} inputs; keras-model takes models with one image input`,
      );
    const wanted = imported.inputs[0].shape.slice(1);
    if (wanted.some((side, i) => side !== null && side !== inputShape[i]))
      throw new UserError(
        `${path}: the model takes input [${wanted.map((d) => d ?? '?').join(', ')}] but the dataset gives ` +
          `[${inputShape.join(', ')}] (set the dataset's imageSize/channels to match)`,
      );
    this.freeze(imported, path);
    if (options.head === 'keep') {
      this.checkOwnHead(imported, path, task);
      return imported;
    }
    const features = this.headInput(imported, path);
    const outputs = buildTaskHeads(features, task, options);
    return tf.model({
      inputs: imported.inputs,
      outputs: outputs.length === 1 ? outputs[0] : outputs,
      name: imported.name,
    });
  }

  private freeze(model: tf.LayersModel, path: string): void {
    const { trainable, freezeUpTo } = this.options;
    if (!trainable) for (const layer of model.layers) layer.trainable = false;
    if (freezeUpTo !== undefined) {
      const index = model.layers.findIndex((layer) => layer.name === freezeUpTo);
      if (index < 0)
        throw new UserError(
          `${path}: freezeUpTo names layer '${freezeUpTo}', which the model does not have${layerHint(model)}`,
        );
      for (const layer of model.layers.slice(0, index + 1)) layer.trainable = false;
    }
  }

  private checkOwnHead(model: tf.LayersModel, path: string, task: ModelRequest['task']): void {
    const outputs = taskOutputNames(task);
    if (model.outputs.length !== outputs.length)
      throw new UserError(
        `${path}: the model has ${model.outputs.length} output(s) but a ${task.kind} task needs ${outputs.length}: set head: replace`,
      );
    outputs.forEach((name, i) => {
      const size = model.outputs[i].shape[model.outputs[i].shape.length - 1];
      const needed = name === 'expression' ? task.classes.length : 2;
      if (model.outputs[i].shape.length !== 2 || size !== needed)
        throw new UserError(
          `${path}: output ${i + 1} has shape [${model.outputs[i].shape.map((d) => d ?? '?').join(', ')}] but the task needs ` +
            `${needed} values (${name}): set head: replace for a new head with the task's classes`,
        );
    });
  }

  /** The features a replaced head reads: flat, pooled from a feature map when needed. */
  private headInput(model: tf.LayersModel, path: string): tf.SymbolicTensor {
    let features: tf.SymbolicTensor;
    if (this.options.headFrom !== undefined) {
      const name = this.options.headFrom;
      const layer = model.layers.find((l) => l.name === name);
      if (!layer)
        throw new UserError(
          `${path}: headFrom names layer '${name}', which the model does not have${layerHint(model)}`,
        );
      features = layer.output as tf.SymbolicTensor;
    } else {
      const weighted = model.layers.filter((l) => l.weights.length > 0);
      const last = weighted[weighted.length - 1];
      if (!last) throw new UserError(`${path}: the model has no weighted layer to replace`);
      features = last.input as tf.SymbolicTensor;
    }
    if (features.shape.length === 4)
      features = tf.layers
        .globalAveragePooling2d({ name: 'head_pool' })
        .apply(features) as tf.SymbolicTensor;
    else if (features.shape.length !== 2)
      features = tf.layers.flatten({ name: 'head_flatten' }).apply(features) as tf.SymbolicTensor;
    return features;
  }
}

function layerHint(model: tf.LayersModel): string {
  const names = model.layers.map((l) => l.name);
  return ` (layers: ${names.slice(0, 4).join(', ')}, ..., ${names.slice(-3).join(', ')})`;
}

export const kerasModelPlugin = definePlugin({
  kind: 'architecture',
  type: 'keras-model',
  description:
    'A Keras model from its own .keras or .h5 file (read without Python), to predict, evaluate or fine-tune',
  options: kerasModelOptions,
  implementation: KerasModel,
});
