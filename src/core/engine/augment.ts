/**
 * Augmentation and batch mixing inside the training step, eager form: the same operations, in
 * the same order and float32 arithmetic, as the compiled step's (graph/augment.ts), so the two
 * engines augment an image the same way. The per-image draws come from the pipeline as
 * parameter rows (src/core/pipeline/augment.ts: AUGMENT_PARAMS per image); nothing here draws.
 *
 * 1. geometry: ImageProjectiveTransformV3, bilinear, `NEAREST` fill (the border replicated);
 * 2. colour: y c + (mean(y) (1 - c) + b), clamped to [0, 1] (contrast c about the image's mean,
 *    brightness b; exact identity for c = 1, b = 0);
 * 3. erasing: y (1 - m) + fill m with m the rectangle's 0/1 mask; the fill is the constant, or
 *    the image's window of the run's noise table;
 * 4. mixing (mixup, CutMix): x a + x[partner] (1 - a) with a the weight inside / outside the
 *    CutMix box (mixup: lambda everywhere).
 */
import * as tf from '@tensorflow/tfjs';
import type { AugmentOptions } from '../../sdk/contracts/data.js';
import {
  AUGMENT_PARAMS,
  AugmentParam as P,
  augmentStages,
  erasingNoise,
} from '../pipeline/augment.js';
import type { PixelMix } from './engine.js';

/** The image size the step works on. */
export interface ImageSize {
  height: number;
  width: number;
  channels: number;
}

/** The part of tfjs-node's backend that runs one native op. */
interface NativeBackend {
  binding: { TF_ATTR_STRING: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: unknown[], inputs: tf.TensorInfo[]): tf.TensorInfo;
}

/**
 * tfjs-node registers no kernel for tfjs' `Transform` (tf.image.transform): give it one that
 * runs TensorFlow's own ImageProjectiveTransformV3, the op the compiled step uses.
 */
function ensureNativeTransform(): void {
  if (tf.getKernel('Transform', 'tensorflow')) return;
  tf.registerKernel({
    kernelName: 'Transform',
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, attrs, backend }) => {
      const native = backend as unknown as NativeBackend;
      const { image, transforms } = inputs as { image: tf.TensorInfo; transforms: tf.TensorInfo };
      const { interpolation, fillMode, fillValue } = attrs as {
        interpolation: string;
        fillMode: string;
        fillValue: number;
      };
      const size = tf.tensor1d([image.shape[1], image.shape[2]], 'int32');
      const fill = tf.scalar(fillValue, 'float32');
      try {
        return native.executeSingleOutput(
          'ImageProjectiveTransformV3',
          [
            { name: 'dtype', type: native.binding.TF_ATTR_TYPE, value: native.binding.TF_FLOAT },
            {
              name: 'interpolation',
              type: native.binding.TF_ATTR_STRING,
              value: interpolation.toUpperCase(),
            },
            {
              name: 'fill_mode',
              type: native.binding.TF_ATTR_STRING,
              value: fillMode.toUpperCase(),
            },
          ],
          [image, transforms, size, fill],
        );
      } finally {
        size.dispose();
        fill.dispose();
      }
    },
  });
}

/**
 * The geometric transform of a batch. On tfjs-node, TensorFlow's kernel (registered above); on
 * tfjs' CPU backend, whose Transform kernel returns after the first image of a batch, one image
 * at a time.
 */
function transformImages(x: tf.Tensor4D, transforms: tf.Tensor2D): tf.Tensor4D {
  const transform = (image: tf.Tensor4D, t: tf.Tensor2D) =>
    tf.image.transform(image, t, 'bilinear', 'nearest', 0);
  if (tf.getBackend() === 'tensorflow') {
    ensureNativeTransform();
    return transform(x, transforms);
  }
  const n = x.shape[0];
  const images = Array.from({ length: n }, (_, r) =>
    transform(x.slice(r, 1), transforms.slice(r, 1)),
  );
  return tf.concat(images, 0);
}

/** A 0/1 mask [n, H, W, 1] of the rows [top, bottom) x columns [left, right) of each row. */
export function boxMask(edges: tf.Tensor2D, height: number, width: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = edges.shape[0];
    const col = (k: number) => edges.slice([0, k], [n, 1]).reshape([n, 1, 1, 1]);
    const rows = tf.tensor4d(
      Float32Array.from({ length: height }, (_, i) => i),
      [1, height, 1, 1],
    );
    const cols = tf.tensor4d(
      Float32Array.from({ length: width }, (_, i) => i),
      [1, 1, width, 1],
    );
    const inRows = tf.mul(tf.greaterEqual(rows, col(0)).toFloat(), tf.less(rows, col(2)).toFloat());
    const inCols = tf.mul(tf.greaterEqual(cols, col(1)).toFloat(), tf.less(cols, col(3)).toFloat());
    return tf.mul(inRows, inCols) as tf.Tensor4D;
  });
}

