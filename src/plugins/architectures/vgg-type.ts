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
import { LayerNames, buildTaskModel, headOptionsSchema, requireInputSide } from './heads.js';

/**
 * Each 3x3 valid convolution takes 2 pixels off a side and each 2x2 pooling halves it (floor):
 * 46 → 44 → 22 → 20 → 10 → 8 → 4 → 2 → 1 is the smallest input that still leaves a 1x1 map.
 */
const MINIMUM_SIDE = 46;

/**
 * The report's best model, Appendix C, layer for layer in the listing's order, with the layer
 * names Keras gives that listing (so weights converted from the report's Keras model load by
 * name). Only the last Dense(classes) + softmax is the shared task head, so the same backbone
 * also answers the valence/arousal tasks.
 *
 * Parameters at the report's defaults (256x256x3 input, 6 classes), per layer
 * (conv: k*k*c_in*c_out + c_out; batch norm: 4*c, of which 2*c are non-trainable moving
 * statistics; dense: in*out + out):
 *   conv2d      3*3*3*64 + 64      =     1,792   (254x254 → pool 127)
 *   bn          4*64               =       256
 *   conv2d_1    3*3*64*128 + 128   =    73,856   (125 → pool 62)
 *   bn_1        4*128              =       512
 *   conv2d_2    3*3*128*256 + 256  =   295,168   (60 → pool 30)
 *   bn_2        4*256              =     1,024
 *   conv2d_3    3*3*256*256 + 256  =   590,080   (28 → pool 14)
 *   bn_3        4*256              =     1,024
 *   dense       14*14*256*128 + 128 = 6,422,656
 *   bn_4        4*128              =       512
 *   dense_1     128*64 + 64        =     8,256
 *   bn_5        4*64               =       256
 *   head        64*6 + 6           =       390
 *   total 7,395,782 = 7,393,990 trainable + 1,792 non-trainable (2 * (64+128+256+256+128+64)).
 */
export const VGG_TYPE_REPORT_PARAMS = {
  total: 7_395_782,
  trainable: 7_393_990,
  nonTrainable: 1_792,
};

/** `count` positive integers (a tuple in the type, minItems = maxItems in the schema). */
const units = <T extends number[]>(count: T['length'], defaults: T, description: string) =>
  Type.Unsafe<T>(
    Type.Array(Type.Integer({ minimum: 1, maximum: 65_536 }), {
      minItems: count,
      maxItems: count,
      default: defaults,
      description,
    }),
  );

const rate = (defaultRate: number, description: string) =>
  Type.Number({ minimum: 0, exclusiveMaximum: 1, default: defaultRate, description });

const vggTypeOptions = Options({
  filters: units<[number, number, number, number]>(
    4,
    [64, 128, 256, 256],
    'Filters of the four 3x3 convolutions (the report: 64, 128, 256, 256).',
  ),
  dense: units<[number, number]>(
    2,
    [128, 64],
    'Units of the two hidden dense layers (the report: 128, 64).',
  ),
  convDropout: rate(0.3, 'Dropout right after the second convolution (the report: 0.3).'),
  denseDropout: rate(0.25, 'Dropout after the first dense block (the report: 0.25).'),
  // Short runs want less than Keras' 0.99: after n steps the moving variance still holds
  // momentum^n of its initial 1, which swamps the first layers' small activation variances.
  batchNormMomentum: Type.Number({
    exclusiveMinimum: 0,
    exclusiveMaximum: 1,
    default: 0.99,
    description:
      "Batch-norm moving-average momentum (Keras' default 0.99). Lower it (e.g. 0.9) for runs of a few hundred steps, " +
      'whose moving statistics would otherwise not have converged by evaluation time.',
  }),
  ...headOptionsSchema,
});
export type VggTypeOptions = Static<typeof vggTypeOptions>;

@injectable()
export class VggType implements ArchitecturePlugin {
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: VggTypeOptions) {}

  build({ inputShape, task }: ModelRequest): tf.LayersModel {
    requireInputSide('vgg-type', inputShape, MINIMUM_SIDE);
    const { filters, dense, convDropout, denseDropout, batchNormMomentum } = this.options;
    const name = new LayerNames();
    const input = tf.input({ shape: inputShape, name: 'input_1' });
    let x = input;
    const add = (layer: tf.layers.Layer): void => {
      x = layer.apply(x) as tf.SymbolicTensor;
    };

    const batchNorm = () =>
      add(
        tf.layers.batchNormalization({
          momentum: batchNormMomentum,
          name: name.next('batch_normalization'),
        }),
      );
    // Appendix C's convolution blocks: Conv2D(3x3) → [Dropout] → ReLU → BatchNorm → MaxPool(2x2);
    // only the second block has the dropout, between the convolution and its activation
    const convBlocks = [
      { filters: filters[0] },
      { filters: filters[1], dropout: convDropout },
      { filters: filters[2] },
      { filters: filters[3] },
    ];
    for (const block of convBlocks) {
      add(tf.layers.conv2d({ filters: block.filters, kernelSize: 3, name: name.next('conv2d') }));
      if (block.dropout !== undefined)
        add(tf.layers.dropout({ rate: block.dropout, name: name.next('dropout') }));
      add(tf.layers.activation({ activation: 'relu', name: name.next('activation') }));
      batchNorm();
      add(tf.layers.maxPooling2d({ poolSize: 2, name: name.next('max_pooling2d') }));
    }

    add(tf.layers.flatten({ name: name.next('flatten') }));

    // the dense blocks: Dense → ReLU → BatchNorm → [Dropout] (after the first only)
    const denseBlocks = [{ units: dense[0], dropout: denseDropout }, { units: dense[1] }];
    for (const block of denseBlocks) {
      add(tf.layers.dense({ units: block.units, name: name.next('dense') }));
      add(tf.layers.activation({ activation: 'relu', name: name.next('activation') }));
      batchNorm();
      if (block.dropout !== undefined)
        add(tf.layers.dropout({ rate: block.dropout, name: name.next('dropout') }));
    }

    // Dense(classes) → softmax (and/or the valence/arousal head): the shared task heads.
    return buildTaskModel(input, x, { inputShape, task }, { ...this.options, name: 'vgg-type' });
  }
}

export const vggTypePlugin = definePlugin({
  kind: 'architecture',
  type: 'vgg-type',
  description:
    "The report's Appendix C CNN: four 3x3 conv blocks (ReLU, batch norm, 2x2 max-pool), two dense blocks, softmax",
  options: vggTypeOptions,
  implementation: VggType,
});
