/**
 * `affectlab predict`: class probabilities (and valence/arousal) of a trained run for images,
 * folders or a file list in the run's dataset format, as the CSV `affectlab metrics` reads.
 */
import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Option, type Command } from 'commander';
import { BackendService, type BackendPreference } from '../../training/backend.js';
import { UserError } from '../../../sdk/errors.js';
import {
  imageExamples,
  predictExamples,
  predictionsCsv,
  withMissing,
  type Prediction,
  type PredictOutcome,
} from '../../inference/predict.js';
import type { TrainedRun } from '../../inference/trained-run.js';
import { openTrainedRun } from '../../inference/open-trained-run.js';
import { createDetector } from '../../inference/detector.js';
import { predictPhotos, type PhotoOutcome } from '../../inference/faces.js';
import { extractFrames, isVideo, type VideoFrames } from '../../inference/video.js';
import { formatBadRecordSummary, mergeBadRecordSummaries } from '../../pipeline/index.js';
import type { BadRecordSummary, Example } from '../../../sdk/contracts/data.js';
import type { Logger } from '../../../sdk/services.js';
import type { Runtime } from '../../host/runtime.js';

export const BACKEND_CHOICES: BackendPreference[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'cpu'];

export interface PredictCommandOptions {
  run: string;
  out?: string;
  batch: string;
  backend: BackendPreference;
  images?: string;
  autoOrient: boolean;
  runs: string;
  detector?: string;
  detectorModel?: string;
  minScore?: string;
  minFaceSize?: string;
  maxFaces?: string;
  annotate?: string;
  fps: string;
}

/**
 * The most images one model call may take (`--batch`): a batch is allocated whole, so 1e9 would
 * ask for terabytes before failing inside TensorFlow.
 */
export const MAX_INFERENCE_BATCH = 4096;

/** An integer in 1..max from a flag, or a UserError naming the flag. */
export function positiveInt(value: string, flag: string, max = MAX_INFERENCE_BATCH): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1 || n > max)
    throw new UserError(`${flag} must be an integer from 1 to ${max}, got '${value}'`);
  return n;
}

export function registerPredictCommand(program: Command, runtime: Runtime): void {
  const command = program
    .command('predict')
    .description(
      "predict with a trained run: images, folders (their image files) or a file list in the run's dataset " +
        "format (AffectNet CSV: face boxes and labels); writes the CSV 'affectlab metrics' scores " +
        '(image, label when known, pred, one probability column per class; valence/arousal for those tasks)',
    )
    .requiredOption('--run <run>', 'the run: its directory, or its id under --runs')
    .argument('<inputs...>', 'image files, folders, or .csv file lists')
    .option('--out <file>', 'write the CSV here (default: stdout)')
    .option('--batch <n>', 'images per model call', '32')
    .addOption(
      new Option('--backend <name>', 'TensorFlow.js backend')
        .choices(BACKEND_CHOICES)
        .default('auto'),
    )
    .option(
      '--images <dir>',
      "image folder of a .csv list (default: the dataset plugin's, e.g. AffectNet's layout)",
    )
    .option(
      '--no-auto-orient',
      'do not apply EXIF orientation to whole images (images with a face box never are: boxes are in stored pixels)',
    )
    .option('--runs <dir>', 'root of the local run store', 'runs');
  addFaceOptions(command, runtime)
    .option(
      '--fps <n>',
      'frames per second sampled from videos (.mp4, .mov, .mkv, .webm, .avi; decoded by ffmpeg): one row per face per frame, with its time',
      '2',
    )
    .action((inputs: string[], opts: PredictCommandOptions) => predict(runtime, inputs, opts));
}

