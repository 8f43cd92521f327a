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
  type RgbImage,
  type Static,
} from '../../sdk/index.js';
import { detectFaces, netsFor, type FaceApiNets } from './face-api-detect.js';

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

interface FaceApiNet {
  isLoaded: boolean;
  loadFromDisk(dir: string): Promise<void>;
}
/** The module's surface used here (and by the tests that compare with detectAllFaces). */
export interface FaceApi extends FaceApiNets {
  tf: { engine(): unknown };
  nets: FaceApiNets['nets'] & {
    ssdMobilenetv1: FaceApiNet;
    tinyFaceDetector: FaceApiNet;
    faceLandmark68Net: FaceApiNet;
  };
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
    for (const net of netsFor(this.options)) await loadNet(api, net);
    const out: DetectedFace[][] = [];
    for (const image of images) out.push(await detectFaces(api, tf, image, this.options));
    return out;
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
