import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { inject, injectable } from 'tsyringe';
import {
  AFFECTNET_FILE_LISTS_DIR,
  AFFECTNET_IMAGES_DIR,
  AFFECTNET_TRAINING_CSV,
  AFFECTNET_VALIDATION_CSV,
  expressionName,
  presetNameOf,
  resolveClassPreset,
} from './constants.js';
import {
  envReferences,
  UserError,
  BadRecordLog,
  checkBadFraction,
  Semaphore,
  Progress,
  PLUGIN_OPTIONS,
  type AugmentOptions,
  type FaceBox,
  type ClassInfo,
  type DatasetPlugin,
  type DatasetSplits,
  type Example,
  type ModelRequest,
  type ImageSpec,
  type ListedExamples,
  Logger,
  RunContext,
  alignedBox,
  parseLandmarks,
} from '../../../sdk/index.js';
import { readFileList } from './list-reader.js';
import { ensureSyntheticAffectNet } from './synth.js';
import type { AffectNetOptions } from './options.js';
import { BAD_ROW, checkHeader, parseRow, type AffectNetRecord } from './records.js';
import { applyLimits, balancedSplit, heldOutCount } from './split.js';

/** Concurrent fs.stat calls when checking that images exist. */
const STAT_CONCURRENCY = 64;

/** Row counts of one file list, for the run's record. */
export interface FileListCounts {
  rows: number;
  kept: number;
  bad: number;
  /** Valid rows whose expression is not among the chosen classes, by expression name. */
  notInClasses: Record<string, number>;
  /** Rows left out of a valence-arousal task for a missing (-2) value (out of range: a bad record). */
  noValenceArousal: number;
  /** `crop: aligned`: kept rows without 68 usable landmarks, cropped to the upright box. */
  noLandmarks?: number;
}

/** The files of an AffectNet root, each checked to exist. */
interface AffectNetFiles {
  root: string;
  imagesDir: string;
  trainingCsv: string;
  validationCsv: string;
}

/** A class with too few training images to hold out `validationPerClass`. */
interface ShortClass {
  class: string;
  available: number;
  taken: number;
}

/** A row that made it past parsing and filtering; landmarks are not needed for training. */
interface KeptRecord extends Omit<AffectNetRecord, 'landmarks'> {
  group: number;
  source: string;
}

/**
 * A copy of a string that does not share memory with the string it was cut from: V8 keeps a
 * substring as a view of its parent, so 290k paths would otherwise pin 290k whole CSV lines.
 */
