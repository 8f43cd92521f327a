import sharp from 'sharp';
import type { FaceBox, ImageSpec } from '../../sdk/contracts/data.js';
import { alignedSourceRegion, sampleAligned } from './align.js';
import { luminance } from './face-input.js';
import { dctScale, isUnsupported, jpegAddon, scaledBox } from './jpeg.js';
import { BadImageError, cropRegion, type Region } from './region.js';

// face-box geometry lives in region.ts (free of sharp, so the web export's page runs it too)
export { BadImageError, cropRegion, type BadImageReason, type Region } from './region.js';

/**
 * Width and height from a JPEG's frame header or a PNG's IHDR, read in JavaScript; undefined
 * for anything else (or a header it cannot walk), which then goes through sharp's metadata().
 * Saves a libvips header parse and a thread-pool round trip per image on the cold path.
 */
export function headerSize(encoded: Buffer): { width: number; height: number } | undefined {
  if (encoded.length >= 24 && encoded.readUInt32BE(0) === 0x89504e47) {
    if (encoded.toString('latin1', 12, 16) !== 'IHDR') return undefined;
    return { width: encoded.readUInt32BE(16), height: encoded.readUInt32BE(20) };
  }
  if (encoded.length < 4 || encoded[0] !== 0xff || encoded[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= encoded.length) {
    if (encoded[i] !== 0xff) return undefined;
    const marker = encoded[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // SOF0-15 except DHT (c4), JPG (c8) and DAC (cc) carry the frame size
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 > encoded.length) return undefined;
      const height = encoded.readUInt16BE(i + 5);
      const width = encoded.readUInt16BE(i + 7);
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end / scan before any frame
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + encoded.readUInt16BE(i + 2);
  }
  return undefined;
}

/**
 * The smallest crop / output factor sharp decodes with shrink-on-load (see decodeAndCrop): the
 * rule when the JPEG addon is not built, and for the JPEGs the addon leaves to sharp.
 */
export const SHRINK_ON_LOAD_FROM = 3;

/** The smallest crop / output factor decoded with DCT scaling, with or without the addon. */
export function shrinkOnLoadFrom(): number {
  return jpegAddon().addon ? 2 : SHRINK_ON_LOAD_FROM;
}

function isJpeg(encoded: Buffer): boolean {
  return encoded.length > 3 && encoded[0] === 0xff && encoded[1] === 0xd8;
}

/**
 * Decode an encoded image, crop it to the (margin-grown) face box, resize it to the spec
 * (stretching: the crop fills the output exactly; bilinear, as tf.image.resize, and measurably
 * cheaper than lanczos3) and return uint8 HWC pixels, row-major,
 * `channels` per pixel (RGB, or luminance for 1 channel). EXIF orientation is not applied by
 * default: AffectNet's face boxes are in the stored pixel coordinates. `autoOrient` turns a
 * whole image (no box) upright first, as a photo viewer or a browser shows it (predict).
 *
 * `shrinkOnLoad` (default on): a JPEG crop at least twice the output on both axes is decoded
 * at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg-turbo's scaled IDCT), the largest scale at
 * which the scaled crop is still at least the output, by affectlab's JPEG addon (jpeg.ts,
 * native/jpeg/jpeg_scaled.cc): it decodes only the rows and iMCU columns the crop needs, maps
 * the crop box into the scaled image sub-pixel exactly (region / scale) and resizes that box with
 * the antialiased bilinear (triangle) filter, as PIL's `Image.draft` + `resize(box=...)`. A CMYK
 * or ICC-tagged JPEG, or any JPEG when the addon is not built, goes through sharp instead, which
 * shrinks on load only from 3x (sharp 0.34 lowers its load shrink whenever the integer part of
 * the factor equals it) by resizing the whole image at the crop's scale and then cropping, the
 * crop's corners on whole output pixels. `shrinkOnLoad: false`: sharp's extract + resize always
 * (the exact path). bench/pipeline.ts measures the difference to the exact path and to PIL's.
 */
export async function decodeAndCrop(
  encoded: Buffer,
  crop: FaceBox | undefined,
  margin: number,
  spec: ImageSpec,
  autoOrient = false,
  shrinkOnLoad = true,
): Promise<Uint8Array> {
  let width: number;
  let height: number;
  const known = headerSize(encoded);
  if (known) {
    ({ width, height } = known);
  } else {
    try {
      const meta = await sharp(encoded).metadata();
      if (!meta.width || !meta.height) throw new Error('no image dimensions');
      width = meta.width;
      height = meta.height;
    } catch (error) {
      throw new BadImageError('corrupt image', (error as Error).message);
    }
  }
  const region = cropRegion(crop, margin, width, height);
  if (crop?.angle !== undefined) return decodeAligned(encoded, crop, margin, spec, width, height);
  const whole =
    region.left === 0 && region.top === 0 && region.width === width && region.height === height;
  // whole images (predict) decode exactly, as before the addon: only crops are DCT-scaled
  if (!whole && shrinkOnLoad && isJpeg(encoded)) {
    const pixels = await decodeScaled(encoded, region, spec);
    if (pixels) return pixels;
  }
  try {
    let image = sharp(encoded, { failOn: 'error' });
    const shrink = Math.min(region.width / spec.width, region.height / spec.height);
    if (!whole && shrinkOnLoad && shrink >= SHRINK_ON_LOAD_FROM && isJpeg(encoded)) {
      // the whole image at the crop's scale, then the crop: see the doc comment
      const scaledWidth = Math.max(spec.width, Math.round((width * spec.width) / region.width));
      const scaledHeight = Math.max(
        spec.height,
        Math.round((height * spec.height) / region.height),
      );
      const left = Math.min(
        scaledWidth - spec.width,
        Math.round((region.left * scaledWidth) / width),
      );
      const top = Math.min(
        scaledHeight - spec.height,
        Math.round((region.top * scaledHeight) / height),
      );
      image = image
        .resize(scaledWidth, scaledHeight, {
          fit: 'fill',
          kernel: 'linear',
          fastShrinkOnLoad: true,
        })
        .extract({ left, top, width: spec.width, height: spec.height });
    } else {
      if (!whole) image = image.extract(region);
      else if (autoOrient && !crop) image = image.rotate();
      image = image.resize(spec.width, spec.height, { fit: 'fill', kernel: 'linear' });
    }
    image = image.removeAlpha().toColourspace(spec.channels === 1 ? 'b-w' : 'srgb');
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    if (
      info.channels !== spec.channels ||
      info.width !== spec.width ||
      info.height !== spec.height
    ) {
      throw new Error(
        `decoded to ${info.width}x${info.height}x${info.channels}, expected ${spec.width}x${spec.height}x${spec.channels}`,
      );
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    throw new BadImageError('corrupt image', (error as Error).message);
  }
}

/**
 * The crop decoded by the JPEG addon with DCT scaling (see decodeAndCrop), or undefined when
 * the crop is under 2x the output, the addon is not built, or it leaves this JPEG to sharp.
 */
async function decodeScaled(
  encoded: Buffer,
  region: Region,
  spec: ImageSpec,
): Promise<Uint8Array | undefined> {
  const scale = dctScale(region, spec);
  const { addon } = jpegAddon();
  if (scale === 1 || !addon) return undefined;
  let rgb: Buffer;
  try {
    rgb = await addon.decode(encoded, scale, scaledBox(region, scale), spec.width, spec.height);
  } catch (error) {
    if (isUnsupported(error)) return undefined;
    throw new BadImageError('corrupt image', (error as Error).message);
  }
  const pixels = new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return spec.channels === 1 ? luminance(pixels) : pixels;
}

/**
 * An aligned crop (`crop.angle` set, see align.ts) resized to the spec: the rotated crop's
 * bounding region is decoded, the crop sampled from it at the image's scale, then stretched to
 * the output with the bilinear filter as a face-box crop is.
 */
async function decodeAligned(
  encoded: Buffer,
  crop: FaceBox,
  margin: number,
  spec: ImageSpec,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const region = alignedSourceRegion(crop, margin, width, height);
  if (!region)
    throw new BadImageError('face box outside the image', 'the aligned crop misses the image');
  try {
    const { data, info } = await sharp(encoded, { failOn: 'error' })
      .extract(region)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return await alignedToSpec(pixels, info.width, info.height, crop, margin, spec, region);
  } catch (error) {
    throw new BadImageError('corrupt image', (error as Error).message);
  }
}

/**
 * The aligned crop of `crop` from RGB pixels (`offset`: where they sit in the image), resized to
 * `spec` (fill, bilinear) as uint8 HWC, RGB or luminance.
 */
export async function alignedToSpec(
  rgb: Uint8Array,
  width: number,
  height: number,
  crop: FaceBox,
  margin: number,
  spec: ImageSpec,
  offset: { left: number; top: number } = { left: 0, top: 0 },
): Promise<Uint8Array> {
  const face = sampleAligned(rgb, width, height, 3, crop, margin, offset);
  const { data, info } = await sharp(face.data, {
    raw: { width: face.width, height: face.height, channels: 3 },
  })
    .resize(spec.width, spec.height, { fit: 'fill', kernel: 'linear' })
    .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== spec.channels)
    throw new Error(
      `aligned face came out with ${info.channels} channels, expected ${spec.channels}`,
    );
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
