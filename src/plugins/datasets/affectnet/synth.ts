/**
 * Synthetic data in AffectNet's distribution format: `Manually_Annotated_file_lists/{training,
 * validation}.csv` and JPEGs under `Manually_Annotated_Images/<n>/<hash>.jpg`, readable by the
 * `affectnet` dataset unchanged. Deterministic: the same options give the same bytes.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  AFFECTNET_CODES_WITHOUT_VALENCE_AROUSAL,
  AFFECTNET_CSV_COLUMNS,
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
  AFFECTNET_MISSING_VALENCE_AROUSAL,
  AFFECTNET_TABLE1_COUNTS,
  AFFECTNET_TRAINING_CSV,
  AFFECTNET_VALIDATION_CSV,
  expressionName,
  resolveClassPreset,
} from './constants.js';
import { UserError, Semaphore, Random } from '../../../sdk/index.js';
import { clamp, drawImage, type DrawnImage } from './synth-face.js';

/** Bump when the images or rows a seed produces change. */
export const SYNTH_VERSION = 3;
export const SYNTH_MANIFEST = 'affectlab-synth.json';

export interface SynthOptions {
  /** Output directory (the AffectNet root to point `dataset.root` at). */
  out: string;
  /** Rows of training.csv (default 2000). */
  count?: number;
  /** Rows of validation.csv, balanced over the classes like AffectNet's (default count/10, >= 2 per class). */
  validationCount?: number;
  seed?: number;
  /** Side of the (square) images in pixels (default 128). */
  size?: number;
  /** Expression codes to generate: a preset or list (default affectnet11, all eleven). */
  classes?: string | (string | number)[];
  /** Fraction of face rows whose written label is another expression (default 0.03). */
  labelNoise?: number;
  /** Images rendered at once (default 2 x cores). */
  concurrency?: number;
  /** Called after each image, for progress bars. */
  onProgress?: (done: number, total: number) => void;
}

