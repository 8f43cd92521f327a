/** Plugins used on new images: face detectors. */
import type { FaceBox } from './data.js';

// ---- detector --------------------------------------------------------------------------------

/** A decoded, upright image as a detector sees it: RGB uint8, row-major HWC. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** An image point in pixels (x to the right, y down). */
export type Point = [number, number];

/** One face found in an image. */
export interface DetectedFace {
  /** In the image's pixels. */
  box: FaceBox;
  /** The detector's confidence, 0..1. */
  score: number;
  /** 68 points in the iBUG 300-W order AffectNet uses, in image pixels, when the detector gives them. */
  landmarks?: Point[];
}

/**
 * A face detector (`affectlab predict` on whole photos, the web export). Implementations load
 * their model once per process and may batch the images of one call.
 */
export interface DetectorPlugin {
  /** The faces of each image, most confident first. */
  detect(images: readonly RgbImage[]): Promise<DetectedFace[][]>;
}
