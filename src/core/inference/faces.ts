/**
 * Whole photos through a trained run: decode upright, find the faces with a detector plugin,
 * prepare each face as the run's pipeline prepares a face box (margin, crop, resize), classify
 * the faces in batches; optionally draw the boxes and labels onto a copy of each photo.
 */
import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { UserError } from '../../sdk/errors.js';
import {
  alignedBox,
  alignedToSpec,
  BadRecordLog,
  cropRegion,
  Progress,
} from '../pipeline/index.js';
import type {
  BadRecordSummary,
  CropMode,
  Example,
  ImageSpec,
  Task,
} from '../../sdk/contracts/data.js';
import type { DetectedFace, DetectorPlugin, RgbImage } from '../../sdk/contracts/inference.js';
import type { Logger } from '../../sdk/services.js';
import type { Prediction } from './predict.js';
import type { TrainedRun } from './trained-run.js';

/** Decode an image file to upright RGB (EXIF orientation applied unless `autoOrient` is false). */
export async function decodeRgb(path: string, autoOrient = true): Promise<RgbImage> {
  let image = sharp(path, { failOn: 'error' });
  if (autoOrient) image = image.rotate();
  const { data, info } = await image
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}

/**
 * One face of a decoded image as the model's input: the box grown by `margin` on each side and
 * clamped to the image (cropRegion, as in training), or with `crop: aligned` and landmarks the
 * box turned level by the eye line (as the run's aligned training crops), stretched to the input size with bilinear
 * filtering, RGB or luminance, uint8 HWC.
 */
