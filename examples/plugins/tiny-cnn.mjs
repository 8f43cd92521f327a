// An architecture plugin in its own file: the example docs/adding-an-architecture.md walks through.
// Plain JavaScript (no build step): an experiment loads it with `plugins: [./path/to/tiny-cnn.mjs]`.
import { PLUGIN_OPTIONS, buildTaskModel, headOptionsSchema, tf } from 'affectlab';

/** A small CNN: one 3x3 conv + 2x2 max-pool block per entry of `filters`, global pooling, one dense layer. */
export class TinyCnn {
  /** @param {{ filters: number[], dense: number, dropout: number, regressionHead: 'linear' | 'tanh' }} options */
  constructor(options) {
    this.options = options;
  }

  /** @param {{ inputShape: [number, number, number], task: { kind: string, classes: unknown[] } }} request */
  build(request) {
    const { filters, dense, dropout } = this.options;
    const input = tf.input({ shape: request.inputShape, name: 'input' });
    let x = input;
    const conv = { kernelSize: 3, padding: 'same', activation: 'relu' };
    filters.forEach((count, i) => {
      x = tf.layers.conv2d({ ...conv, filters: count, name: `conv${i + 1}` }).apply(x);
      x = tf.layers.maxPooling2d({ poolSize: 2, name: `pool${i + 1}` }).apply(x);
    });
    x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x);
    x = tf.layers.dense({ units: dense, activation: 'relu', name: 'fc' }).apply(x);
    x = tf.layers.dropout({ rate: dropout, name: 'fc_dropout' }).apply(x);
    // The shared heads: softmax `expression` and/or `valence_arousal`, as the dataset's task asks.
    return buildTaskModel(input, x, request, { ...this.options, name: 'tiny-cnn' });
  }
}

export default {
  kind: 'architecture',
  type: 'tiny-cnn',
  description: 'A small CNN for quick experiments (example plugin)',
  optionsSchema: {
    type: 'object',
    properties: {
      filters: {
        type: 'array',
        items: { type: 'integer', minimum: 1, maximum: 4096 },
        minItems: 1,
        maxItems: 8,
        default: [16, 32],
        description: 'Filters of each 3x3 conv + 2x2 max-pool block.',
      },
      dense: {
        type: 'integer',
        minimum: 1,
        maximum: 65536,
        default: 64,
        description: 'Units of the dense layer.',
      },
      dropout: {
        type: 'number',
        minimum: 0,
        exclusiveMaximum: 1,
        default: 0.25,
        description: 'Dropout after the dense layer.',
      },
      ...headOptionsSchema,
    },
  },
  implementation: TinyCnn,
  // Plain JavaScript has no decorators: name the constructor's parameters for the container.
  inject: [PLUGIN_OPTIONS],
};
