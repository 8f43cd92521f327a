import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { DType, loadAddon, type GraphAddon } from '../../../src/core/engine/graph/addon.js';
import { GraphBuilder } from '../../../src/sdk/graph-builder.js';
import {
  graphLayerEmitter,
  registerGraphLayer,
  unsupportedLayer,
  type LayerEmitContext,
} from '../../../src/core/engine/graph/layers.js';
import { kerasNormalization } from '../../../src/plugins/architectures/layers.js';
import { Random } from '../../../src/sdk/services.js';
import { activateBackend } from '../../support/helpers.js';

/**
 * The graph forms MobileNetV2 and EfficientNet need, one layer at a time: each layer's graph
 * output (the compiler's emitter, run in a TensorFlow session) against tfjs' own layer on the
 * same input and weights.
 */

let addon: GraphAddon;

function noise(shape: number[], seed: number, low = -2, high = 2): tf.Tensor {
  const random = new Random(seed);
  const size = shape.reduce((n, d) => n * d, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => low + (high - low) * random.next()),
    shape,
  );
}

/** A one-layer model on `inputShapes` (batch left out), its weights set to noise. */
function oneLayer(layer: tf.layers.Layer, inputShapes: number[][]): tf.LayersModel {
  const inputs = inputShapes.map((shape) => tf.input({ shape }));
  const output = layer.apply(inputs.length === 1 ? inputs[0] : inputs) as tf.SymbolicTensor;
  const model = tf.model({ inputs, outputs: output });
  layer.setWeights(layer.weights.map((w, i) => noise(w.shape as number[], 50 + i, 0.2, 1.5)));
  return model;
}

/** The layer's graph form on `inputs`: emitted into a fresh graph and run in a session. */
async function graphForward(
  layer: tf.layers.Layer,
  inputs: tf.Tensor[],
  training = false,
): Promise<Float32Array> {
  const emitter = graphLayerEmitter(layer.getClassName());
  assert.ok(emitter, `no graph form for ${layer.getClassName()}`);
  assert.equal(emitter.check?.(layer.getConfig(), layer), undefined);
  const b = new GraphBuilder(addon);
  const feeds = inputs.map((x, i) => b.placeholder(`x${i}`, DType.float32, x.shape));
  const ctx: LayerEmitContext = {
    b,
    training,
    weight: (i) => {
      const w = layer.weights[i].read();
      return b.constF32(Array.from(w.dataSync()), w.shape);
    },
    seed: () => b.constI32([5, 11]),
    batchSize: () => b.constI32([inputs[0].shape[0]]),
    update: () => undefined,
  };
  const [emitted] = emitter.emit(layer, feeds, ctx);
  // a form that passes its input through (scale 1, dropout in inference) returns the feed
  const output = feeds.includes(emitted) ? b.identity(emitted) : emitted;
  const session = addon.newSession(b.graph, null);
  try {
    const [fetched] = await addon.runSession(
      session,
      feeds,
      inputs.map((x) => ({
        dtype: DType.float32,
        shape: x.shape,
        data: x.dataSync() as Float32Array,
      })),
      [output],
      [],
    );
    return new Float32Array(fetched.data);
  } finally {
    addon.closeSession(session);
  }
}

async function assertAgrees(layer: tf.layers.Layer, inputShapes: number[][], tolerance = 1e-5) {
  const model = oneLayer(layer, inputShapes);
  // (the compiler takes one-input models; the two-input Multiply is checked in the backbones)
  if (inputShapes.length === 1) assert.equal(unsupportedLayer(model), undefined);
  const inputs = inputShapes.map((shape, i) => noise([3, ...shape], 10 + i));
  const expected = (
    model.predict(inputs.length === 1 ? inputs[0] : inputs) as tf.Tensor
  ).dataSync();
  const actual = await graphForward(layer, inputs);
  assert.equal(actual.length, expected.length);
  let worst = 0;
  expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - actual[i]))));
  assert.ok(worst <= tolerance, `${layer.name}: largest difference ${worst}`);
}

