/**
 * Where a face box is cropped from an image: the box grown by the margin and clamped to the
 * image, and the error of a box that cannot be used. Types are its only imports: the web export
 * serves the compiled file to its page, which crops detected faces with the same code as
 * `predict`.
 */
import type { FaceBox } from '../../sdk/contracts/data.js';

/** Why an image could not be used. Each is a category in the bad-record summary. */
export type BadImageReason = 'missing image file' | 'corrupt image' | 'face box outside the image';

/** An image that cannot be used; the pipeline counts it and skips it (or fails, per policy). */
export class BadImageError extends Error {
  constructor(
    readonly reason: BadImageReason,
    message: string,
  ) {
    super(message);
    this.name = 'BadImageError';
  }
}

export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The pixel region to crop: the face box grown by `margin` (a fraction of the box's width and
 * height on each side), clamped to the image. No box means the whole image. A box partly
 * outside the image is clamped to it, as Keras/AffectNet pipelines do (detector boxes often
 * overshoot the border); one entirely outside, or empty, throws BadImageError.
 */
export function cropRegion(
  box: FaceBox | undefined,
  margin: number,
  imageWidth: number,
  imageHeight: number,
): Region {
  if (!box) return { left: 0, top: 0, width: imageWidth, height: imageHeight };
  const described = `box x=${box.x} y=${box.y} w=${box.width} h=${box.height}`;
  if (!(box.width > 0 && box.height > 0)) {
    throw new BadImageError('face box outside the image', `${described} is empty`);
  }
  // the part of the box itself (no margin) that lies on the image
  const overlapX = Math.min(imageWidth, box.x + box.width) - Math.max(0, box.x);
  const overlapY = Math.min(imageHeight, box.y + box.height) - Math.max(0, box.y);
  if (!(overlapX > 0 && overlapY > 0)) {
    throw new BadImageError(
      'face box outside the image',
      `${described} lies entirely outside the ${imageWidth}x${imageHeight} image`,
    );
  }
  const left = Math.max(0, Math.floor(box.x - margin * box.width));
  const top = Math.max(0, Math.floor(box.y - margin * box.height));
  const right = Math.min(imageWidth, Math.ceil(box.x + box.width * (1 + margin)));
  const bottom = Math.min(imageHeight, Math.ceil(box.y + box.height * (1 + margin)));
  return { left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) };
}
