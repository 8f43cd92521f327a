/** Running a trained model over images: the run's own image pipeline, then the model, in batches. */
import { readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../sdk/errors.js';
import {
  BadRecordLog,
  ImagePipeline,
  Progress,
  mergeBadRecordSummaries,
} from '../pipeline/index.js';
import type { BadRecordSummary, Example, FaceBox, Task } from '../../sdk/contracts/data.js';
import type { Logger } from '../../sdk/services.js';
import type { TrainedRun } from './trained-run.js';

/** File endings taken from a folder (what sharp decodes); files named one by one may be anything. */
export const IMAGE_EXTENSIONS = [
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
];

/** One image's outputs, in the order of the examples given. */
export interface Prediction {
  example: Example;
  /** Class probabilities (tasks with classes). */
  scores?: Float32Array;
  /** [valence, arousal] (tasks with the regression head). */
  valenceArousal?: [number, number];
  /** The face in a whole photo this row is about (predict with a detector). */
  face?: { index: number; box: FaceBox; score: number };
  /** Seconds from the start of a video, for its sampled frames. */
  time?: number;
}

export interface PredictOutcome {
  predictions: Prediction[];
  /** Images that could not be used (missing, corrupt, face box outside): each named. */
  badRecords: BadRecordSummary;
  /** The example of every bad image, in input order. */
  skipped: { example: Example; reason: string }[];
  seconds: number;
}

/**
 * Examples for the image files and folders named on the command line (folders: their image
 * files, recursively, sorted). A name that does not exist becomes a bad record, not an error,
 * so one typo among many images is counted and named with the rest.
 */
export function imageExamples(paths: readonly string[]): {
  examples: Example[];
  missing: { path: string; reason: string }[];
} {
  const examples: Example[] = [];
  const missing: { path: string; reason: string }[] = [];
  const add = (file: string, shown: string): void => {
    examples.push({ id: shown, imagePath: resolve(file), label: -1, source: shown });
  };
  const walk = (dir: string, shown: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const rel = join(shown, name);
      const info = statSync(full);
      if (info.isDirectory()) walk(full, rel);
      else if (IMAGE_EXTENSIONS.includes(extname(name).toLowerCase())) add(full, rel);
    }
  };
  for (const path of paths) {
    let info;
    try {
      info = statSync(path);
    } catch {
      missing.push({ path, reason: 'missing image file' });
      continue;
    }
    if (info.isDirectory()) {
      const before = examples.length;
      walk(path, path);
      if (examples.length === before)
        throw new UserError(
          `${path}: the folder holds no image files (${IMAGE_EXTENSIONS.join(', ')})`,
        );
    } else add(path, path);
  }
  return { examples, missing };
}

/**
 * Predict every example with the run's preprocessing (input size, channels, face box + margin,
 * /255) and no augmentation. Bad images are skipped, counted and named (logger.warn per image);
 * the rest keep their input order.
 */
