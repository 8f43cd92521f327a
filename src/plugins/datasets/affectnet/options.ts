import { AFFECTNET_EXPRESSIONS, CLASS_PRESET_NAMES, DEFAULT_CLASS_PRESET } from './constants.js';
import type { AugmentOptions, JsonSchema, TaskKind } from '../../../core/plugin/plugin.js';

export type SplitPolicy = 'report-table3' | 'official';

export interface SplitLimits {
  train?: number;
  validation?: number;
  test?: number;
}

/** The validated options of the `affectnet` dataset (schema defaults filled in). */
export interface AffectNetOptions {
  root: string;
  classes: string | (string | number)[];
  task: TaskKind;
  imageSize: number | [number, number];
  channels: 1 | 3;
  crop: 'face-box' | 'full';
  margin: number;
  split: {
    policy: SplitPolicy;
    validationPerClass: number;
    validationFraction: number;
    maxTrainPerClass?: number;
    limit?: SplitLimits;
  };
  onBadRecord: 'skip' | 'fail';
  /** Under skip: the largest fraction of bad records per file list, and of bad images per split. */
  maxBadFraction: number;
  augment: AugmentOptions;
  /** Generate a synthetic AffectNet-format set into `root` when it holds none (the quickstart). */
  synthetic?: { count: number; size: number; seed: number };
}

/**
 * Defaults, the single place they are written: the schema below carries them for ajv to fill
 * in, and `withDefaults` applies them when the plugin is built without validation (tests).
 */
export const AFFECTNET_DEFAULTS = {
  root: '${env:AFFECTNET_ROOT}',
  classes: DEFAULT_CLASS_PRESET,
  task: 'classification',
  imageSize: 256,
  channels: 3,
  crop: 'face-box',
  /** 10% of the box on each side: AffectNet's boxes are tight, so chin and brows stay in. */
  margin: 0.1,
  split: { policy: 'report-table3', validationPerClass: 500, validationFraction: 0.05 },
  onBadRecord: 'skip',
  /** A few unreadable images are normal in a 290k-image download; 1 in 20 is a broken copy. */
  maxBadFraction: 0.05,
  /** Mild, label-preserving for expressions (flip keeps the expression). */
  augment: { flip: true, shift: 0.05, rotate: 10, brightness: 0.1, contrast: 0.1 },
} as const satisfies Omit<AffectNetOptions, 'augment' | 'split'> & {
  augment: Required<AugmentOptions>;
  split: AffectNetOptions['split'];
};

const positiveInteger: JsonSchema = { type: 'integer', minimum: 1 };