/** The face detector's flags (photos and video frames; file lists carry their face boxes). */
function addFaceOptions(command: Command, runtime: Runtime): Command {
  return command
    .option(
      '--detector <type>',
      `face detector for images and folders (lists have face boxes): one row per face; 'none' takes ` +
        `each image as one face, already cropped (registered: ${runtime.registry.types('detector').join(', ') || 'none'}; ` +
        `default: ${runtime.defaultDetector?.type ?? 'none'})`,
    )
    .option(
      '--detector-model <name>',
      "the detector's model (face-api: ssd-mobilenetv1, tiny-face-detector)",
    )
    .option('--min-score <p>', 'drop faces the detector scores below this (0..1)')
    .option('--min-face-size <px>', 'drop faces smaller than this many pixels')
    .option('--max-faces <n>', 'at most this many faces per image')
    .option('--annotate <dir>', 'write each photo here with its face boxes and labels drawn');
}

/** What predict was given, as examples: file lists' rows first, then images and video frames. */
interface PredictInputs {
  examples: Example[];
  /** The bad records of the file lists. */
  badRecords?: BadRecordSummary;
  /** Images and video frames named on the command line (the tail of `examples`). */
  loose: ReturnType<typeof imageExamples>;
  videos: VideoFrames[];
}

async function predict(
  runtime: Runtime,
  inputs: string[],
  opts: PredictCommandOptions,
): Promise<void> {
  const batchSize = positiveInt(opts.batch, '--batch');
  const run = await openTrainedRun(runtime, opts.run, { runsRoot: opts.runs });
  const logger = runtime.logger;
  const backend = await runtime.container.resolve(BackendService).activate(opts.backend);
  logger.info(`backend: ${backend.name}; model: ${run.modelDir}`);
  const given = await gatherInputs(run, inputs, opts, logger);
  const { examples, loose, videos } = given;
  // a run trained on whole images takes photos whole unless a detector is named
  const detectorType = opts.detector ?? (run.crop === 'full' ? 'none' : undefined);
  const detector = createDetector(runtime, run, detectorType, {
    model: opts.detectorModel,
    minScore: opts.minScore,
    minFaceSize: opts.minFaceSize,
    maxFaces: opts.maxFaces,
  });
  if (opts.annotate && !detector)
    throw new UserError('--annotate draws detected faces: it needs a --detector other than none');
  const photos = detector ? loose.examples : [];
  const listed = detector ? examples.slice(0, examples.length - loose.examples.length) : examples;
  const model = await run.loadModel();
  let outcome;
  let photoOutcome: PhotoOutcome | undefined;
  try {
    const common = { run, model, batchSize, logger, autoOrient: opts.autoOrient };
    outcome = await predictExamples({ ...common, examples: listed });
    if (detector && photos.length > 0)
      photoOutcome = await predictPhotos({
        ...common,
        detector,
        examples: photos,
        annotateDir: opts.annotate,
      });
  } finally {
    model.dispose();
  }
  for (const video of videos) video.dispose();
  const timeOf = (p: Prediction): void => {
    for (const video of videos) if (video.times.has(p.example)) p.time = video.times.get(p.example);
  };
  outcome.predictions.forEach(timeOf);
  if (photoOutcome) {
    photoOutcome.predictions.forEach(timeOf);
    outcome.predictions.push(...photoOutcome.predictions);
    outcome.badRecords = mergeBadRecordSummaries(outcome.badRecords, photoOutcome.badRecords);
    outcome.skipped.push(...photoOutcome.skipped);
    outcome.seconds += photoOutcome.seconds;
  }
  const csv = predictionsCsv(run.task, outcome.predictions);
  if (opts.out) writeFileSync(opts.out, csv);
  else process.stdout.write(csv);
  reportPredictions({ run, opts, given, outcome, photoOutcome, photos, backend: backend.name });
  if (outcome.predictions.length === 0) process.exitCode = 1;
}

