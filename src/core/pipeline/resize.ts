/**
 * The bilinear "fill" resize of 8-bit images in plain JavaScript, computed as sharp 0.34
 * (libvips 8.17) computes `resize(w, h, { fit: 'fill', kernel: 'linear' })`: per axis a box
 * shrink by an integer factor (when the factor is at least 4), then a triangle filter as wide as
 * the remaining factor, both in libvips' fixed-point arithmetic; an axis that grows is
 * interpolated bilinearly with libvips' sampling offsets. It lets a browser prepare faces with the
 * pixels `affectlab predict` gets from sharp (test/unit/data/face-input.test.ts compares the two
 * on random and real images). No imports: the web export serves this file to the page as it
 * is. A sharp upgrade that changes libvips' resampling fails that test.
 */

/** An 8-bit image, `channels` values per pixel, rows top to bottom. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Sub-pixel positions of the filter tables (libvips' VIPS_TRANSFORM_SCALE). */
const POSITIONS = 64;
/** Fixed-point fraction bits of filter weights (VIPS_INTERPOLATE_SHIFT). */
const SHIFT = 12;
const ONE = 1 << SHIFT;
/** libvips' reducing gap: a box shrink takes the integer part of factors of at least twice this. */
const GAP = 2;

/** C's rint (round half to even). */
function rint(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Pixel accessors that swap axes, so one routine reduces rows and columns. */
interface Axis {
  /** Length along the axis being resized, and across it. */
  along: number;
  across: number;
  /** Offset of value `c` of pixel `i` along, `j` across. */
  at(i: number, j: number, c: number): number;
}

function axis(image: Pixels, vertical: boolean): Axis {
  const { width, height, channels } = image;
  return vertical
    ? { along: height, across: width, at: (i, j, c) => (i * width + j) * channels + c }
    : { along: width, across: height, at: (i, j, c) => (j * width + i) * channels + c };
}

function blank(image: Pixels, vertical: boolean, length: number): Pixels {
  const width = vertical ? image.width : length;
  const height = vertical ? length : image.height;
  const { channels } = image;
  return { data: new Uint8Array(width * height * channels), width, height, channels };
}

/** Average blocks of `factor` pixels along one axis (the last block padded with the edge pixel). */
function boxShrink(image: Pixels, vertical: boolean, factor: number): Pixels {
  const from = axis(image, vertical);
  const length = Math.ceil(from.along / factor);
  const out = blank(image, vertical, length);
  const to = axis(out, vertical);
  const multiplier = Math.floor(2 ** 32 / (256 * factor));
  const amend = factor >> 1;
  for (let j = 0; j < from.across; j++)
    for (let i = 0; i < length; i++)
      for (let c = 0; c < image.channels; c++) {
        let sum = amend;
        for (let k = 0; k < factor; k++)
          sum += image.data[from.at(Math.min(i * factor + k, from.along - 1), j, c)];
        out.data[to.at(i, j, c)] = Math.floor((sum * multiplier) / 2 ** 24);
      }
  return out;
}

/** libvips' triangle-filter weights for each of the POSITIONS + 1 sub-pixel offsets. */
function filterTable(points: number, shrink: number): Int16Array[] {
  const table: Int16Array[] = [];
  for (let t = 0; t <= POSITIONS; t++) {
    const half = Math.fround(t / POSITIONS) + points / 2 - 1;
    const weights: number[] = [];
    let sum = 0;
    for (let i = 0; i < points; i++) {
      const w = Math.max(0, 1 - Math.abs((i - half) / shrink));
      weights.push(w);
      sum += w;
    }
    table.push(Int16Array.from(weights, (w) => Math.trunc((w / sum) * ONE)));
  }
  return table;
}

/** The pixels an axis of `size` pixels reduced by `shrink` keeps. */
const reducedLength = (size: number, shrink: number): number => Math.trunc(size / shrink + 0.5);

/** The integer box shrink libvips does first when reducing `size` pixels by `shrink`. */
const boxFactor = (size: number, shrink: number): number =>
  Math.max(1, Math.floor(size / reducedLength(size, shrink) / GAP));

/**
 * Reduce one axis by `shrink` (>= 1), as libvips' reducev/reduceh. `restart`: libvips computes
 * the output `restart` pixels at a time along the axis (0: at once) and starts its running
 * sample position afresh each time, which can move a value landing on a table boundary.
 */
function reduce(image: Pixels, vertical: boolean, shrink: number, restart: number): Pixels {
  const size = vertical ? image.height : image.width;
  const length = reducedLength(size, shrink);
  let extra = length * shrink - size;
  let residual = shrink;
  const factor = boxFactor(size, shrink);
  if (factor > 1) {
    image = boxShrink(image, vertical, factor);
    extra /= factor;
    residual /= factor;
  }
  if (residual === 1) return image;
  const points = 2 * rint(residual) + 1;
  const table = filterTable(points, residual);
  const offset = (1 + extra) / 2 - 1;
  const pad = Math.ceil(points / 2) - 1;
  const from = axis(image, vertical);
  const out = blank(image, vertical, length);
  const to = axis(out, vertical);
  let position = 0.5 * residual - 0.5 - offset;
  for (let i = 0; i < length; i++, position += residual) {
    if (restart > 0 && i % restart === 0) position = (i + 0.5) * residual - 0.5 - offset;
    const first = Math.trunc(position);
    const weights = table[((Math.trunc(position * POSITIONS * 2) & (POSITIONS * 2 - 1)) + 1) >> 1];
    for (let j = 0; j < from.across; j++)
      for (let c = 0; c < image.channels; c++) {
        let sum = ONE >> 1;
        for (let k = 0; k < points; k++) {
          // the padded image's pixel first + k: the edge pixel repeated beyond the image
          const p = Math.min(Math.max(first + k - pad, 0), from.along - 1);
          sum += weights[k] * image.data[from.at(p, j, c)];
        }
        out.data[to.at(i, j, c)] = Math.min(255, Math.max(0, sum >> SHIFT));
      }
  }
  return out;
}

/**
 * Enlarge by `xScale`, `yScale` (1 for an axis kept) bilinearly, as libvips' affine does, its
 * running x position started afresh every `restart` output columns (0: never), as reduce's.
 */
function enlarge(image: Pixels, xScale: number, yScale: number, restart: number): Pixels {
  const { width, height, channels, data } = image;
  const inverse = 1 / (xScale * yScale);
  const ix = inverse * yScale;
  const iy = inverse * xScale;
  const outWidth = Math.trunc(xScale * width + 0.5);
  const outHeight = Math.trunc(yScale * height + 0.5);
  const out = new Uint8Array(outWidth * outHeight * channels);
  // the image padded by one pixel at the top left: source x of output u is ix * u + 0.5 there
  const pixel = (x: number, y: number, c: number): number =>
    data[
      (Math.min(Math.max(y - 1, 0), height - 1) * width + Math.min(Math.max(x - 1, 0), width - 1)) *
        channels +
        c
    ];
  for (let v = 0; v < outHeight; v++) {
    const y = iy * v + 0.5;
    const y0 = Math.trunc(y);
    const fy = Math.trunc((y - y0) * ONE);
    let x = 0.5;
    for (let u = 0; u < outWidth; u++, x += ix) {
      if (restart > 0 && u % restart === 0) x = ix * u + 0.5;
      const x0 = Math.trunc(x);
      const fx = Math.trunc((x - x0) * ONE);
      const c4 = (fy * fx) >> SHIFT;
      const c2 = ((ONE - fy) * fx) >> SHIFT;
      const c3 = fy - c4;
      const c1 = ONE - fy - c2;
      for (let c = 0; c < channels; c++) {
        const sum =
          c1 * pixel(x0, y0, c) +
          c2 * pixel(x0 + 1, y0, c) +
          c3 * pixel(x0, y0 + 1, c) +
          c4 * pixel(x0 + 1, y0 + 1, c);
        out[(v * outWidth + u) * channels + c] = (sum + (ONE >> 1)) >> SHIFT;
      }
    }
  }
  return { data: out, width: outWidth, height: outHeight, channels };
}

/**
 * `image` stretched to `width` x `height` as sharp's `resize(width, height, { fit: 'fill',
 * kernel: 'linear' })`: rows reduced first, then columns, then any enlargement.
 */
export function resizeLinear(image: Pixels, width: number, height: number): Pixels {
  const hShrink = Math.min(image.width / width, image.width);
  const vShrink = Math.min(image.height / height, image.height);
  if (hShrink === 1 && vShrink === 1) return image;
  let hScale = Math.max(1 / hShrink, 1 / image.width);
  let vScale = Math.max(1 / vShrink, 1 / image.height);
  // libvips computes the result region by region: in 128 x 128 tiles once a box shrink is in the
  // pipeline, else in whole rows, and the row reduce in strips of 16 when a column box shrink
  // follows it (found by comparing with sharp: with these restarts the two agree exactly)
  const hBox = hScale < 1 && boxFactor(image.width, 1 / hScale) > 1;
  const vBox = vScale < 1 && boxFactor(image.height, 1 / vScale) > 1;
  const columns = hBox || vBox ? 128 : 0;
  let out = image;
  if (vScale < 1) out = reduce(out, true, 1 / vScale, hBox ? 16 : 0);
  if (hScale < 1) out = reduce(out, false, 1 / hScale, columns);
  if (hScale > 1 || vScale > 1) {
    hScale = hScale > 1 ? hScale : 1;
    vScale = vScale > 1 ? vScale : 1;
    out = enlarge(out, hScale, vScale, columns);
  }
  return out;
}
