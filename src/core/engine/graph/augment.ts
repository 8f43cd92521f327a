/**
 * Augmentation and batch mixing as graph ops, part of the compiled training step: the same
 * operations, order and float32 arithmetic as the eager form (../augment.ts, which documents
 * the stages), from the same per-image parameter rows.
 */
import type { AugmentOptions } from '../../../sdk/contracts/data.js';
import {
  AUGMENT_PARAMS,
  AugmentParam as P,
  augmentStages,
  erasingNoise,
} from '../../pipeline/augment.js';
import { mixWeights, type ImageSize } from '../augment.js';
import type { PixelMix } from '../engine.js';
import { DType, type FeedTensor, type GraphAddon } from './addon.js';
import { GraphBuilder, type Output } from '../../../sdk/graph-builder.js';

const F32 = DType.float32;
const I32 = DType.int32;

/** Columns [from, from + count) of a [n, K] float32 tensor. */
function columns(b: GraphBuilder, params: Output, from: number, count: number): Output {
  return b.op(
    'Slice',
    [params, b.constI32([0, from]), b.constI32([-1, count])],
    [
      ['T', 'type', F32],
      ['Index', 'type', I32],
    ],
  );
}

/** Column k of [n, K] as [n, 1, 1, 1], to broadcast over an image batch. */
const perImage = (b: GraphBuilder, params: Output, k: number): Output =>
  b.reshape(columns(b, params, k, 1), [-1, 1, 1, 1]);

const compare = (b: GraphBuilder, type: 'GreaterEqual' | 'Less', x: Output, y: Output) =>
  b.cast(b.op(type, [x, y], [['T', 'type', F32]]), DType.bool, F32);

/** A 0/1 mask [n, H, W, 1] of rows [e0, e2) x columns [e1, e3) from edges [n, 4]. */
export function emitBoxMask(b: GraphBuilder, edges: Output, height: number, width: number): Output {
  const edge = (k: number) => perImage(b, edges, k);
  const rows = b.constF32(
    Array.from({ length: height }, (_, i) => i),
    [1, height, 1, 1],
  );
  const cols = b.constF32(
    Array.from({ length: width }, (_, i) => i),
    [1, 1, width, 1],
  );
  const inRows = b.mul(
    compare(b, 'GreaterEqual', rows, edge(0)),
    compare(b, 'Less', rows, edge(2)),
  );
  const inCols = b.mul(
    compare(b, 'GreaterEqual', cols, edge(1)),
    compare(b, 'Less', cols, edge(3)),
  );
  return b.mul(inRows, inCols);
}

function emitTransform(b: GraphBuilder, x: Output, params: Output, image: ImageSize): Output {
  return b.op(
    'ImageProjectiveTransformV3',
    [x, columns(b, params, P.transform, 8), b.constI32([image.height, image.width]), b.constF32(0)],
    [
      ['dtype', 'type', F32],
      ['interpolation', 'string', 'BILINEAR'],
      ['fill_mode', 'string', 'NEAREST'],
    ],
  );
}

function emitColour(b: GraphBuilder, y: Output, params: Output): Output {
  const c = perImage(b, params, P.contrast);
  const mean = b.op(
    'Mean',
    [y, b.constI32([1, 2, 3])],
    [
      ['T', 'type', F32],
      ['Tidx', 'type', I32],
      ['keep_dims', 'bool', true],
    ],
  );
  const offset = b.add(b.mul(mean, b.sub(b.constF32(1), c)), perImage(b, params, P.brightness));
  return b.minimum(b.maximum(b.add(b.mul(y, c), offset), b.constF32(0)), b.constF32(1));
}

/** The H x W window of the noise table at each image's (noiseRow, noiseCol): [n, H, W, C]. */
function emitNoiseWindow(b: GraphBuilder, params: Output, image: ImageSize, seed: number): Output {
  const { height, width, channels } = image;
  const table = b.constF32(erasingNoise(seed, height, width, channels), [
    2 * height,
    2 * width,
    channels,
  ]);
  const offsets = (k: number, length: number) =>
    b.op(
      'AddV2',
      [
        b.cast(columns(b, params, k, 1), F32, I32),
        b.constI32(
          Array.from({ length }, (_, i) => i),
          [1, length],
        ),
      ],
      [['T', 'type', I32]],
    );
  const gather = (values: Output, indices: Output, axis: number, batchDims: number) =>
    b.op(
      'GatherV2',
      [values, indices, b.constI32(axis)],
      [
        ['Tparams', 'type', F32],
        ['Tindices', 'type', I32],
        ['Taxis', 'type', I32],
        ['batch_dims', 'int', batchDims],
      ],
    );
  const rows = gather(table, offsets(P.noiseRow, height), 0, 0);
  return gather(rows, offsets(P.noiseCol, width), 2, 1);
}

function emitErasing(
  b: GraphBuilder,
  y: Output,
  params: Output,
  image: ImageSize,
  noise: (() => Output) | undefined,
): Output {
  const mask = emitBoxMask(b, columns(b, params, P.eraseTop, 4), image.height, image.width);
  let fill = perImage(b, params, P.eraseValue);
  if (noise) {
    const random = perImage(b, params, P.eraseRandom);
    fill = b.add(b.mul(fill, b.sub(b.constF32(1), random)), b.mul(noise(), random));
  }
  return b.add(b.mul(y, b.sub(b.constF32(1), mask)), b.mul(fill, mask));
}