export async function prepareFace(
  image: RgbImage,
  face: DetectedFace,
  margin: number,
  spec: ImageSpec,
  crop: CropMode = 'face-box',
): Promise<Uint8Array> {
  if (crop === 'aligned') {
    const box = alignedBox(face.box, face.landmarks);
    if (box.angle !== undefined)
      return alignedToSpec(image.data, image.width, image.height, box, margin, spec);
  }
  const region = cropRegion(face.box, margin, image.width, image.height);
  const { data, info } = await sharp(image.data, {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .extract(region)
    .resize(spec.width, spec.height, { fit: 'fill', kernel: 'linear' })
    .toColourspace(spec.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== spec.channels)
    throw new Error(`face decoded to ${info.channels} channels, expected ${spec.channels}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export interface PhotoOutcome {
  /** One per face, images in input order, faces most confident first. */
  predictions: Prediction[];
  /** Images that could not be read (missing, corrupt), each named. */
  badRecords: BadRecordSummary;
  skipped: { example: Example; reason: string }[];
  /** Images read fine in which the detector found no face. */
  noFace: Example[];
  images: number;
  seconds: number;
}

interface Pending {
  example: Example;
  image: RgbImage;
  faces: DetectedFace[];
  inputs: Uint8Array[];
}

/** Classify the prepared faces of `pending` in batches of `batchSize`. */
function classify(
  model: tf.LayersModel,
  task: Task,
  spec: ImageSpec,
  pending: readonly Pending[],
  batchSize: number,
): Prediction[] {
  const inputs = pending.flatMap((p) => p.inputs);
  const owners = pending.flatMap((p) => p.faces.map((face, index) => ({ p, face, index })));
  const k = task.classes.length;
  const size = spec.height * spec.width * spec.channels;
  const out: Prediction[] = [];
  for (let start = 0; start < inputs.length; start += batchSize) {
    const n = Math.min(batchSize, inputs.length - start);
    const x = new Float32Array(n * size);
    for (let i = 0; i < n; i++) {
      const pixels = inputs[start + i];
      for (let j = 0; j < size; j++) x[i * size + j] = pixels[j] / 255;
    }
    const outputs = tf.tidy(() => {
      const y = model.predict(tf.tensor4d(x, [n, spec.height, spec.width, spec.channels]));
      return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync() as Float32Array);
    });
    const classOut = task.kind === 'valence-arousal' ? undefined : outputs[0];
    const vaOut =
      task.kind === 'classification' ? undefined : outputs[task.kind === 'valence-arousal' ? 0 : 1];
    for (let r = 0; r < n; r++) {
      const { p, face, index } = owners[start + r];
      const prediction: Prediction = {
        example: p.example,
        face: { index, box: face.box, score: face.score },
      };
      if (classOut) prediction.scores = classOut.slice(r * k, (r + 1) * k);
      if (vaOut) prediction.valenceArousal = [vaOut[2 * r], vaOut[2 * r + 1]];
      out.push(prediction);
    }
  }
  return out;
}

/** The label drawn next to a face: the most probable class and its probability. */
function faceLabel(task: Task, prediction: Prediction): string {
  const scores = prediction.scores;
  if (scores && scores.length > 0) {
    let best = 0;
    for (let c = 1; c < scores.length; c++) if (scores[c] > scores[best]) best = c;
    return `${task.classes[best].name} ${scores[best].toFixed(2)}`;
  }
  const va = prediction.valenceArousal;
  return va ? `v ${va[0].toFixed(2)} a ${va[1].toFixed(2)}` : '';
}

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The colour of the boxes `--annotate` draws (pure green, easy to find in a test). */
export const ANNOTATE_COLOUR = '#00ff00';

/** An SVG the size of the image with one rectangle and label per face. */
export function annotationSvg(
  width: number,
  height: number,
  faces: readonly { box: DetectedFace['box']; label: string }[],
): string {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 300));
  const font = Math.max(12, Math.round(Math.min(width, height) / 40));
  const parts = faces.map(({ box, label }, i) => {
    const text = escapeXml(`${i}: ${label}`);
    const ty = box.y > font + stroke ? box.y - stroke - 2 : box.y + box.height + font;
    return (
      `<rect x="${box.x.toFixed(1)}" y="${box.y.toFixed(1)}" width="${box.width.toFixed(1)}" ` +
      `height="${box.height.toFixed(1)}" fill="none" stroke="${ANNOTATE_COLOUR}" stroke-width="${stroke}"/>` +
      `<text x="${box.x.toFixed(1)}" y="${ty.toFixed(1)}" font-family="sans-serif" font-size="${font}" ` +
      `fill="${ANNOTATE_COLOUR}" stroke="#000" stroke-width="${Math.max(1, stroke / 2)}" paint-order="stroke">${text}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** Write `image` with its faces drawn into `dir`, named after the input (unique within the call). */
async function annotate(
  dir: string,
  used: Set<string>,
  task: Task,
  item: Pending,
  predictions: readonly Prediction[],
): Promise<string> {
  const ext = extname(item.example.imagePath).toLowerCase();
  const stem = basename(item.example.imagePath, extname(item.example.imagePath));
  const format = ['.png', '.webp'].includes(ext) ? ext : '.jpg';
  let name = `${stem}${format}`;
  for (let i = 2; used.has(name); i++) name = `${stem}-${i}${format}`;
  used.add(name);
  const { width, height } = item.image;
  const faces = predictions.map((p) => ({
    box: p.face?.box ?? { x: 0, y: 0, width: 0, height: 0 },
    label: faceLabel(task, p),
  }));
  const file = join(dir, name);
  await sharp(item.image.data, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(annotationSvg(width, height, faces)), top: 0, left: 0 }])
    .toFile(file);
  return file;
}

export interface PredictPhotosArgs {
  run: TrainedRun;
  model: tf.LayersModel;
  detector: DetectorPlugin;
  examples: readonly Example[];
  /** Faces per model call. */
  batchSize: number;
  logger: Logger;
  autoOrient?: boolean;
  /** Write each photo with its boxes and labels here. */
  annotateDir?: string;
  label?: string;
}

/**
 * Detect and classify the faces of whole photos. A missing or corrupt image is a named bad
 * record; an image without a face is reported (logger.warn) and counted in `noFace`.
 */
export async function predictPhotos(args: PredictPhotosArgs): Promise<PhotoOutcome> {
  const { run, model, detector, examples, logger } = args;
  if (!Number.isInteger(args.batchSize) || args.batchSize < 1)
    throw new UserError(`--batch must be a positive integer, got ${args.batchSize}`);
  if (args.annotateDir) mkdirSync(args.annotateDir, { recursive: true });
  const started = performance.now();
  const bad = new BadRecordLog('skip');
  const outcome: PhotoOutcome = {
    predictions: [],
    badRecords: bad.summary(),
    skipped: [],
    noFace: [],
    images: examples.length,
    seconds: 0,
  };
  const progress = new Progress(args.label ?? 'detecting and predicting', examples.length, logger);
  const used = new Set<string>();
  let pending: Pending[] = [];
  /** Faces of an aligned run the detector gave no landmarks for (cropped upright). */
  let unaligned = 0;
  const flush = async (): Promise<void> => {
    const predictions = classify(model, run.task, run.image, pending, args.batchSize);
    outcome.predictions.push(...predictions);
    if (args.annotateDir)
      for (const item of pending)
        await annotate(
          args.annotateDir,
          used,
          run.task,
          item,
          predictions.filter((p) => p.example === item.example),
        );
    pending = [];
  };
  try {
    for (const example of examples) {
      const source = example.source ?? example.imagePath;
      let image: RgbImage;
      try {
        image = await decodeRgb(example.imagePath, args.autoOrient ?? true);
      } catch (error) {
        const message = (error as Error).message;
        const reason = /no such file|ENOENT|missing/i.test(message)
          ? 'missing image file'
          : 'corrupt image';
        bad.add(source, reason, message);
        outcome.skipped.push({ example, reason });
        logger.warn(`skipping ${source}: ${reason} (${message})`);
        progress.tick(1);
        continue;
      }
      const [faces] = await detector.detect([image]);
      if (faces.length === 0) {
        outcome.noFace.push(example);
        logger.warn(`${source}: no face found`);
      }
      const inputs: Uint8Array[] = [];
      for (const face of faces) {
        if (run.crop === 'aligned' && !face.landmarks) unaligned++;
        inputs.push(await prepareFace(image, face, run.margin, run.image, run.crop));
      }
      if (faces.length > 0 || args.annotateDir) pending.push({ example, image, faces, inputs });
      if (pending.reduce((n, p) => n + p.faces.length, 0) >= args.batchSize) await flush();
      progress.tick(1);
    }
    await flush();
  } finally {
    progress.finish();
  }
  if (unaligned > 0)
    logger.warn(
      `${unaligned} face(s) without landmarks cropped to the upright box, though the run trained on aligned faces`,
    );
  outcome.badRecords = bad.summary();
  outcome.seconds = (performance.now() - started) / 1000;
  return outcome;
}