export async function predictExamples(args: {
  run: TrainedRun;
  model: tf.LayersModel;
  examples: readonly Example[];
  batchSize: number;
  logger: Logger;
  /** Preprocessed-image cache (evaluate on a data set); none for loose images. */
  cacheDir?: string;
  /** EXIF orientation for whole images (predict on photos). */
  autoOrient?: boolean;
  /** Label of the progress line. */
  label?: string;
}): Promise<PredictOutcome> {
  const { run, model, examples, logger } = args;
  if (!Number.isInteger(args.batchSize) || args.batchSize < 1)
    throw new UserError(`--batch must be a positive integer, got ${args.batchSize}`);
  const started = performance.now();
  const pipeline = new ImagePipeline({
    image: run.image,
    margin: run.margin,
    cacheDir: args.cacheDir,
    onBadRecord: 'skip',
    logger,
    autoOrient: args.autoOrient,
  });
  const { task } = run;
  const k = task.classes.length;
  const byIndex = new Map<number, Prediction>();
  const progress = new Progress(args.label ?? 'predicting', examples.length, logger);
  const order = examples.map((_, i) => i);
  let done = 0;
  try {
    for await (const batch of pipeline.batches(examples, order, args.batchSize)) {
      const outputs = tf.tidy(() => {
        const out = model.predict(tf.tensor4d(batch.x, batch.shape)) as tf.Tensor | tf.Tensor[];
        return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
      });
      const classOut = task.kind === 'valence-arousal' ? undefined : outputs[0];
      const vaOut =
        task.kind === 'classification'
          ? undefined
          : outputs[task.kind === 'valence-arousal' ? 0 : 1];
      batch.indices.forEach((exampleIndex, r) => {
        const prediction: Prediction = { example: examples[exampleIndex] };
        if (classOut) prediction.scores = classOut.slice(r * k, (r + 1) * k);
        if (vaOut) prediction.valenceArousal = [vaOut[2 * r], vaOut[2 * r + 1]];
        byIndex.set(exampleIndex, prediction);
      });
      // bad images count as done too: the bar reaches the end
      const end = batch.end;
      progress.tick(end - done);
      done = end;
    }
  } finally {
    progress.finish();
    await pipeline.close();
  }
  const predictions: Prediction[] = [];
  const skipped: PredictOutcome['skipped'] = [];
  const reasons = new Map(
    pipeline.badRecords.examples.map((record) => [record.source, record.reason]),
  );
  examples.forEach((example, i) => {
    const found = byIndex.get(i);
    if (found) predictions.push(found);
    else
      skipped.push({
        example,
        reason: reasons.get(example.source ?? example.imagePath) ?? 'could not be read',
      });
  });
  return {
    predictions,
    badRecords: pipeline.badRecords,
    skipped,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Bad records of names that do not exist, merged with what the pipeline found. */
export function withMissing(
  summary: BadRecordSummary,
  missing: readonly { path: string; reason: string }[],
): BadRecordSummary {
  if (missing.length === 0) return summary;
  const log = new BadRecordLog('skip');
  for (const m of missing) log.add(m.path, m.reason, `no such file ${m.path}`);
  return mergeBadRecordSummaries(log.summary(), summary);
}

function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Six decimals past the point are far below any metric's resolution and keep files small. */
const number = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(7))) : '');

/** The columns of a detected face: its index in the image, box (pixels) and detector score. */
export const FACE_COLUMNS = ['face', 'face_x', 'face_y', 'face_width', 'face_height', 'face_score'];

function faceCells(face: Prediction['face']): string[] {
  if (!face) return FACE_COLUMNS.map(() => '');
  const { box } = face;
  const px = (v: number): string => v.toFixed(1);
  return [
    String(face.index),
    px(box.x),
    px(box.y),
    px(box.width),
    px(box.height),
    face.score.toFixed(4),
  ];
}

/**
 * The predictions as the CSV `affectlab metrics` reads: `image`, then `label` (class name) when
 * the examples have labels (after `time` for video frames and the FACE_COLUMNS for detected
 * faces), `pred` and one probability column per class named by the class; for
 * regression heads `pred_valence`, `pred_arousal`, with `valence`, `arousal` when known.
 */
export function predictionsCsv(task: Task, predictions: readonly Prediction[]): string {
  const classes = task.classes.map((c) => c.name);
  const hasClasses = task.kind !== 'valence-arousal';
  const hasVa = task.kind !== 'classification';
  const labelled = hasClasses && predictions.some((p) => p.example.label >= 0);
  const vaKnown =
    hasVa &&
    predictions.some((p) => p.example.valence !== undefined && p.example.arousal !== undefined);
  const timed = predictions.some((p) => p.time !== undefined);
  const faces = predictions.some((p) => p.face !== undefined);
  const header = ['image'];
  if (timed) header.push('time');
  if (faces) header.push(...FACE_COLUMNS);
  if (labelled) header.push('label');
  if (hasClasses) header.push('pred', ...classes);
  if (vaKnown) header.push('valence', 'arousal');
  if (hasVa) header.push('pred_valence', 'pred_arousal');
  const lines = [header.map(csvField).join(',')];
  for (const p of predictions) {
    const row = [p.example.id];
    if (timed) row.push(p.time === undefined ? '' : p.time.toFixed(3));
    if (faces) row.push(...faceCells(p.face));
    if (labelled) row.push(p.example.label >= 0 ? classes[p.example.label] : '');
    if (hasClasses) {
      const scores = p.scores ?? new Float32Array(classes.length);
      let best = 0;
      for (let c = 1; c < scores.length; c++) if (scores[c] > scores[best]) best = c;
      row.push(classes[best], ...Array.from(scores, number));
    }
    if (vaKnown) {
      const { valence, arousal } = p.example;
      row.push(
        valence === undefined ? '' : number(valence),
        arousal === undefined ? '' : number(arousal),
      );
    }
    if (hasVa) {
      const va = p.valenceArousal ?? [NaN, NaN];
      row.push(number(va[0]), number(va[1]));
    }
    lines.push(row.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}
