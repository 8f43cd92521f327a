/**
 * Face detection throughput on 1920 px photos (face-api's demo/sample1-6.jpg, 3-5 people each):
 * decode (sharp, upright), detect (the `face-api` detector plugin: SSD-MobileNetV1, with and
 * without its 68-point landmarks), and prepare each face for a 64 px model (face box + margin,
 * and aligned by the eyes), in one process on the active tfjs backend. The classifier itself is
 * left out: at affectlab's input sizes it is a small fraction of detection.
 *
 *   npm run build && node dist/bench/faces.js [--reps 3] [--backend auto]
 */
import 'reflect-metadata';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  activateBackend,
  createRuntime,
  decodeRgb,
  prepareFace,
  type BackendPreference,
  type CropMode,
  type DetectorPlugin,
  type RgbImage,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'auto' },
  },
});
const reps = Number(values.reps);
const demo = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
);
const photos = [1, 2, 3, 4, 5, 6].map((i) => join(demo, `sample${i}.jpg`));

const runtime = createRuntime();
runtime.logger.level = 'warn';
const backend = await activateBackend(runtime, values.backend as BackendPreference);
const spec = { height: 64, width: 64, channels: 3 as const };

async function measure(landmarks: boolean, crop: CropMode): Promise<string> {
  const detector = runtime.instantiate<DetectorPlugin>(runtime.container, 'detector', {
    type: 'face-api',
    landmarks,
  });
  // warm-up: loads the nets and compiles the kernels
  await detector.detect([await decodeRgb(photos[0])]);
  let faces = 0;
  const started = performance.now();
  for (let rep = 0; rep < reps; rep++)
    for (const photo of photos) {
      const image: RgbImage = await decodeRgb(photo);
      const [found] = await detector.detect([image]);
      for (const face of found) await prepareFace(image, face, 0.1, spec, crop);
      faces += found.length;
    }
  const seconds = (performance.now() - started) / 1000;
  const images = reps * photos.length;
  return (
    `landmarks ${landmarks ? 'on ' : 'off'}, crop ${crop.padEnd(8)}: ${faces} faces in ${images} photos, ` +
    `${seconds.toFixed(2)} s: ${(faces / seconds).toFixed(1)} faces/s, ${(images / seconds).toFixed(2)} photos/s`
  );
}

console.log(
  `face detection on 1920 px photos; backend ${backend.name}; ${cpus().length} CPUs, load ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
console.log(await measure(false, 'face-box'));
console.log(await measure(true, 'face-box'));
console.log(await measure(true, 'aligned'));
