/**
 * Face alignment by the eyes (`crop: aligned`): the face box turned about its centre by the
 * angle of the line through the eye centres, so that in the crop the eyes are level. The same
 * geometry serves training (angles from a data set's landmarks) and predict (the detector's).
 */
import type { FaceBox } from '../../sdk/contracts/data.js';
import type { Point } from '../../sdk/contracts/inference.js';

/** iBUG 300-W indices (0-based) of the eye contour on the image's left and on its right. */
const LEFT_EYE = [36, 37, 38, 39, 40, 41];
const RIGHT_EYE = [42, 43, 44, 45, 46, 47];

function centre(points: readonly Point[], indices: readonly number[]): Point {
  let x = 0;
  let y = 0;
  for (const i of indices) {
    x += points[i][0];
    y += points[i][1];
  }
  return [x / indices.length, y / indices.length];
}

/**
 * The angle (radians, image axes: x right, y down; positive = the right eye lower) of the line
 * from the left eye centre to the right one, from 68 landmarks; undefined without them.
 */
export function eyeLineAngle(points: readonly Point[] | undefined): number | undefined {
  if (!points || points.length < 68) return undefined;
  if (!points.every((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))) return undefined;
  const [lx, ly] = centre(points, LEFT_EYE);
  const [rx, ry] = centre(points, RIGHT_EYE);
  if (lx === rx && ly === ry) return undefined;
  return Math.atan2(ry - ly, rx - lx);
}

/**
 * 68 landmarks from AffectNet's `facial_landmarks` field (`x;y;x;y;...`, 136 numbers); undefined
 * when the field is empty or is not that.
 */
export function parseLandmarks(text: string): Point[] | undefined {
  const values = text.split(';');
  if (values.length !== 136) return undefined;
  const points: Point[] = [];
  for (let i = 0; i < 136; i += 2) {
    const x = Number(values[i]);
    const y = Number(values[i + 1]);
    if (!Number.isFinite(x) || !Number.isFinite(y) || values[i].trim() === '') return undefined;
    points.push([x, y]);
  }
  return points;
}

/** The box with its alignment angle (the eye line's), or the box as it is without landmarks. */
export function alignedBox(box: FaceBox, landmarks: readonly Point[] | undefined): FaceBox {
  const angle = eyeLineAngle(landmarks);
  return angle === undefined ? box : { ...box, angle };
}

/** The pixel size of an aligned crop: the box grown by `margin` on each side. */
export function alignedSize(box: FaceBox, margin: number): { width: number; height: number } {
  return {
    width: Math.max(1, Math.round(box.width * (1 + 2 * margin))),
    height: Math.max(1, Math.round(box.height * (1 + 2 * margin))),
  };
}

/**
 * The aligned crop of `box` (its `angle` set) grown by `margin`, sampled bilinearly from
 * `pixels` (HWC uint8, `channels` per pixel, `width` x `height`) at the image's own scale;
 * pixels outside the image are black. Returns the crop, HWC, same channels.
 * `offset`: where `pixels` starts in the image the box is in (a decoded sub-region).
 */
export function sampleAligned(
  pixels: Uint8Array,
  width: number,
  height: number,
  channels: number,
  box: FaceBox,
  margin: number,
  offset: { left: number; top: number } = { left: 0, top: 0 },
): { data: Uint8Array; width: number; height: number } {
  const size = alignedSize(box, margin);
  const angle = box.angle ?? 0;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const cx = box.x + box.width / 2 - offset.left;
  const cy = box.y + box.height / 2 - offset.top;
  const sx = (box.width * (1 + 2 * margin)) / size.width;
  const sy = (box.height * (1 + 2 * margin)) / size.height;
  const out = new Uint8Array(size.width * size.height * channels);
  for (let v = 0; v < size.height; v++) {
    // pixel centres of the crop, relative to its centre, in image pixels
    const dy = (v + 0.5 - size.height / 2) * sy;
    for (let u = 0; u < size.width; u++) {
      const dx = (u + 0.5 - size.width / 2) * sx;
      // the levelled frame turned by `angle` back into the image; -0.5: pixel centres
      const x = cx + cos * dx - sin * dy - 0.5;
      const y = cy + sin * dx + cos * dy - 0.5;
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      const o = (v * size.width + u) * channels;
      for (let c = 0; c < channels; c++) {
        const at = (xx: number, yy: number): number =>
          xx < 0 || yy < 0 || xx >= width || yy >= height
            ? 0
            : pixels[(yy * width + xx) * channels + c];
        const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
        const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
        out[o + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return { data: out, width: size.width, height: size.height };
}

/** The image region (clamped) an aligned crop reads from: the rotated crop's bounding box. */
export function alignedSourceRegion(
  box: FaceBox,
  margin: number,
  imageWidth: number,
  imageHeight: number,
): { left: number; top: number; width: number; height: number } | undefined {
  const w = box.width * (1 + 2 * margin);
  const h = box.height * (1 + 2 * margin);
  const angle = box.angle ?? 0;
  const halfW = (Math.abs(Math.cos(angle)) * w + Math.abs(Math.sin(angle)) * h) / 2 + 2;
  const halfH = (Math.abs(Math.sin(angle)) * w + Math.abs(Math.cos(angle)) * h) / 2 + 2;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const left = Math.max(0, Math.floor(cx - halfW));
  const top = Math.max(0, Math.floor(cy - halfH));
  const right = Math.min(imageWidth, Math.ceil(cx + halfW));
  const bottom = Math.min(imageHeight, Math.ceil(cy + halfH));
  if (right <= left || bottom <= top) return undefined;
  return { left, top, width: right - left, height: bottom - top };
}
