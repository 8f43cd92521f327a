import 'reflect-metadata';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type ArchitecturePlugin,
  type ModelRequest,
} from '../../sdk/index.js';
import { buildTaskModel, headOptionsSchema, requireInputSide } from './heads.js';
import { localResponseNormalization } from './layers.js';

const alexNetOptions = Options({
  localResponseNormalization: Type.Boolean({
    default: true,
    description:
      'Local response normalisation after conv1 and conv2 (Caffe bvlc_alexnet settings).',
  }),
  dropout: Type.Number({
    minimum: 0,
    exclusiveMaximum: 1,
    default: 0.5,
    description: 'Dropout after fc6 and fc7 (AlexNet: 0.5).',
  }),
  fcUnits: Type.Integer({
    minimum: 1,
    maximum: 65_536,
    default: 4096,
    description: 'Units of the fully connected layers fc6 and fc7 (AlexNet: 4096).',
  }),
  ...headOptionsSchema,
});
export type AlexNetOptions = Static<typeof alexNetOptions>;

/**
 * 11x11/4 valid → 3x3/2 pool → (same convs) → 3x3/2 pool → (same convs) → 3x3/2 pool:
 * 67 → 15 → 7 → 3 → 1 is the smallest input that leaves a 1x1 map (227 gives 6x6).
 */
const MINIMUM_SIDE = 67;

/**
 * The AffectNet paper's baseline: single-tower AlexNet (no grouped convolutions) for 227x227x3,
 * layers named as in Caffe's bvlc_alexnet. Parameters at 227x227x3 with the default fcUnits 4096:
 *   conv1 11*11*3*96 + 96 = 34,944;  conv2 5*5*96*256 + 256 = 614,656;
 *   conv3 3*3*256*384 + 384 = 885,120;  conv4 3*3*384*384 + 384 = 1,327,488;
 *   conv5 3*3*384*256 + 256 = 884,992;  fc6 (6*6*256)*4096 + 4096 = 37,752,832;
 *   fc7 4096*4096 + 4096 = 16,781,312;  head 4096*classes + classes
 *   → 58,314,120 for 8 classes, 62,378,344 for 1000 (local response normalisation has none).
 */
@injectable()
export class AlexNet implements ArchitecturePlugin {
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: AlexNetOptions) {}

  build({ inputShape, task }: ModelRequest): tf.LayersModel {
    requireInputSide('alexnet', inputShape, MINIMUM_SIDE);
    const { dropout, fcUnits } = this.options;
    const lrn = this.options.localResponseNormalization;
    const input = tf.input({ shape: inputShape, name: 'data' });
    let x = input;
    const add = (layer: tf.layers.Layer): void => {
      x = layer.apply(x) as tf.SymbolicTensor;
    };

    // the five convolutions (Caffe's names): ReLU in the layer, then LRN and/or 3x3/2 max-pool
    // after conv1, conv2 and conv5
    const convs = [
      {
        name: 'conv1',
        filters: 96,
        kernelSize: 11,
        strides: 4,
        padding: 'valid',
        norm: 'norm1',
        pool: 'pool1',
      },
      { name: 'conv2', filters: 256, kernelSize: 5, padding: 'same', norm: 'norm2', pool: 'pool2' },
      { name: 'conv3', filters: 384, kernelSize: 3, padding: 'same' },
      { name: 'conv4', filters: 384, kernelSize: 3, padding: 'same' },
      { name: 'conv5', filters: 256, kernelSize: 3, padding: 'same', pool: 'pool5' },
    ] as const;
    for (const c of convs) {
      add(
        tf.layers.conv2d({
          filters: c.filters,
          kernelSize: c.kernelSize,
          strides: 'strides' in c ? c.strides : 1,
          padding: c.padding,
          activation: 'relu',
          name: c.name,
        }),
      );
      if (lrn && 'norm' in c) add(localResponseNormalization({ name: c.norm }));
      if ('pool' in c) add(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: c.pool }));
    }

    add(tf.layers.flatten({ name: 'flatten' }));
    add(tf.layers.dense({ units: fcUnits, activation: 'relu', name: 'fc6' }));
    add(tf.layers.dropout({ rate: dropout, name: 'drop6' }));
    add(tf.layers.dense({ units: fcUnits, activation: 'relu', name: 'fc7' }));
    add(tf.layers.dropout({ rate: dropout, name: 'drop7' }));

    // fc8: the shared task heads (Dense(classes) → softmax, or the valence/arousal outputs).
    return buildTaskModel(input, x, { inputShape, task }, { ...this.options, name: 'alexnet' });
  }
}

export const alexNetPlugin = definePlugin({
  kind: 'architecture',
  type: 'alexnet',
  description: "The AffectNet paper's baseline: single-tower AlexNet for 227x227x3 input",
  options: alexNetOptions,
  implementation: AlexNet,
});