describe('graph forms of the MobileNetV2 / EfficientNet layers', () => {
  before(async () => {
    await activateBackend();
    addon = loadAddon('tensorflow');
  });

  it('a layer class has one graph form: registering a second one is refused', () => {
    const dense = graphLayerEmitter('Dense');
    assert.ok(dense);
    assert.throws(
      () => registerGraphLayer('Dense', { ...dense }),
      /graph form of layer class named 'Dense' is already registered/,
    );
    assert.equal(graphLayerEmitter('Dense'), dense);
  });

  it('DepthwiseConv2D: same and valid padding, strides, bias, activation', async () => {
    await assertAgrees(
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'dw' }),
      [[7, 7, 4]],
    );
    await assertAgrees(
      tf.layers.depthwiseConv2d({
        kernelSize: 5,
        strides: 2,
        padding: 'valid',
        depthMultiplier: 2,
        activation: 'relu6',
        name: 'dw_strided',
      }),
      [[9, 9, 3]],
    );
  });

  it('ReLU with and without maxValue; swish and sigmoid activations', async () => {
    await assertAgrees(tf.layers.reLU({ maxValue: 6, name: 'relu6' }), [[4, 4, 2]]);
    await assertAgrees(tf.layers.reLU({ maxValue: 1.5, name: 'relu_max' }), [[4, 4, 2]]);
    await assertAgrees(tf.layers.reLU({ name: 'relu' }), [[4, 4, 2]]);
    await assertAgrees(tf.layers.activation({ activation: 'swish', name: 'swish' }), [[4, 4, 2]]);
    await assertAgrees(
      tf.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'swish', name: 'se_reduce' }),
      [[1, 1, 5]],
    );
    await assertAgrees(
      tf.layers.conv2d({ filters: 5, kernelSize: 1, activation: 'sigmoid', name: 'se_expand' }),
      [[1, 1, 3]],
    );
  });

  it('squeeze-and-excitation: GlobalAveragePooling2D, Reshape, broadcasting Multiply', async () => {
    await assertAgrees(tf.layers.reshape({ targetShape: [1, 1, 6], name: 'se_reshape' }), [[6]]);
    await assertAgrees(tf.layers.multiply({ name: 'se_excite' }), [
      [5, 5, 6],
      [1, 1, 6],
    ]);
  });

  it('Rescaling (scalar and per channel) and Keras Normalization', async () => {
    await assertAgrees(tf.layers.rescaling({ scale: 2, offset: -1, name: 'scale' }), [[4, 4, 3]]);
    await assertAgrees(tf.layers.rescaling({ scale: 1, name: 'identity' }), [[4, 4, 3]]);
    const perChannel = [0.5, 2, 3] as unknown as number;
    await assertAgrees(tf.layers.rescaling({ scale: perChannel, name: 'channels' }), [[4, 4, 3]]);
    await assertAgrees(kerasNormalization({ name: 'normalization' }), [[4, 4, 3]]);
  });

  it('Dropout with a noise shape drops whole samples in training, nothing in inference', async () => {
    const noiseShape = [null, 1, 1, 1] as unknown as number[];
    const layer = tf.layers.dropout({ rate: 0.5, noiseShape, name: 'drop' });
    oneLayer(layer, [[3, 3, 2]]);
    const x = noise([64, 3, 3, 2], 3, 1, 2);
    const values = x.dataSync();
    const trained = await graphForward(layer, [x], true);
    const per = 3 * 3 * 2;
    let dropped = 0;
    for (let n = 0; n < 64; n++) {
      const ratios = Array.from(
        { length: per },
        (_, k) => trained[n * per + k] / values[n * per + k],
      );
      // every value of a sample is kept (x / 0.5) or dropped (0) together
      const kept = Math.abs(ratios[0] - 2) < 1e-6;
      if (!kept) dropped++;
      for (const r of ratios) assert.ok(Math.abs(r - (kept ? 2 : 0)) < 1e-6, `sample ${n}: ${r}`);
    }
    assert.ok(dropped > 10 && dropped < 54, `${dropped} of 64 samples dropped at rate 0.5`);
    assert.deepEqual(await graphForward(layer, [x], false), values);
  });
});