export const affectnetOptionsSchema: JsonSchema = {
  type: 'object',
  properties: {
    root: {
      type: 'string',
      minLength: 1,
      default: AFFECTNET_DEFAULTS.root,
      description:
        'AffectNet root: the folder holding Manually_Annotated_file_lists/ and Manually_Annotated_Images/. ' +
        'A relative path resolves against the current working directory.',
    },
    classes: {
      default: AFFECTNET_DEFAULTS.classes,
      description: `A class preset (${CLASS_PRESET_NAMES.join(', ')}) or a list of expression codes (0-10) or names; model indices follow the list order.`,
      oneOf: [
        { enum: CLASS_PRESET_NAMES },
        {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: {
            oneOf: [
              { type: 'integer', minimum: 0, maximum: AFFECTNET_EXPRESSIONS.length - 1 },
              { type: 'string', minLength: 1 },
            ],
          },
        },
      ],
    },
    task: {
      enum: ['classification', 'valence-arousal', 'expression+valence-arousal'],
      default: AFFECTNET_DEFAULTS.task,
      description:
        'What the model predicts. Valence-arousal tasks drop records whose valence/arousal is -2 or outside [-1, 1].',
    },
    imageSize: {
      default: AFFECTNET_DEFAULTS.imageSize,
      description: 'Model input size: one integer (square) or [height, width], in pixels.',
      oneOf: [positiveInteger, { type: 'array', items: positiveInteger, minItems: 2, maxItems: 2 }],
    },
    channels: {
      enum: [1, 3],
      default: AFFECTNET_DEFAULTS.channels,
      description: '3 = RGB, 1 = greyscale.',
    },
    crop: {
      enum: ['face-box', 'full'],
      default: AFFECTNET_DEFAULTS.crop,
      description: 'face-box: crop to the annotated face box (plus margin); full: the whole image.',
    },
    margin: {
      type: 'number',
      minimum: 0,
      maximum: 2,
      default: AFFECTNET_DEFAULTS.margin,
      description:
        'Added to each side of the face box, as a fraction of its width/height; clamped to the image.',
    },
    split: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description:
        'report-table3: a balanced validation set of validationPerClass images per class drawn from training.csv with the seed, ' +
        'the rest of training.csv for training, validation.csv as the test set (the report, Table 3). ' +
        'official: a stratified, seeded hold-out of validationFraction of each class of training.csv for validation, the rest for ' +
        'training, validation.csv as the test set. Either way the test set is never the validation set, so checkpoint ' +
        'selection and early stopping never see it.',
      properties: {
        policy: { enum: ['report-table3', 'official'], default: AFFECTNET_DEFAULTS.split.policy },
        validationPerClass: {
          ...positiveInteger,
          default: AFFECTNET_DEFAULTS.split.validationPerClass,
          description: 'report-table3: validation images drawn from training.csv per class.',
        },
        validationFraction: {
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 0.5,
          default: AFFECTNET_DEFAULTS.split.validationFraction,
          description:
            'official: the fraction of each class of training.csv held out for validation (rounded per class; seeded).',
        },
        maxTrainPerClass: {
          ...positiveInteger,
          description: 'Cap the training images of each class (a seeded subset).',
        },
        limit: {
          type: 'object',
          additionalProperties: false,
          description: 'Smoke runs: keep a seeded subset of at most this many examples per split.',
          properties: {
            train: positiveInteger,
            validation: positiveInteger,
            test: positiveInteger,
          },
        },
      },
    },
    synthetic: {
      type: 'object',
      additionalProperties: false,
      description:
        'When root holds no training.csv, generate a synthetic AffectNet-format set there first (once; later runs reuse it). ' +
        'For the quickstart and for trying experiments without the licensed images.',
      properties: {
        count: { ...positiveInteger, default: 4000, description: 'Rows of training.csv.' },
        size: {
          ...positiveInteger,
          default: 96,
          description: 'Side of the generated images in pixels.',
        },
        seed: { type: 'integer', default: 42 },
      },
    },
    onBadRecord: {
      enum: ['skip', 'fail'],
      default: AFFECTNET_DEFAULTS.onBadRecord,
      description:
        'skip: count bad rows/images, report them with file:line and go on (up to maxBadFraction); fail: stop at the first one.',
    },
    maxBadFraction: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      default: AFFECTNET_DEFAULTS.maxBadFraction,
      description:
        'Under onBadRecord: skip, the largest fraction of bad records a run accepts; more fails it with the counts ' +
        'and the first bad records. Checked at prepare for each file list (rows that do not parse, paths outside the ' +
        'image root, missing files, over the rows of the chosen classes), and while images are decoded for each ' +
        'split (corrupt images, boxes off the image): as soon as 100 distinct images of the split have been read ' +
        'and the bad fraction is over the bound beyond sampling noise (3 standard errors), else once the whole split ' +
        'has been read. 0 fails at the first bad record, 1 never fails.',
    },
    augment: {
      type: 'object',
      additionalProperties: false,
      default: {},
      description: 'Training-only augmentation, seeded per epoch.',
      properties: {
        flip: {
          type: 'boolean',
          default: AFFECTNET_DEFAULTS.augment.flip,
          description: 'Horizontal flip with p = 0.5.',
        },
        shift: {
          type: 'number',
          minimum: 0,
          maximum: 0.5,
          default: AFFECTNET_DEFAULTS.augment.shift,
          description: 'Max shift, fraction of the side.',
        },
        rotate: {
          type: 'number',
          minimum: 0,
          maximum: 180,
          default: AFFECTNET_DEFAULTS.augment.rotate,
          description: 'Max rotation in degrees.',
        },
        brightness: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: AFFECTNET_DEFAULTS.augment.brightness,
          description: 'Max brightness change in [0,1] units.',
        },
        contrast: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: AFFECTNET_DEFAULTS.augment.contrast,
          description: 'Max relative contrast change.',
        },
      },
    },
  },
};

/** Options with every default applied, for plugins built without schema validation. */
export function withDefaults(raw: Partial<AffectNetOptions>): AffectNetOptions {
  return {
    ...AFFECTNET_DEFAULTS,
    ...raw,
    classes: raw.classes ?? AFFECTNET_DEFAULTS.classes,
    imageSize: raw.imageSize ?? AFFECTNET_DEFAULTS.imageSize,
    split: { ...AFFECTNET_DEFAULTS.split, ...raw.split },
    augment: { ...AFFECTNET_DEFAULTS.augment, ...raw.augment },
  };
}