/**
 * The augmented batch from unit pixels `x` [n, H, W, C] and the fed parameter rows (returned
 * as `params`, placeholder [n, AUGMENT_PARAMS]); only the stages `options` can change are
 * built. Undefined when none can.
 */
export function emitAugment(
  b: GraphBuilder,
  x: Output,
  options: AugmentOptions | undefined,
  image: ImageSize,
  seed: number,
): { output: Output; params: Output } | undefined {
  const stages = augmentStages(options);
  if (!stages.geometry && !stages.colour && !stages.erasing) return undefined;
  return b.scoped('augment', () => {
    const params = b.placeholder('params', F32, [-1, AUGMENT_PARAMS]);
    let y = x;
    if (stages.geometry) y = emitTransform(b, y, params, image);
    if (stages.colour) y = emitColour(b, y, params);
    const noise = stages.randomFill ? () => emitNoiseWindow(b, params, image, seed) : undefined;
    if (stages.erasing) y = emitErasing(b, y, params, image, noise);
    return { output: y, params };
  });
}

/**
 * Batch mixing: x a + x[partner] (1 - a), a = inside inside the box and outside elsewhere.
 * Feeds default to no mix (partner: each row itself, a = 1).
 */
export function emitMix(
  b: GraphBuilder,
  x: Output,
  image: ImageSize,
  batchSize: () => Output,
): { output: Output; partner: Output; weights: Output; box: Output } {
  return b.scoped('mix', () => {
    const identity = b.op(
      'Range',
      [
        b.constI32(0),
        b.op(
          'Reshape',
          [batchSize(), b.constI32([])],
          [
            ['T', 'type', I32],
            ['Tshape', 'type', I32],
          ],
        ),
        b.constI32(1),
      ],
      [['Tidx', 'type', I32]],
    );
    const feed = (fallback: Output, dtype: number, shape: number[], name: string) =>
      b.op(
        'PlaceholderWithDefault',
        [fallback],
        [
          ['dtype', 'type', dtype],
          ['shape', 'shape', shape],
        ],
        { name },
      );
    const partner = feed(identity, I32, [-1], 'partner');
    // [inside, outside]
    const weights = feed(b.constF32([1, 1]), F32, [2], 'weights');
    const box = feed(b.constF32([0, 0, 0, 0], [1, 4]), F32, [1, 4], 'box');
    const mask = emitBoxMask(b, box, image.height, image.width);
    const weight = (k: number) =>
      b.op(
        'Slice',
        [weights, b.constI32([k]), b.constI32([1])],
        [
          ['T', 'type', F32],
          ['Index', 'type', I32],
        ],
      );
    const a = b.add(b.mul(mask, weight(0)), b.mul(b.sub(b.constF32(1), mask), weight(1)));
    const other = b.op(
      'GatherV2',
      [x, partner, b.constI32(0)],
      [
        ['Tparams', 'type', F32],
        ['Tindices', 'type', I32],
        ['Taxis', 'type', I32],
        ['batch_dims', 'int', 0],
      ],
    );
    const output = b.add(b.mul(x, a), b.mul(other, b.sub(b.constF32(1), a)));
    return { output, partner, weights, box };
  });
}

/**
 * Run just the step's augmentation (and mixing) in a graph of its own: unit pixels [n, H, W, C]
 * and parameter rows in, the batch the training pass would read out. For tests and previews.
 */
export async function augmentInGraph(
  addon: GraphAddon,
  x: Float32Array,
  shape: [number, number, number, number],
  params: Float32Array,
  options: AugmentOptions,
  seed: number,
  mix?: PixelMix,
): Promise<Float32Array> {
  const b = new GraphBuilder(addon);
  const [n, height, width, channels] = shape;
  const image = { height, width, channels };
  const input = b.placeholder('x', F32, [-1, height, width, channels]);
  const augmented = emitAugment(b, input, options, image, seed);
  const names = [input];
  const values: FeedTensor[] = [{ dtype: F32, shape, data: x }];
  if (augmented) {
    names.push(augmented.params);
    values.push({ dtype: F32, shape: [n, AUGMENT_PARAMS], data: params });
  }
  let output = augmented?.output ?? input;
  if (mix) {
    const batchSize = () =>
      b.op(
        'StridedSlice',
        [b.shape(input), b.constI32([0]), b.constI32([1]), b.constI32([1])],
        [
          ['T', 'type', I32],
          ['Index', 'type', I32],
        ],
      );
    const mixed = emitMix(b, output, image, batchSize);
    const [inside, outside] = mixWeights(mix);
    names.push(mixed.partner, mixed.weights, mixed.box);
    values.push(
      { dtype: I32, shape: [n], data: mix.partner },
      { dtype: F32, shape: [2], data: Float32Array.of(inside, outside) },
      { dtype: F32, shape: [1, 4], data: Float32Array.from(mix.box ?? [0, 0, 0, 0]) },
    );
    output = mixed.output;
  }
  if (output === input) output = b.identity(input);
  const session = addon.newSession(b.graph, null);
  try {
    const [out] = await addon.runSession(session, names, values, [output], []);
    return new Float32Array(out.data).slice();
  } finally {
    addon.closeSession(session);
  }
}