function detached(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/**
 * The root as an absolute path. `${env:AFFECTNET_ROOT}` (the default) is interpolated by the
 * runtime before a run starts; one can only be left here when a caller skipped that check.
 */
export function resolveRoot(root: string): string {
  const unset = envReferences(root);
  if (unset.length > 0) {
    throw new UserError(
      `dataset.root is '${root}' but ${unset.join(', ')} is not set; set AFFECTNET_ROOT or dataset.root ` +
        `(to try synthetic AffectNet-format data: affectlab synth --out data/synth, then dataset.root: data/synth and dataset.split.validationPerClass: 10)`,
    );
  }
  return resolve(root);
}

/** The erasing bounds must be ordered (each alone is bounded by the schema). */
function checkErasingBounds(erasing: AffectNetOptions['augment']['erasing']): void {
  if (!erasing) return;
  const path = 'dataset.augment.erasing';
  if (erasing.areaMin > erasing.areaMax)
    throw new UserError(
      `${path}: areaMin ${erasing.areaMin} is greater than areaMax ${erasing.areaMax}`,
    );
  if (erasing.aspectMin > erasing.aspectMax)
    throw new UserError(
      `${path}: aspectMin ${erasing.aspectMin} is greater than aspectMax ${erasing.aspectMax}`,
    );
}

/** Mixup and CutMix share batches by probability: together they cannot exceed 1. */
function checkMixProbabilities(augment: AffectNetOptions['augment']): void {
  const { mixup, cutmix } = augment;
  if (!mixup || !cutmix) return;
  if (mixup.probability + cutmix.probability > 1 + 1e-9)
    throw new UserError(
      `dataset.augment: mixup.probability ${mixup.probability} + cutmix.probability ` +
        `${cutmix.probability} is more than 1 (a batch is mixed one way or the other; ` +
        `e.g. 0.5 each mixes every batch, half of them each way)`,
    );
}

/**
 * AffectNet as distributed: the manually annotated file lists and images. Reads both CSVs
 * (streamed), drops rows of codes outside the chosen classes, counts bad rows with their
 * `file:line`, checks that every image exists and splits per the report's Table 3 (default) or
 * the official lists.
 */
@injectable()
export class AffectNetDataset implements DatasetPlugin {
  readonly options: AffectNetOptions;
  readonly pipeline: {
    margin: number;
    augment?: AugmentOptions;
    onBadRecord: 'skip' | 'fail';
    maxBadFraction: number;
    crop: 'face-box' | 'aligned' | 'full';
  };

  constructor(
    @inject(PLUGIN_OPTIONS) options: AffectNetOptions,
    private readonly logger: Logger,
    private readonly context: RunContext,
  ) {
    this.options = options;
    checkErasingBounds(options.augment.erasing);
    checkMixProbabilities(options.augment);
    this.pipeline = {
      margin: this.options.margin,
      augment: this.options.augment,
      onBadRecord: this.options.onBadRecord,
      maxBadFraction: this.options.maxBadFraction,
      crop: this.options.crop,
    };
  }

  get imageSpec(): ImageSpec {
    const size = this.options.imageSize;
    const [height, width] = Array.isArray(size) ? size : [size, size];
    return { height, width, channels: this.options.channels };
  }

  /** Input shape and task from the options alone, for `affectlab summary` (no data is read). */
  describeTask(): ModelRequest {
    const { height, width, channels } = this.imageSpec;
    const classes = resolveClassPreset(this.options.classes);
    return {
      inputShape: [height, width, channels],
      task: {
        kind: this.options.task,
        classes: this.options.task === 'valence-arousal' ? [] : classes,
      },
    };
  }

  async prepare(): Promise<DatasetSplits> {
    const { options } = this;
    const files = await this.locateFiles();
    const { trainingCsv, validationCsv, imagesDir } = files;
    const classes = resolveClassPreset(options.classes);
    const groupOfCode = new Map(classes.map((c) => [c.code, c.index]));
    const bad = new BadRecordLog(options.onBadRecord);
    const training = await this.readList(trainingCsv, imagesDir, groupOfCode, bad);
    const validation = await this.readList(validationCsv, imagesDir, groupOfCode, bad);
    for (const [csv, list] of [
      [trainingCsv, training],
      [validationCsv, validation],
    ] as const)
      if (list.counts.noLandmarks)
        this.logger.warn(
          `${csv}: ${list.counts.noLandmarks} row(s) without 68 landmarks: cropped to the upright face box (crop: aligned)`,
        );

    const held = this.holdOutValidation(training.kept, classes);
    const limited = applyLimits(
      { train: held.train, validation: held.validation, test: validation.kept },
      options.split.limit,
      this.context.seed,
    );
    const counts = {
      train: countByClass(limited.train, classes),
      validation: countByClass(limited.validation, classes),
      test: countByClass(limited.test, classes),
    };
    const withLabels = options.task !== 'valence-arousal';
    // pure regression has no classes, but a sampler can still balance the expression categories:
    // those with training images become the strata
    const strataClasses = withLabels ? [] : classes.filter((c) => counts.train[c.name] > 0);
    const stratumOfGroup = new Map(strataClasses.map((c, stratum) => [c.index, stratum]));
    const toExamples = (records: KeptRecord[]): Example[] =>
      records.map((r) => this.example(r, imagesDir, withLabels, stratumOfGroup.get(r.group)));
    const splits = {
      train: toExamples(limited.train),
      validation: toExamples(limited.validation),
      test: toExamples(limited.test),
    };
    // the runner prints the summary (once, for every dataset plugin); here it is only counted
    const badRecords = bad.summary();

    const preset =
      typeof options.classes === 'string' ? options.classes : (presetNameOf(classes) ?? null);
    this.logger.info(
      `affectnet ${files.root}: ${preset ?? classes.map((c) => c.name).join('/')}, ` +
        `train ${splits.train.length}, validation ${splits.validation.length}, test ${splits.test.length}` +
        (badRecords.total ? `, ${badRecords.total} bad record(s) skipped` : ''),
    );
    return {
      task: {
        kind: options.task,
        classes: withLabels ? classes : [],
        ...(withLabels ? {} : { strata: strataClasses.map((c, index) => ({ ...c, index })) }),
      },
      image: this.imageSpec,
      ...splits,
      badRecords,
      sources: this.splitSources(),
      description: this.describePrepared({
        files,
        preset,
        classes,
        shortClasses: held.shortClasses,
        counts,
        splits,
        fileListCounts: { training: training.counts, validation: validation.counts },
        badRecords: badRecords.total,
      }),
    };
  }

  /**
   * The root's file lists and image folder, each checked to exist; a synthetic set is generated
   * there first when `synthetic` is set and the root has no file lists yet.
   */
  private async locateFiles(): Promise<AffectNetFiles> {
    const root = resolveRoot(this.options.root);
    const listsDir = join(root, AFFECTNET_FILE_LISTS_DIR);
    const imagesDir = join(root, AFFECTNET_IMAGES_DIR);
    const trainingCsv = join(listsDir, AFFECTNET_TRAINING_CSV);
    const validationCsv = join(listsDir, AFFECTNET_VALIDATION_CSV);
    if (this.options.synthetic && !(await isFile(trainingCsv))) {
      const { count, size, seed } = this.options.synthetic;
      this.logger.info(
        `no AffectNet file lists under ${root}: generating a synthetic AffectNet-format set there ` +
          `(${count} training images at ${size} px, seed ${seed}; once, later runs reuse it)`,
      );
      const result = await ensureSyntheticAffectNet({ out: root, count, size, seed });
      this.logger.info(
        `synthetic set ready: ${result.images} images in ${result.seconds.toFixed(1)} s`,
      );
    }
    for (const [name, csv] of [
      [AFFECTNET_TRAINING_CSV, trainingCsv],
      [AFFECTNET_VALIDATION_CSV, validationCsv],
    ] as const)
      if (!(await isFile(csv)))
        throw new UserError(
          `no ${name} under ${root}; set AFFECTNET_ROOT or dataset.root (looked for ${csv})`,
        );
    if (!(await isDirectory(imagesDir))) {
      throw new UserError(
        `no ${AFFECTNET_IMAGES_DIR} folder under ${root}; set AFFECTNET_ROOT or dataset.root`,
      );
    }
    return { root, imagesDir, trainingCsv, validationCsv };
  }

  /**
   * Training and validation from training.csv per the split policy: `report-table3` holds out
   * `validationPerClass` images of each class (warning for classes too short to give them),
   * otherwise a stratified, seeded `validationFraction` of each class. validation.csv is the
   * test set, so choosing the best epoch on it would make its score optimistic.
   */
  private holdOutValidation(
    kept: KeptRecord[],
    classes: readonly ClassInfo[],
  ): { train: KeptRecord[]; validation: KeptRecord[]; shortClasses: ShortClass[] } {
    const { split: policy, task } = this.options;
    const groups = classes.map((c) => c.index);
    if (policy.policy !== 'report-table3') {
      const fraction = policy.validationFraction;
      const split = balancedSplit(
        kept,
        groups,
        (available) => heldOutCount(available, fraction),
        this.context.seed,
        policy.maxTrainPerClass,
      );
      return { train: split.train, validation: split.validation, shortClasses: [] };
    }
    const split = balancedSplit(
      kept,
      groups,
      policy.validationPerClass,
      this.context.seed,
      policy.maxTrainPerClass,
    );
    const shortClasses = split.shortGroups.map((s) => ({
      class: classes[s.group].name,
      available: s.available,
      taken: s.taken,
    }));
    for (const s of shortClasses) {
      // a regression task drops whole classes AffectNet gives no valence/arousal (None,
      // Uncertain, Non-Face); those are counted under noValenceArousal, not worth a warning
      if (s.available === 0 && task === 'valence-arousal') continue;
      this.logger.warn(
        `class ${s.class} has ${s.available} training image(s), fewer than validationPerClass + 1 = ${policy.validationPerClass + 1}: ${s.taken} go to validation`,
      );
    }
    return { train: split.train, validation: split.validation, shortClasses };
  }

  /** Where each split comes from, in words. */
  private splitSources(): NonNullable<DatasetSplits['sources']> {
    const { split } = this.options;
    return {
      train: `${AFFECTNET_TRAINING_CSV}: the rest`,
      validation:
        split.policy === 'report-table3'
          ? `${AFFECTNET_TRAINING_CSV}: ${split.validationPerClass} per class held out`
          : `${AFFECTNET_TRAINING_CSV}: ${split.validationFraction} of each class held out`,
      test: AFFECTNET_VALIDATION_CSV,
    };
  }

  /** The run record's description of the prepared data (files, options, split, counts). */
  private describePrepared(facts: {
    files: AffectNetFiles;
    preset: string | null;
    classes: readonly ClassInfo[];
    shortClasses: ShortClass[];
    counts: Record<'train' | 'validation' | 'test', Record<string, number>>;
    splits: Record<'train' | 'validation' | 'test', Example[]>;
    fileListCounts: { training: FileListCounts; validation: FileListCounts };
    badRecords: number;
  }): Record<string, unknown> {
    const { options } = this;
    const { files, splits } = facts;
    return {
      dataset: 'affectnet',
      root: files.root,
      fileLists: { training: files.trainingCsv, validation: files.validationCsv },
      imagesDir: files.imagesDir,
      classPreset: facts.preset,
      classes: facts.classes.map((c) => ({ ...c })),
      task: options.task,
      crop: options.crop,
      margin: options.margin,
      image: this.imageSpec,
      split: {
        policy: options.split.policy,
        validationPerClass: options.split.validationPerClass,
        validationFraction: options.split.validationFraction,
        maxTrainPerClass: options.split.maxTrainPerClass ?? null,
        limit: options.split.limit ?? null,
        seed: this.context.seed,
        testSource: AFFECTNET_VALIDATION_CSV,
        // both policies hold validation out of training.csv: the test set is never scored
        // while training (checkpoint selection, early stopping)
        validationSource: AFFECTNET_TRAINING_CSV,
        shortClasses: facts.shortClasses,
      },
      counts: facts.counts,
      totals: {
        train: splits.train.length,
        validation: splits.validation.length,
        test: splits.test.length,
      },
      fileListCounts: facts.fileListCounts,
      badRecords: facts.badRecords,
    };
  }

  /**
   * One AffectNet-format file list as examples (predict, evaluate --list): the rows of the
   * configured classes (and, for regression tasks, with valence/arousal) whose image exists,
   * face boxes per `crop`. Images are under `imageRoot`; by default the list's sibling
   * Manually_Annotated_Images folder when it sits in Manually_Annotated_file_lists, else the
   * list's own folder.
   */
  async listExamples(file: string, imageRoot?: string): Promise<ListedExamples> {
    const csvPath = resolve(file);
    if (!(await isFile(csvPath))) throw new UserError(`no such file list ${file}`);
    const listDir = dirname(csvPath);
    const root = resolve(
      imageRoot ??
        (basename(listDir) === AFFECTNET_FILE_LISTS_DIR
          ? join(dirname(listDir), AFFECTNET_IMAGES_DIR)
          : listDir),
    );
    if (!(await isDirectory(root)))
      throw new UserError(`image folder ${root} for ${file} does not exist (pass --images <dir>)`);
    const classes = resolveClassPreset(this.options.classes);
    const bad = new BadRecordLog('skip');
    const { kept, counts } = await this.readList(
      csvPath,
      root,
      new Map(classes.map((c) => [c.code, c.index])),
      bad,
    );
    const withLabels = this.options.task !== 'valence-arousal';
    const notes: string[] = [];
    const other = Object.entries(counts.notInClasses);
    if (other.length > 0)
      notes.push(
        `left out ${other.reduce((n, [, c]) => n + c, 0)} row(s) of classes the run was not trained on: ` +
          other.map(([name, c]) => `${name} ${c}`).join(', '),
      );
    if (counts.noValenceArousal > 0)
      notes.push(`${counts.noValenceArousal} row(s) without valence/arousal left out`);
    if (counts.noLandmarks)
      notes.push(
        `${counts.noLandmarks} row(s) without 68 landmarks cropped to the upright face box`,
      );
    return {
      examples: kept.map((r) => this.example(r, root, withLabels, undefined)),
      badRecords: bad.summary(),
      notes,
    };
  }

  /** Which splits a file list feeds, for messages. */
  private splitsOf(csvPath: string): string {
    if (basename(csvPath) === AFFECTNET_TRAINING_CSV) return 'the train and validation splits';
    return 'the test split';
  }

  private example(
    record: KeptRecord,
    imagesDir: string,
    withLabel: boolean,
    stratum: number | undefined,
  ): Example {
    // Built by assignment in one order, not by spreading optional parts: spread-built objects
    // came out several times larger (~1 KB each, 280k of them), and their shapes all differ.
    const example: Example = {
      id: record.path,
      imagePath: imagePathOf(imagesDir, record.path),
      label: withLabel ? record.group : -1,
      source: record.source,
    };
    if (stratum !== undefined) example.stratum = stratum;
    if (inUnitRange(record.valence) && inUnitRange(record.arousal)) {
      example.valence = record.valence;
      example.arousal = record.arousal;
    }
    // the record's own box: records are dropped once their examples exist
    if (this.options.crop !== 'full') example.crop = record.box;
    return example;
  }

  /** Stream one file list: valid rows of the chosen classes whose image exists. */
  private async readList(
    csvPath: string,
    imagesDir: string,
    groupOfCode: Map<number, number>,
    bad: BadRecordLog,
  ): Promise<{ kept: KeptRecord[]; counts: FileListCounts }> {
    const needsValenceArousal = this.options.task !== 'classification';
    const counts: FileListCounts = {
      rows: 0,
      kept: 0,
      bad: 0,
      notInClasses: {},
      noValenceArousal: 0,
    };
    const candidates: KeptRecord[] = [];
    // progress in bytes: the row count of a list is not known before it is read
    const progress = new Progress(
      `reading ${csvPath}`,
      (await stat(csvPath)).size,
      this.logger,
      undefined,
      true,
    );
    const badBefore = bad.count;
    const aligned = this.options.crop === 'aligned';
    if (aligned) counts.noLandmarks = 0;
    const keep = (
      line: number,
      path: string,
      upright: FaceBox,
      code: number,
      valence: number,
      arousal: number,
      landmarks: string,
    ): void => {
      const group = groupOfCode.get(code);
      if (group === undefined) {
        const name = expressionName(code);
        counts.notInClasses[name] = (counts.notInClasses[name] ?? 0) + 1;
        return;
      }
      if (needsValenceArousal && !(inUnitRange(valence) && inUnitRange(arousal))) {
        counts.noValenceArousal++;
        return;
      }
      let box = upright;
      if (aligned) {
        box = alignedBox(upright, parseLandmarks(landmarks));
        if (box.angle === undefined) counts.noLandmarks = (counts.noLandmarks ?? 0) + 1;
      }
      candidates.push({
        path,
        box,
        code,
        valence,
        arousal,
        line,
        group,
        source: `${csvPath}:${line}`,
      });
    };
    // rows the byte reader is sure of arrive parsed (the path a fresh string, not a view of the
    // line); every other line arrives as text for parseRow, as it always did
    await readFileList(
      csvPath,
      {
        landmarks: aligned,
        header: (text) => {
          const problem = checkHeader(text);
          if (problem) throw new UserError(`${csvPath}:1: ${problem}`);
        },
        row: (line, r) => {
          counts.rows++;
          keep(
            line,
            r.path,
            { x: r.x, y: r.y, width: r.width, height: r.height },
            r.code,
            r.valence,
            r.arousal,
            r.landmarks,
          );
        },
        text: (line, text) => {
          if (text.trim() === '') return;
          counts.rows++;
          const parsed = parseRow(text, line);
          if (!parsed.ok) {
            bad.add(`${csvPath}:${line}`, parsed.reason, parsed.detail);
            return;
          }
          const { record } = parsed;
          keep(
            line,
            detached(record.path),
            record.box,
            record.code,
            record.valence,
            record.arousal,
            record.landmarks,
          );
        },
      },
      (bytes) => progress.tick(bytes),
    );
    progress.finish();
    const kept = await this.existing(candidates, imagesDir, bad);
    counts.kept = kept.length;
    counts.bad = bad.count - badBefore;
    // The whole list has been judged here, so the fraction is exact: no sampling to wait for.
    checkBadFraction({
      what: `${csvPath} (${this.splitsOf(csvPath)})`,
      unit: 'records',
      bad: counts.bad,
      seen: counts.bad + counts.kept,
      total: counts.bad + counts.kept,
      maxBadFraction: this.options.maxBadFraction,
      examples: bad.summary().examples.filter((e) => e.source.startsWith(`${csvPath}:`)),
    });
    return { kept, counts };
  }

  /**
   * The records whose image file exists inside the image root; the others are bad records,
   * reported in file order. Containment is checked on real paths (symlinks resolved) for both
   * the root and the file: a link inside the root that points outside it is refused, one that
   * stays inside is followed.
   */
  private async existing(
    records: KeptRecord[],
    imagesDir: string,
    bad: BadRecordLog,
  ): Promise<KeptRecord[]> {
    const semaphore = new Semaphore(STAT_CONCURRENCY);
    const progress = new Progress('checking image files', records.length, this.logger);
    const realRoot = await realpath(imagesDir);
    const root = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
    const inside = (path: string): boolean => path.startsWith(root);
    // AffectNet keeps ~1,000 folders of ~300 images: resolve each folder once, not each file
    const realDirs = new Map<string, Promise<string | undefined>>();
    const realDir = (dir: string): Promise<string | undefined> => {
      let found = realDirs.get(dir);
      if (!found) {
        found = realpath(dir).catch(() => undefined);
        realDirs.set(dir, found);
      }
      return found;
    };
    // each folder listed once (readdir), not each file stat'ed: 400k fs calls and promises took
    // longer than the rest of prepare; a name's entry type is what lstat would say
    interface Listing {
      files: Set<string>;
      links: Set<string>;
    }
    const listings = new Map<string, Listing | undefined>();
    const list = async (dir: string): Promise<void> => {
      if (listings.has(dir)) return;
      listings.set(dir, undefined);
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
      if (!entries) return;
      const listing: Listing = { files: new Set(), links: new Set() };
      for (const e of entries) {
        if (e.isFile()) listing.files.add(e.name);
        else if (e.isSymbolicLink()) listing.links.add(e.name);
      }
      listings.set(dir, listing);
    };
    /** The verdict from the listings, or undefined when it needs the file system (a link). */
    const quick = (folder: string, name: string): Verdict | undefined => {
      const dir = realDirOf.get(folder);
      if (dir === undefined) return MISSING;
      if (!inside(dir + sep)) return { kind: 'escapes', target: dir };
      const listing = listings.get(dir);
      if (!listing) return undefined;
      if (listing.files.has(name)) return OK;
      return listing.links.has(name) ? undefined : MISSING;
    };
    // the folders first (real path, then listing), a few at a time
    const locate = imageLocator(imagesDir);
    const located = records.map((r) => locate(r.path));
    const realDirOf = new Map<string, string | undefined>();
    for (const at of located) if ('folder' in at) realDirOf.set(at.folder, undefined);
    await Promise.all(
      [...realDirOf.keys()].map((folder) =>
        semaphore.run(async () => {
          const dir = await realDir(folder);
          realDirOf.set(folder, dir);
          if (dir !== undefined) await list(dir);
        }),
      ),
    );
    const found: Verdict[] = new Array<Verdict>(records.length);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < records.length; i++) {
      const at = located[i];
      if ('escapes' in at) {
        found[i] = { kind: 'escapes', target: at.escapes };
      } else {
        const verdict = quick(at.folder, at.name);
        if (verdict) found[i] = verdict;
        else
          pending.push(
            semaphore.run(async () => {
              found[i] = await linkVerdict(realDirOf.get(at.folder) as string, at.name, inside);
            }),
          );
      }
      progress.tick();
    }
    await Promise.all(pending);
    progress.finish();
    const kept: KeptRecord[] = [];
    records.forEach((r, i) => {
      const verdict = found[i];
      if (verdict.kind === 'ok') kept.push(r);
      else if (verdict.kind === 'escapes')
        bad.add(
          r.source,
          BAD_ROW.pathEscapes,
          `'${r.path}' resolves to ${verdict.target}, outside ${realRoot}`,
        );
      else bad.add(r.source, BAD_ROW.missingImage, join(imagesDir, r.path));
    });
    return kept;
  }
}