export interface SynthResult {
  out: string;
  /** Rows per expression name. */
  training: Record<string, number>;
  validation: Record<string, number>;
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

interface SynthManifest {
  generator: 'affectlab-synth';
  version: number;
  complete: boolean;
  options: Required<
    Pick<SynthOptions, 'count' | 'validationCount' | 'seed' | 'size' | 'labelNoise'>
  > & { classes: number[] };
  result?: SynthResult;
}

export const SYNTH_DEFAULTS = { count: 2000, seed: 42, size: 128, labelNoise: 0.03 } as const;

/** Smallest number of training rows per class, so rare classes exist even in tiny sets. */
const MIN_PER_CLASS = 8;
/** Images per numbered subdirectory. */
const FILES_PER_DIRECTORY = 500;

/**
 * Rows per code: `total` apportioned by Table 1 (largest remainder) after giving every code
 * min(MIN_PER_CLASS, total / codes) rows.
 */
export function table1Allocation(codes: readonly number[], total: number): Map<number, number> {
  const floor = Math.min(MIN_PER_CLASS, Math.floor(total / codes.length));
  const rest = total - floor * codes.length;
  const weights = codes.map((c) => AFFECTNET_TABLE1_COUNTS[c]);
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (rest * w) / sum);
  const counts = exact.map(Math.floor);
  let left = rest - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact
    .map((e, i) => [e - Math.floor(e), i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of byRemainder) {
    if (left-- <= 0) break;
    counts[i]++;
  }
  return new Map(codes.map((c, i) => [c, counts[i] + floor]));
}

/** `total` rows spread evenly over the codes (AffectNet's validation.csv is balanced). */
export function balancedAllocation(codes: readonly number[], total: number): Map<number, number> {
  const base = Math.floor(total / codes.length);
  return new Map(codes.map((c, i) => [c, base + (i < total % codes.length ? 1 : 0)]));
}

/** Spread of the annotators' valence/arousal around what the face shows. */
const ANNOTATION_NOISE = 0.07;

/**
 * The written valence/arousal: -2 where AffectNet records none for the written label; otherwise
 * what the drawn face shows, plus annotator noise.
 */
function valenceArousal(label: number, drawn: DrawnImage, rng: Random): [number, number] {
  if (AFFECTNET_CODES_WITHOUT_VALENCE_AROUSAL.includes(label)) {
    return [AFFECTNET_MISSING_VALENCE_AROUSAL, AFFECTNET_MISSING_VALENCE_AROUSAL];
  }
  return [
    clamp(drawn.valence + rng.normal() * ANNOTATION_NOISE, -1, 1),
    clamp(drawn.arousal + rng.normal() * ANNOTATION_NOISE, -1, 1),
  ];
}

/** The written label: usually the drawn expression, sometimes (labelNoise) another face code. */
function writtenLabel(
  trueCode: number,
  codes: readonly number[],
  labelNoise: number,
  rng: Random,
): number {
  if (trueCode === 10 || rng.next() >= labelNoise) return trueCode;
  const others = codes.filter((c) => c !== trueCode && c !== 10);
  return others.length > 0 ? others[rng.int(others.length)] : trueCode;
}

interface Item {
  index: number;
  code: number;
}

function plan(
  codes: readonly number[],
  allocation: Map<number, number>,
  seed: number,
  split: string,
  offset: number,
): Item[] {
  const list: number[] = [];
  for (const code of codes) for (let i = 0; i < (allocation.get(code) ?? 0); i++) list.push(code);
  Random.fork(seed, 'synth-order', split).shuffle(list);
  return list.map((code, i) => ({ index: offset + i, code }));
}

function imagePath(seed: number, index: number): string {
  const hash = createHash('sha1').update(`affectlab-synth:${seed}:${index}`).digest('hex');
  return `${1 + Math.floor(index / FILES_PER_DIRECTORY)}/${hash}.jpg`;
}

/** Render one image and return its CSV row. */
async function renderItem(
  item: Item,
  options: ResolvedSynthOptions,
  imagesDir: string,
): Promise<{ row: string; label: number }> {
  const rng = Random.fork(options.seed, 'synth-image', item.index);
  const { size } = options;
  const drawn = drawImage(item.code, size, size, rng);
  const label = writtenLabel(item.code, options.classes, options.labelNoise, rng);
  const [valence, arousal] = valenceArousal(label, drawn, rng);
  // blur half of the images: render at a lower resolution and upsample, several times cheaper
  // than a Gaussian blur at the same softness
  const sharpness = rng.next() < 0.5 ? rng.uniform(0.45, 0.9) : 1;
  let image = sharp(Buffer.from(drawn.svg), { density: 72 * sharpness });
  if (sharpness < 1) image = image.resize(size, size, { kernel: 'linear' });
  const jpeg = await image
    .jpeg({ quality: 40 + rng.int(56), chromaSubsampling: '4:2:0' })
    .toBuffer();
  const path = imagePath(options.seed, item.index);
  await writeFile(join(imagesDir, path), jpeg);
  const landmarks = drawn.landmarks.map((p) => `${p.x.toFixed(2)};${p.y.toFixed(2)}`).join(';');
  const { x, y, width, height } = drawn.box;
  const row = [
    path,
    x,
    y,
    width,
    height,
    landmarks,
    label,
    valence.toFixed(6),
    arousal.toFixed(6),
  ].join(',');
  return { row, label };
}

interface ResolvedSynthOptions {
  out: string;
  count: number;
  validationCount: number;
  seed: number;
  size: number;
  labelNoise: number;
  classes: number[];
  concurrency: number;
}

function resolveOptions(options: SynthOptions): ResolvedSynthOptions {
  const classes = resolveClassPreset(options.classes ?? 'affectnet11').map((c) => c.code);
  const count = options.count ?? SYNTH_DEFAULTS.count;
  const size = options.size ?? SYNTH_DEFAULTS.size;
  const labelNoise = options.labelNoise ?? SYNTH_DEFAULTS.labelNoise;
  const validationCount =
    options.validationCount ?? Math.max(2 * classes.length, Math.round(count / 10));
  const concurrency = options.concurrency ?? Math.max(2, availableParallelism() * 2);
  if (!Number.isInteger(count) || count < classes.length) {
    throw new UserError(
      `synth: --count must be an integer of at least one per class (${classes.length}), got ${count}`,
    );
  }
  if (!Number.isInteger(validationCount) || validationCount < 0) {
    throw new UserError(
      `synth: --validation-count must be a non-negative integer, got ${validationCount}`,
    );
  }
  if (!Number.isInteger(size) || size < 32 || size > 4096)
    throw new UserError(`synth: --size must be an integer in 32..4096, got ${size}`);
  if (!(labelNoise >= 0 && labelNoise < 1))
    throw new UserError(`synth: label noise must be in [0, 1), got ${labelNoise}`);
  const seed = options.seed ?? SYNTH_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new UserError(`synth: --seed must be an integer, got ${seed}`);
  return { out: options.out, count, validationCount, seed, size, labelNoise, classes, concurrency };
}

function readManifest(out: string): SynthManifest | undefined {
  const path = join(out, SYNTH_MANIFEST);
  if (!existsSync(path)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as SynthManifest;
    return manifest.generator === 'affectlab-synth' ? manifest : undefined;
  } catch {
    return undefined;
  }
}

function manifestOptions(o: ResolvedSynthOptions): SynthManifest['options'] {
  return {
    count: o.count,
    validationCount: o.validationCount,
    seed: o.seed,
    size: o.size,
    labelNoise: o.labelNoise,
    classes: o.classes,
  };
}

async function writeRow(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

async function closeStream(stream: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
}

/**
 * Write a synthetic AffectNet-format set under `out`. Refuses a directory that holds AffectNet
 * folders not written by this generator (it never overwrites real data); replaces an earlier
 * synthetic set.
 */
export async function generateSyntheticAffectNet(options: SynthOptions): Promise<SynthResult> {
  const resolved = resolveOptions(options);
  const { out, seed } = resolved;
  const listsDir = join(out, AFFECTNET_FILE_LISTS_DIR);
  const imagesDir = join(out, AFFECTNET_IMAGES_DIR);
  if ((existsSync(listsDir) || existsSync(imagesDir)) && !readManifest(out)) {
    throw new UserError(
      `synth: ${out} already holds AffectNet folders that affectlab did not generate; choose another --out`,
    );
  }
  await rm(listsDir, { recursive: true, force: true });
  await rm(imagesDir, { recursive: true, force: true });
  await mkdir(listsDir, { recursive: true });
  const manifestPath = join(out, SYNTH_MANIFEST);
  const manifest: SynthManifest = {
    generator: 'affectlab-synth',
    version: SYNTH_VERSION,
    complete: false,
    options: manifestOptions(resolved),
  };
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');

  const started = performance.now();
  const trainItems = plan(
    resolved.classes,
    table1Allocation(resolved.classes, resolved.count),
    seed,
    'training',
    0,
  );
  const validationItems = plan(
    resolved.classes,
    balancedAllocation(resolved.classes, resolved.validationCount),
    seed,
    'validation',
    trainItems.length,
  );
  const total = trainItems.length + validationItems.length;
  const directories = Math.ceil(total / FILES_PER_DIRECTORY);
  for (let d = 1; d <= directories; d++)
    await mkdir(join(imagesDir, String(d)), { recursive: true });

  const semaphore = new Semaphore(resolved.concurrency);
  let done = 0;
  const writeList = async (items: Item[], file: string): Promise<Record<string, number>> => {
    const stream = createWriteStream(join(listsDir, file));
    const labels: Record<string, number> = Object.fromEntries(
      resolved.classes.map((c) => [expressionName(c), 0]),
    );
    try {
      await writeRow(stream, AFFECTNET_CSV_COLUMNS.join(',') + '\n');
      // rows are written in order as they finish; the window bounds what waits in memory
      const window = resolved.concurrency * 4;
      const pending: Promise<{ row: string; label: number }>[] = [];
      let next = 0;
      const launch = (): void => {
        while (pending.length < window && next < items.length) {
          const item = items[next++];
          const task = semaphore.run(() => renderItem(item, resolved, imagesDir));
          task.catch(() => undefined);
          pending.push(task);
        }
      };
      launch();
      while (pending.length > 0) {
        const { row, label } = await (pending.shift() as Promise<{ row: string; label: number }>);
        launch();
        const name = expressionName(label);
        labels[name] = (labels[name] ?? 0) + 1;
        await writeRow(stream, row + '\n');
        options.onProgress?.(++done, total);
      }
    } finally {
      await closeStream(stream);
    }
    return labels;
  };
  const training = await writeList(trainItems, AFFECTNET_TRAINING_CSV);
  const validation = await writeList(validationItems, AFFECTNET_VALIDATION_CSV);
  const seconds = (performance.now() - started) / 1000;
  const result: SynthResult = {
    out,
    training,
    validation,
    images: total,
    seconds,
    imagesPerSecond: total / seconds,
  };
  manifest.complete = true;
  manifest.result = result;
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  return result;
}

/**
 * The synthetic set at `out`, generated only when it is absent or was made with other options
 * (quickstart and tests share one cached set this way).
 */
export async function ensureSyntheticAffectNet(
  options: SynthOptions,
): Promise<SynthResult & { reused: boolean }> {
  const resolved = resolveOptions(options);
  const manifest = readManifest(resolved.out);
  if (
    manifest?.complete &&
    manifest.version === SYNTH_VERSION &&
    manifest.result &&
    JSON.stringify(manifest.options) === JSON.stringify(manifestOptions(resolved))
  ) {
    return { ...manifest.result, out: resolved.out, reused: true };
  }
  return { ...(await generateSyntheticAffectNet(options)), reused: false };
}