/** The inputs as examples: .csv lists through the dataset plugin, the rest as images or videos. */
async function gatherInputs(
  run: TrainedRun,
  inputs: string[],
  opts: PredictCommandOptions,
  logger: Logger,
): Promise<PredictInputs> {
  const examples: Example[] = [];
  let badRecords: BadRecordSummary | undefined;
  const imageArgs: string[] = [];
  for (const input of inputs) {
    if (extname(input).toLowerCase() !== '.csv') {
      imageArgs.push(input);
      continue;
    }
    if (typeof run.dataset.listExamples !== 'function')
      throw new UserError(
        `${input}: dataset plugin '${run.resolved.config.dataset.type}' reads no file lists; give image files or folders`,
      );
    const listed = await run.dataset.listExamples(input, opts.images);
    for (const note of listed.notes) logger.warn(`${input}: ${note}`);
    badRecords = badRecords
      ? mergeBadRecordSummaries(badRecords, listed.badRecords)
      : listed.badRecords;
    if (listed.badRecords.total > 0) logger.warn(formatBadRecordSummary(listed.badRecords));
    examples.push(...listed.examples);
  }
  const loose = imageExamples(imageArgs.filter((input) => !isVideo(input)));
  for (const m of loose.missing) logger.warn(`skipping ${m.path}: ${m.reason}`);
  const videos: VideoFrames[] = [];
  process.once('exit', () => videos.forEach((v) => v.dispose()));
  for (const video of imageArgs.filter(isVideo)) {
    const frames = extractFrames(video, Number(opts.fps));
    videos.push(frames);
    loose.examples.push(...frames.examples);
  }
  examples.push(...loose.examples);
  if (examples.length === 0)
    throw new UserError('no image to predict: every input was missing or bad');
  return { examples, badRecords, loose, videos };
}

/** The summary on stderr: counts, speed, what was not predicted and why, what to run next. */
function reportPredictions(args: {
  run: TrainedRun;
  opts: PredictCommandOptions;
  given: PredictInputs;
  outcome: PredictOutcome;
  photoOutcome: PhotoOutcome | undefined;
  photos: Example[];
  backend: string;
}): void {
  const { run, opts, given, outcome, photoOutcome, photos } = args;
  const { examples, loose, badRecords } = given;
  const bad = withMissing(
    badRecords ? mergeBadRecordSummaries(badRecords, outcome.badRecords) : outcome.badRecords,
    loose.missing,
  );
  const rate = outcome.predictions.length / Math.max(outcome.seconds, 1e-9);
  const faces = photoOutcome
    ? ` (${photoOutcome.predictions.length} face(s) in ${photos.length - photoOutcome.skipped.length - photoOutcome.noFace.length} photo(s); ${photoOutcome.noFace.length} photo(s) with no face)`
    : '';
  process.stderr.write(
    `predicted ${outcome.predictions.length}${photoOutcome ? ' row(s)' : ''} of ${examples.length + loose.missing.length} image(s)${faces} ` +
      `in ${outcome.seconds.toFixed(1)} s (${rate.toFixed(1)} ${photoOutcome ? 'rows' : 'images'}/s, ${args.backend})` +
      (bad.total > 0 ? `; ${bad.total} not predicted: ${formatBadRecordSummary(bad)}` : '') +
      (opts.out ? `; wrote ${opts.out}` : '') +
      '\n',
  );
  for (const s of outcome.skipped)
    process.stderr.write(
      `  not predicted: ${s.example.source ?? s.example.imagePath}: ${s.reason}\n`,
    );
  for (const m of loose.missing) process.stderr.write(`  not predicted: ${m.path}: ${m.reason}\n`);
  for (const e of photoOutcome?.noFace ?? [])
    process.stderr.write(`  no face found: ${e.source ?? e.imagePath}\n`);
  if (opts.annotate) process.stderr.write(`annotated photos in ${opts.annotate}\n`);
  if (run.task.classes.length > 0 && examples.some((e) => e.label >= 0) && opts.out)
    process.stderr.write(
      `score it: affectlab metrics --input ${opts.out} --classes ${run.task.classes.map((c) => c.name).join(',')}\n`,
    );
}
