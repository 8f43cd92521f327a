/**
 * The faces of one image by @vladmandic/face-api: its SSD-MobileNetV1 (or Tiny Face Detector)
 * boxes, filtered and ordered, and the 68 landmarks of all of them in one batch. The `face-api`
 * detector plugin runs it in Node on face-api's Node build; the web export's page runs the same
 * compiled file in the browser on face-api's browser build, so both find the same faces. Types
 * are its only imports (the page gets the file as it is).
 */
import type { Tensor3D } from '@tensorflow/tfjs';
import type { DetectedFace, Point, RgbImage } from '../../sdk/index.js';

/** The detector's options (the `face-api` plugin's schema defines and documents them). */
export interface FaceApiDetectSettings {
  model: 'ssd-mobilenetv1' | 'tiny-face-detector';
  minScore: number;
  minFaceSize: number;
  maxFaces: number;
  landmarks: boolean;
}

interface FaceApiDetection {
  score: number;
  box: { x: number; y: number; width: number; height: number };
}
interface FaceApiLandmarks {
  shiftBy(x: number, y: number): FaceApiLandmarks;
  positions: { x: number; y: number }[];
}
interface FaceApiDetectorNet {
  locateFaces(input: Tensor3D, options: unknown): Promise<FaceApiDetection[]>;
}

/** The part of face-api (either build) this uses; its nets must be loaded. */
export interface FaceApiNets {
  nets: {
    ssdMobilenetv1: FaceApiDetectorNet;
    tinyFaceDetector: FaceApiDetectorNet;
    faceLandmark68Net: {
      detectLandmarks(input: Tensor3D[]): Promise<FaceApiLandmarks | FaceApiLandmarks[]>;
    };
  };
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
  extractFaceTensors(image: Tensor3D, detections: FaceApiDetection[]): Promise<Tensor3D[]>;
}

/** The tfjs function this needs (Node's tfjs or the page's). */
export interface TensorMaker {
  tensor3d(values: Uint8Array, shape: [number, number, number], dtype: 'int32'): Tensor3D;
}

/** The face-api nets `settings` needs, by the name face-api gives them under `nets`. */
export function netsFor(settings: FaceApiDetectSettings): (keyof FaceApiNets['nets'])[] {
  const detector =
    settings.model === 'ssd-mobilenetv1' ? 'ssdMobilenetv1' : ('tinyFaceDetector' as const);
  return settings.landmarks ? [detector, 'faceLandmark68Net'] : [detector];
}

/** The 68 points of every detection, the faces of one image in one batch. */
async function landmarksOf(
  api: FaceApiNets,
  input: Tensor3D,
  detections: FaceApiDetection[],
): Promise<Point[][]> {
  const crops = await api.extractFaceTensors(input, detections);
  try {
    const result = await api.nets.faceLandmark68Net.detectLandmarks(crops);
    const list = Array.isArray(result) ? result : [result];
    return list.map((lm, i) =>
      lm.shiftBy(detections[i].box.x, detections[i].box.y).positions.map((p): Point => [p.x, p.y]),
    );
  } finally {
    for (const crop of crops) crop.dispose();
  }
}

/**
 * The faces of `image` (upright RGB) scored at least `minScore`, at least `minFaceSize` pixels
 * wide and high, the `maxFaces` most confident first, with landmarks when `settings.landmarks`.
 */
export async function detectFaces(
  api: FaceApiNets,
  tf: TensorMaker,
  image: RgbImage,
  settings: FaceApiDetectSettings,
): Promise<DetectedFace[]> {
  const { minScore, maxFaces, minFaceSize } = settings;
  const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
  try {
    const found =
      settings.model === 'ssd-mobilenetv1'
        ? await api.nets.ssdMobilenetv1.locateFaces(
            input,
            new api.SsdMobilenetv1Options({ minConfidence: minScore, maxResults: maxFaces }),
          )
        : await api.nets.tinyFaceDetector.locateFaces(
            input,
            new api.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: minScore }),
          );
    const detections = found
      .filter((d) => d.box.width >= minFaceSize && d.box.height >= minFaceSize)
      .sort((a, b) => b.score - a.score)
      .slice(0, maxFaces);
    const faces: DetectedFace[] = detections.map((d) => ({
      box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height },
      score: d.score,
    }));
    if (settings.landmarks && detections.length > 0) {
      const landmarks = await landmarksOf(api, input, detections);
      faces.forEach((face, i) => (face.landmarks = landmarks[i]));
    }
    return faces;
  } finally {
    input.dispose();
  }
}