/** A path that path.join would leave as it is: no '.', '..' or empty segment, relative. */
const NOT_PLAIN = /(?:^|\/)\.\.?(?:\/|$)|\/\/|^\/|\/$/;

type Verdict = { kind: 'ok' } | { kind: 'missing' } | { kind: 'escapes'; target: string };
const OK: Verdict = { kind: 'ok' };
const MISSING: Verdict = { kind: 'missing' };

/**
 * Where an image path of a file list lies: its folder and name, or the path it escapes to.
 * A plain relative path (no '.', '..' or empty segment) resolves to imagesDir/path: its folder
 * and name come from slicing, without path.resolve's normalisation on every record (a third of
 * prepare's time at 280k records). Anything else goes through resolve().
 */
function imageLocator(
  imagesDir: string,
): (rel: string) => { folder: string; name: string } | { escapes: string } {
  const imagesPrefix = imagesDir.endsWith(sep) ? imagesDir : imagesDir + sep;
  const plainImagesDir = sep === '/' && resolve(imagesDir) === imagesDir && imagesDir !== '/';
  const folders = new Map<string, string>();
  return (rel) => {
    if (plainImagesDir && !NOT_PLAIN.test(rel)) {
      const slash = rel.lastIndexOf('/');
      if (slash < 0) return { folder: imagesDir, name: rel };
      const relFolder = rel.slice(0, slash);
      let folder = folders.get(relFolder);
      if (folder === undefined) {
        folder = `${imagesDir}/${relFolder}`;
        folders.set(relFolder, folder);
      }
      return { folder, name: rel.slice(slash + 1) };
    }
    const path = resolve(imagesDir, rel);
    // parseRow refuses '..' and absolute paths; this also catches anything resolve() normalises away
    if (!path.startsWith(imagesPrefix)) return { escapes: path };
    return { folder: dirname(path), name: basename(path) };
  };
}

