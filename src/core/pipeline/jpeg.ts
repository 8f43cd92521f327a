/**
 * JPEG face crops decoded with libjpeg-turbo's DCT scaling from 2x (native/jpeg/jpeg_scaled.cc,
 * built by scripts/jpeg-addon.mjs): the scale, the crop box in the scaled image, and the addon's
 * loading. See decodeAndCrop for when it is used.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageSpec } from '../../sdk/contracts/data.js';
import type { Region } from './region.js';

/** The DCT scales libjpeg decodes at (1/1, 1/2, 1/4, 1/8). */
export type DctScale = 1 | 2 | 4 | 8;

/**
 * The largest DCT scale at which the crop, scaled, is still at least the output on both axes:
 * 8, 4 or 2 from crops 8x, 4x or 2x the output, else 1 (no scaling).
 */
export function dctScale(region: Region, spec: ImageSpec): DctScale {
  for (const scale of [8, 4, 2] as const)
    if (region.width / scale >= spec.width && region.height / scale >= spec.height) return scale;
  return 1;
}

/**
 * The crop's box in the image decoded at 1/`scale`: libjpeg's scaled IDCT turns each 8x8 block
 * into an (8/scale)-pixel square, so pixel i of the scaled image covers source pixels
 * [i * scale, (i + 1) * scale) and the box is the region divided by the scale, corners
 * fractional (a right/bottom partial block is rounded up by libjpeg and only adds pixels past
 * the region).
 */
export function scaledBox(region: Region, scale: DctScale): [number, number, number, number] {
  return [region.left / scale, region.top / scale, region.width / scale, region.height / scale];
}

interface JpegAddon {
  decode(
    encoded: Buffer,
    scale: DctScale,
    box: [number, number, number, number],
    width: number,
    height: number,
  ): Promise<Buffer>;
  jpegLibVersion(): number;
}

/**
 * Where scripts/jpeg-addon.mjs puts the addon: native/jpeg/build/ of the package root, the first
 * folder above this module (src/core/pipeline/ or dist/src/core/pipeline/) with a package.json.
 */
export function jpegAddonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'native', 'jpeg', 'build', 'affectlab_jpeg.node');
}

let loaded: { addon?: JpegAddon; error?: string } | undefined;

/**
 * The addon, or undefined with the reason when it is not built or does not load (then JPEGs
 * take sharp's shrink-on-load from 3x, the rule before it). AFFECTLAB_JPEG_ADDON=0 turns it off.
 */
export function jpegAddon(): { addon?: JpegAddon; error?: string } {
  if (loaded) return loaded;
  const path = jpegAddonPath();
  if (process.env.AFFECTLAB_JPEG_ADDON === '0') loaded = { error: 'AFFECTLAB_JPEG_ADDON=0' };
  else if (!existsSync(path))
    loaded = {
      error: `${path} is not built (node scripts/jpeg-addon.mjs; needs libjpeg62-turbo-dev)`,
    };
  else {
    try {
      loaded = { addon: createRequire(import.meta.url)(path) as JpegAddon };
    } catch (error) {
      loaded = { error: `${path} does not load: ${(error as Error).message}` };
    }
  }
  return loaded;
}

/**
 * The cache-key tag of the JPEG decode rule in effect, so entries made by one rule are never
 * read as another's: DCT scaling from 2x with the sub-pixel box (addon), or none (sharp, 3x).
 */
export function jpegDecodeRule(): string | undefined {
  return jpegAddon().addon ? 'jpeg-dct-2x-v1' : undefined;
}

/** Thrown by the addon for a JPEG it leaves to sharp (CMYK, an ICC profile). */
export function isUnsupported(error: unknown): boolean {
  return (error as { code?: string }).code === 'EUNSUPPORTED';
}
