/**
 * `face-api`: faces found by @vladmandic/face-api's SSD-MobileNetV1 (or its Tiny Face Detector)
 * and its 68-point landmark net, on the tfjs backend affectlab activated. The weights ship in
 * the npm package (model/); they are read once per process.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'tsyringe';
import {
  Enum,
  Options,
  PLUGIN_OPTIONS,
  Type,
  UserError,
  definePlugin,
  type DetectedFace,
  type DetectorPlugin,
  type Point,
  type RgbImage,
  type Static,
} from '../../sdk/index.js';

const require = createRequire(import.meta.url);

export const FaceApiDetectorOptions = Options({
  model: Enum(['ssd-mobilenetv1', 'tiny-face-detector'], {
    default: 'ssd-mobilenetv1',
    description:
      'the face detection net: SSD-MobileNetV1 (accurate, ~5.4 MB) or the Tiny Face Detector (fast, 190 kB)',
  }),
  minScore: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0.5,
    description: 'faces scored below this are dropped',
  }),
  minFaceSize: Type.Integer({
    minimum: 1,
    maximum: 100_000,
    default: 20,
    description: 'faces whose box is narrower or lower than this many pixels are dropped',
  }),
  maxFaces: Type.Integer({
    minimum: 1,
    maximum: 1000,
    default: 100,
    description: 'at most this many faces per image (the most confident)',
  }),
  landmarks: Type.Boolean({
    default: true,
    description: "68 landmarks per face (face-api's landmark net), needed by `crop: aligned`",
  }),
});
export type FaceApiDetectorOptions = Static<typeof FaceApiDetectorOptions>;

// ---- the part of face-api this plugin uses ---------------------------------------------------

interface FaceApiDetection {
  score: number;
  box: { x: number; y: number; width: number; height: number };
}
interface FaceApiLandmarks {
  shiftBy(x: number, y: number): FaceApiLandmarks;
  positions: { x: number; y: number }[];
}
interface FaceApiNet {
  isLoaded: boolean;
  loadFromDisk(dir: string): Promise<void>;
}
interface FaceApiDetectorNet extends FaceApiNet {
  locateFaces(input: tf.Tensor3D, options: unknown): Promise<FaceApiDetection[]>;
}
/** The module's surface used here (and by the tests that compare with detectAllFaces). */
export interface FaceApi {
  tf: { engine(): unknown };
  nets: {
    ssdMobilenetv1: FaceApiDetectorNet;
    tinyFaceDetector: FaceApiDetectorNet;
    faceLandmark68Net: FaceApiNet & {
      detectLandmarks(input: tf.Tensor3D[]): Promise<FaceApiLandmarks | FaceApiLandmarks[]>;
    };
  };
  SsdMobilenetv1Options: new (o: { minConfidence: number; maxResults: number }) => unknown;
  TinyFaceDetectorOptions: new (o: { inputSize: number; scoreThreshold: number }) => unknown;
  extractFaceTensors(image: tf.Tensor3D, detections: FaceApiDetection[]): Promise<tf.Tensor3D[]>;
}

/** Where the npm package keeps the weights (and its browser build, for the web export). */
export function faceApiModelDir(): string {
  return join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

let loaded: FaceApi | undefined;
const netsLoading = new Map<string, Promise<void>>();

/**
 * face-api's Node build for the native package this process loaded (tfjs-node or -gpu): it
 * uses that package's tfjs, the one affectlab activated. Loading it sets tfjs-node's backend;
 * the backend affectlab chose is put back.
 */
export function loadFaceApi(): FaceApi {
  if (loaded) return loaded;
  const gpu = Object.keys(require.cache).some((k) => k.includes('/@tensorflow/tfjs-node-gpu/'));
  const build = `@vladmandic/face-api/dist/face-api.node${gpu ? '-gpu' : ''}.js`;
  const backend = tf.getBackend();
  try {
    loaded = require(build) as FaceApi;
  } catch (error) {
    throw new UserError(
      `the face detector needs ${gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node'} ` +
        `(face-api's Node build ${build} could not load: ${(error as Error).message.split('\n')[0]})`,
    );
  }
  if (backend && tf.getBackend() !== backend) void tf.setBackend(backend);
  if (loaded.tf.engine() !== tf.engine())
    throw new UserError(
      `${build} loaded a second copy of tfjs; reinstall affectlab's dependencies`,
    );
  return loaded;
}

/** Load one of face-api's nets from the package's model folder, once per process. */
async function loadNet(api: FaceApi, name: keyof FaceApi['nets']): Promise<void> {
  let pending = netsLoading.get(name);
  if (!pending) {
    pending = api.nets[name].loadFromDisk(faceApiModelDir());
    netsLoading.set(name, pending);
  }
  await pending;
}

@injectable()
export class FaceApiDetector implements DetectorPlugin {
  constructor(@inject(PLUGIN_OPTIONS) readonly options: FaceApiDetectorOptions) {}

  async detect(images: readonly RgbImage[]): Promise<DetectedFace[][]> {
    const api = loadFaceApi();
    const ssd = this.options.model === 'ssd-mobilenetv1';
    await loadNet(api, ssd ? 'ssdMobilenetv1' : 'tinyFaceDetector');
    if (this.options.landmarks) await loadNet(api, 'faceLandmark68Net');
    const out: DetectedFace[][] = [];
    for (const image of images) out.push(await this.detectOne(api, image, ssd));
    return out;
  }

  private async detectOne(api: FaceApi, image: RgbImage, ssd: boolean): Promise<DetectedFace[]> {
    const { minScore, maxFaces, minFaceSize } = this.options;
    const input = tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    try {
      const found = ssd
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
      if (this.options.landmarks && detections.length > 0) {
        const landmarks = await this.landmarks(api, input, detections);
        faces.forEach((face, i) => (face.landmarks = landmarks[i]));
      }
      return faces;
    } finally {
      input.dispose();
    }
  }

  /** The 68 points of every detection, the faces of one image in one batch. */
  private async landmarks(
    api: FaceApi,
    input: tf.Tensor3D,
    detections: FaceApiDetection[],
  ): Promise<Point[][]> {
    const crops = await api.extractFaceTensors(input, detections);
    try {
      const result = await api.nets.faceLandmark68Net.detectLandmarks(crops);
      const list = Array.isArray(result) ? result : [result];
      return list.map((lm, i) =>
        lm
          .shiftBy(detections[i].box.x, detections[i].box.y)
          .positions.map((p): Point => [p.x, p.y]),
      );
    } finally {
      for (const crop of crops) crop.dispose();
    }
  }
}

export const faceApiDetectorPlugin = definePlugin({
  kind: 'detector',
  type: 'face-api',
  description:
    "faces (box, score, 68 landmarks) by @vladmandic/face-api's SSD-MobileNetV1 and landmark nets, on affectlab's tfjs backend",
  options: FaceApiDetectorOptions,
  implementation: FaceApiDetector,
});
