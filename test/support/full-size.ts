/**
 * AffectNet's file lists at their real size - 414,799 training rows and 5,500 validation rows,
 * with the category counts of the manually annotated set - written in the distribution's CSV
 * format, every row copied from a row of a small synthetic set (a few hundred real JPEGs made
 * by the project's generator). Shared by the full-size test and `npm run bench:prepare`.
 */
import { closeSync, mkdirSync, openSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  AFFECTNET_CSV_COLUMNS,
  AFFECTNET_EXPRESSIONS,
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
  AFFECTNET_TRAINING_CSV,
  AFFECTNET_VALIDATION_CSV,
} from '../../src/plugins/datasets/affectnet/constants.js';
import { Random } from '../../src/sdk/services.js';
import { ensureSyntheticAffectNet } from '../../src/plugins/datasets/affectnet/synth.js';

/** AffectNet's validation.csv: 500 images of each of the eleven categories, 5,500 rows. */
export const FULL_SIZE_VALIDATION_PER_CODE = 500;

/**
 * Rows per expression code (index = code) of AffectNet's training.csv as released: the
 * training-set counts of the manually annotated images published with the data set
 * (Mollahosseini et al. 2017), 414,799 in all. Happy alone is 134,415 rows, Contempt 3,750.
 */
export const FULL_SIZE_TRAINING_COUNTS: readonly number[] = [
  74_874, 134_415, 25_459, 14_090, 6_378, 3_803, 24_882, 3_750, 33_088, 11_645, 82_415,
];
export const FULL_SIZE_TRAINING_ROWS = FULL_SIZE_TRAINING_COUNTS.reduce((a, b) => a + b, 0);
export const FULL_SIZE_VALIDATION_ROWS =
  FULL_SIZE_VALIDATION_PER_CODE * AFFECTNET_EXPRESSIONS.length;

export interface FullSizeOptions {
  /** The AffectNet root to write (its file lists; the images are a link to the seed set's). */
  root: string;
  /** Where the small synthetic set of real JPEGs lives (generated when missing). */
  seedSet: string;
  /** Training rows of the seed set, i.e. how many distinct images (default 330). */
  seedImages?: number;
  /** Side of the seed images in pixels (default 48). */
  seedSize?: number;
  seed?: number;
}

export interface FullSizeLists {
  root: string;
  training: string;
  validation: string;
  trainingRows: number;
  validationRows: number;
  /** Distinct image files the rows point at. */
  images: number;
  bytes: number;
}

/** The data lines of one generated list, grouped by expression code (header dropped). */
async function rowsByCode(csv: string): Promise<string[][]> {
  const byCode: string[][] = AFFECTNET_EXPRESSIONS.map(() => []);
  const lines = (await readFile(csv, 'utf8')).split('\n').slice(1);
  for (const line of lines) {
    if (line === '') continue;
    const code = Number(line.split(',')[6]);
    byCode[code].push(line);
  }
  return byCode;
}

/**
 * Write one list: `counts[code]` rows per code, the codes interleaved in a seeded order (as in
 * the real lists, where categories are mixed), row k of a code copying template k mod n.
 */
function writeList(
  path: string,
  counts: readonly number[],
  templates: readonly string[][],
  rng: Random,
): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const codes = new Uint8Array(total);
  let at = 0;
  counts.forEach((n, code) => {
    if (n > 0 && templates[code].length === 0)
      throw new Error(`the seed set has no row of expression ${code}`);
    codes.fill(code, at, at + n);
    at += n;
  });
  for (let i = total - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = codes[i];
    codes[i] = codes[j];
    codes[j] = t;
  }
  const used = new Array<number>(counts.length).fill(0);
  const fd = openSync(path, 'w');
  let bytes = 0;
  try {
    let chunk = AFFECTNET_CSV_COLUMNS.join(',') + '\n';
    for (let i = 0; i < total; i++) {
      const code = codes[i];
      const list = templates[code];
      chunk += list[used[code]++ % list.length] + '\n';
      if (chunk.length >= 1 << 20) {
        bytes += writeSync(fd, chunk);
        chunk = '';
      }
    }
    bytes += writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/** Write (or rewrite) the full-size lists under `root`, generating the seed set if needed. */
export async function writeFullSizeAffectNet(options: FullSizeOptions): Promise<FullSizeLists> {
  const seedImages = options.seedImages ?? 330;
  const seed = options.seed ?? 16;
  const validationCount = 11 * 6;
  await ensureSyntheticAffectNet({
    out: options.seedSet,
    count: seedImages,
    validationCount,
    size: options.seedSize ?? 48,
    seed,
  });
  const lists = join(options.seedSet, AFFECTNET_FILE_LISTS_DIR);
  const templates = await rowsByCode(join(lists, AFFECTNET_TRAINING_CSV));
  const validationTemplates = await rowsByCode(join(lists, AFFECTNET_VALIDATION_CSV));

  const listsDir = join(options.root, AFFECTNET_FILE_LISTS_DIR);
  mkdirSync(listsDir, { recursive: true });
  const images = join(options.root, AFFECTNET_IMAGES_DIR);
  rmSync(images, { recursive: true, force: true }); // a link from an earlier call, even a broken one
  symlinkSync(resolve(options.seedSet, AFFECTNET_IMAGES_DIR), images, 'dir');

  const rng = Random.fork(seed, 'full-size-lists');
  const training = join(listsDir, AFFECTNET_TRAINING_CSV);
  const validation = join(listsDir, AFFECTNET_VALIDATION_CSV);
  const bytes =
    writeList(training, FULL_SIZE_TRAINING_COUNTS, templates, rng) +
    writeList(
      validation,
      AFFECTNET_EXPRESSIONS.map(() => FULL_SIZE_VALIDATION_PER_CODE),
      validationTemplates,
      rng,
    );
  return {
    root: options.root,
    training,
    validation,
    trainingRows: FULL_SIZE_TRAINING_ROWS,
    validationRows: FULL_SIZE_VALIDATION_ROWS,
    images: seedImages + validationCount,
    bytes,
  };
}