/** The eager form of the step's augmentation for one run's options and image size. */
export class EagerAugment {
  private readonly stages: ReturnType<typeof augmentStages>;
  /** The noise table [2H, 2W, C] for `value: random` erasing. */
  private readonly noise?: tf.Tensor3D;

  constructor(
    options: AugmentOptions | undefined,
    private readonly image: ImageSize,
    seed: number,
  ) {
    this.stages = augmentStages(options);
    const { height, width, channels } = image;
    if (this.stages.randomFill)
      this.noise = tf.tensor3d(erasingNoise(seed, height, width, channels), [
        2 * height,
        2 * width,
        channels,
      ]);
  }

  get active(): boolean {
    const s = this.stages;
    return s.geometry || s.colour || s.erasing;
  }

  /** The augmented batch (a new tensor) from unit pixels [n, H, W, C] and the parameter rows. */
  apply(x: tf.Tensor4D, params: Float32Array): tf.Tensor4D {
    const n = x.shape[0];
    if (params.length !== n * AUGMENT_PARAMS)
      throw new Error(
        `augment: ${params.length} parameters for ${n} images (${AUGMENT_PARAMS} each)`,
      );
    return tf.tidy(() => {
      const p = tf.tensor2d(params, [n, AUGMENT_PARAMS]);
      const column = (k: number) => p.slice([0, k], [n, 1]).reshape([n, 1, 1, 1]);
      let y = x;
      if (this.stages.geometry) y = transformImages(y, p.slice([0, P.transform], [n, 8]));
      if (this.stages.colour) {
        const c = column(P.contrast);
        const mean = tf.mean(y, [1, 2, 3], true);
        const offset = tf.add(tf.mul(mean, tf.sub(tf.scalar(1), c)), column(P.brightness));
        y = tf.minimum(tf.maximum(tf.add(tf.mul(y, c), offset), tf.scalar(0)), tf.scalar(1));
      }
      if (this.stages.erasing) {
        const mask = boxMask(p.slice([0, P.eraseTop], [n, 4]) as tf.Tensor2D, ...this.hw());
        y = tf.add(tf.mul(y, tf.sub(tf.scalar(1), mask)), tf.mul(this.fill(p, n), mask));
      }
      return y.clone();
    });
  }

  private hw(): [number, number] {
    return [this.image.height, this.image.width];
  }

  /** The erasing fill per image: its constant, or (eraseRandom 1) its noise window. */
  private fill(p: tf.Tensor2D, n: number): tf.Tensor {
    const column = (k: number) => p.slice([0, k], [n, 1]).reshape([n, 1, 1, 1]);
    const value = column(P.eraseValue);
    if (!this.noise) return value;
    const random = column(P.eraseRandom);
    const { height, width } = this.image;
    const offsets = (k: number, length: number) =>
      tf.add(
        p.slice([0, k], [n, 1]).toInt(),
        tf.range(0, length, 1, 'int32').reshape([1, length]),
      ) as tf.Tensor2D;
    const rows = tf.gather(this.noise, offsets(P.noiseRow, height), 0);
    const window = tf.gather(rows, offsets(P.noiseCol, width), 2, 1);
    return tf.add(tf.mul(value, tf.sub(tf.scalar(1), random)), tf.mul(window, random));
  }

  dispose(): void {
    this.noise?.dispose();
  }
}

/** The mixed batch (a new tensor): x a + x[partner] (1 - a), a per pixel from the mix. */
export function mixImages(
  x: tf.Tensor4D,
  mix: PixelMix,
  height: number,
  width: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const partner = tf.gather(x, tf.tensor1d(mix.partner, 'int32'), 0);
    const [inside, outside] = mixWeights(mix);
    const box = mix.box ?? [0, 0, 0, 0];
    const mask = boxMask(tf.tensor2d(box, [1, 4]), height, width);
    const a = tf.add(
      tf.mul(mask, tf.scalar(inside, 'float32')),
      tf.mul(tf.sub(tf.scalar(1), mask), tf.scalar(outside, 'float32')),
    );
    return tf.add(tf.mul(x, a), tf.mul(partner, tf.sub(tf.scalar(1), a))) as tf.Tensor4D;
  });
}

/** The weight of an image's own pixels inside and outside the box: [inside, outside]. */
export function mixWeights(mix: PixelMix): [number, number] {
  return mix.box ? [0, 1] : [mix.lambda, mix.lambda];
}