/** The verdict on a name the folder listing could not settle (a symbolic link), from lstat/realpath. */
async function linkVerdict(
  dir: string,
  name: string,
  inside: (path: string) => boolean,
): Promise<Verdict> {
  const real = join(dir, name);
  const info = await lstat(real).catch(() => undefined);
  if (!info) return MISSING;
  if (!info.isSymbolicLink()) return info.isFile() ? OK : MISSING;
  const target = await realpath(real).catch(() => undefined);
  if (target === undefined) return MISSING;
  if (!inside(target)) return { kind: 'escapes', target };
  return (await isFile(target)) ? OK : MISSING;
}

/**
 * join(imagesDir, path), without join's normalisation for the common plain path: then the
 * result is the same string, built as a concatenation that shares imagesDir's characters.
 */
function imagePathOf(imagesDir: string, path: string): string {
  if (
    sep === '/' &&
    !NOT_PLAIN.test(path) &&
    !NOT_PLAIN.test(imagesDir.slice(1)) &&
    imagesDir.startsWith('/')
  )
    return `${imagesDir}/${path}`;
  return join(imagesDir, path);
}

function inUnitRange(value: number): boolean {
  return value >= -1 && value <= 1;
}

function countByClass(
  records: readonly KeptRecord[],
  classes: readonly ClassInfo[],
): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(classes.map((c) => [c.name, 0]));
  for (const r of records) counts[classes[r.group].name]++;
  return counts;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
