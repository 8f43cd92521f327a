import { AFFECTNET_EXPRESSIONS, CLASS_PRESET_NAMES, DEFAULT_CLASS_PRESET } from './constants.js';
import {
  Enum,
  FixedArray,
  OneOf,
  Options,
  Type,
  type Static,
  ERASING_DEFAULTS,
  CUTMIX_DEFAULTS,
  MIXUP_DEFAULTS,
} from '../../../sdk/index.js';

const TASKS = ['classification', 'valence-arousal', 'expression+valence-arousal'] as const;
const SPLIT_POLICIES = ['report-table3', 'official'] as const;

/** Image counts: AffectNet has 420,299 rows; a bound 100x that keeps a typo from sizing arrays. */
const MAX_COUNT = 50_000_000;

const positiveInteger = (
  options: { description?: string; default?: number; maximum?: number } = {},
) => Type.Integer({ minimum: 1, maximum: MAX_COUNT, ...options });

/** The largest model input side: 4096 took 54 s and 4.4 GB for `summary` alone. */
const MAX_IMAGE_SIZE = 1024;

const splitOptions = Options(
  {
    policy: Enum(SPLIT_POLICIES, { default: 'report-table3' }),
    validationPerClass: positiveInteger({
      default: 500,
      description: 'report-table3: validation images drawn from training.csv per class.',
    }),
    validationFraction: Type.Number({
      exclusiveMinimum: 0,
      maximum: 0.5,
      default: 0.05,
      description:
        'official: the fraction of each class of training.csv held out for validation (rounded per class; seeded).',
    }),
    maxTrainPerClass: Type.Optional(
      positiveInteger({ description: 'Cap the training images of each class (a seeded subset).' }),
    ),
    limit: Type.Optional(
      Options(
        {
          train: Type.Optional(positiveInteger()),
          validation: Type.Optional(positiveInteger()),
          test: Type.Optional(positiveInteger()),
        },
        {
          description: 'Smoke runs: keep a seeded subset of at most this many examples per split.',
        },
      ),
    ),
  },
  {
    default: {},
    description:
      'report-table3: a balanced validation set of validationPerClass images per class drawn from training.csv with the seed, ' +
      'the rest of training.csv for training, validation.csv as the test set (the report, Table 3). ' +
      'official: a stratified, seeded hold-out of validationFraction of each class of training.csv for validation, the rest for ' +
      'training, validation.csv as the test set. Either way the test set is never the validation set, so checkpoint ' +
      'selection and early stopping never see it.',
  },
);

/**
 * The `affectnet` dataset's options: the schema ajv checks the YAML against, whose defaults
 * are the only place they are written, and (as `AffectNetOptions`) the type the plugin gets.
 */
/** Random erasing (Zhong et al. 2017) with torchvision RandomErasing's definition and defaults. */
const erasingOptions = Options(
  {
    probability: Type.Number({
      minimum: 0,
      maximum: 1,
      default: ERASING_DEFAULTS.probability,
      description: 'Probability that an image gets a rectangle erased.',
    }),
    areaMin: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: ERASING_DEFAULTS.areaMin,
      description: 'Smallest erased area, fraction of the image (torchvision scale[0]).',
    }),
    areaMax: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: ERASING_DEFAULTS.areaMax,
      description: 'Largest erased area, fraction of the image (torchvision scale[1]).',
    }),
    aspectMin: Type.Number({
      minimum: 0.01,
      maximum: 100,
      default: ERASING_DEFAULTS.aspectMin,
      description:
        'Smallest aspect ratio height/width, drawn log-uniformly (torchvision ratio[0]).',
    }),
    aspectMax: Type.Number({
      minimum: 0.01,
      maximum: 100,
      default: ERASING_DEFAULTS.aspectMax,
      description: 'Largest aspect ratio height/width (torchvision ratio[1]).',
    }),
    value: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Literal('random')], {
      default: ERASING_DEFAULTS.value,
      description:
        "Fill in [0,1] units, or random: values uniform in [0,1), each image's from its own window of the run's noise table.",
    }),
  },
  {
    description:
      'Random erasing, applied after the other augmentations: with probability, a rectangle of ' +
      'area and aspect drawn in the bounds (up to 10 tries, as torchvision) is filled.',
  },
);

/** Mixup or CutMix: lambda ~ Beta(alpha, alpha), with a probability per batch. */
const mixOptions = (defaults: { alpha: number; probability: number }, description: string) =>
  Options(
    {
      alpha: Type.Number({
        minimum: 0.05,
        maximum: 100,
        default: defaults.alpha,
        description: 'lambda ~ Beta(alpha, alpha): small alpha keeps lambda near 0 or 1.',
      }),
      probability: Type.Number({
        minimum: 0,
        maximum: 1,
        default: defaults.probability,
        description:
          'Probability that a training batch is mixed this way; with both mixup and cutmix, ' +
          'their sum is at most 1 (one method per batch).',
      }),
    },
    { description },
  );

const mixupOptions = mixOptions(
  MIXUP_DEFAULTS,
  'Mixup (Zhang et al. 2018) of whole training batches: each image becomes lambda x itself + ' +
    '(1 - lambda) x a partner from a seeded permutation of the batch, and the loss lambda x ' +
    'L(own targets) + (1 - lambda) x L(partner targets). Validation and test never mix.',
);

const cutmixOptions = mixOptions(
  CUTMIX_DEFAULTS,
  'CutMix (Yun et al. 2019): a box of area (1 - lambda) of a partner image (seeded permutation ' +
    'of the batch) is pasted into each image, lambda corrected to the area left, and the loss ' +
    'weighs the two targets by it. Validation and test never mix.',
);

export const affectnetOptionsSchema = Options({
  root: Type.String({
    minLength: 1,
    default: '${env:AFFECTNET_ROOT}',
    description:
      'AffectNet root: the folder holding Manually_Annotated_file_lists/ and Manually_Annotated_Images/. ' +
      'A relative path resolves against the current working directory.',
  }),
  classes: OneOf(
    [
      Enum(CLASS_PRESET_NAMES),
      Type.Array(
        OneOf([
          Type.Integer({ minimum: 0, maximum: AFFECTNET_EXPRESSIONS.length - 1 }),
          Type.String({ minLength: 1 }),
        ]),
        { minItems: 1, uniqueItems: true },
      ),
    ],
    {
      default: DEFAULT_CLASS_PRESET,
      description: `A class preset (${CLASS_PRESET_NAMES.join(', ')}) or a list of expression codes (0-10) or names; model indices follow the list order.`,
    },
  ),
  task: Enum(TASKS, {
    default: 'classification',
    description:
      'What the model predicts. Valence-arousal tasks leave out records whose valence/arousal is -2 (none); a value outside [-1, 1] other than -2 makes the row a bad record in every task.',
  }),
  imageSize: OneOf(
    [
      positiveInteger({ maximum: MAX_IMAGE_SIZE }),
      FixedArray<[number, number]>(positiveInteger({ maximum: MAX_IMAGE_SIZE }), 2),
    ],
    {
      default: 256,
      description: 'Model input size: one integer (square) or [height, width], in pixels.',
    },
  ),
  channels: Enum([1, 3], { default: 3, description: '3 = RGB, 1 = greyscale.' }),
  crop: Enum(['face-box', 'aligned', 'full'], {
    default: 'face-box',
    description:
      'face-box: crop to the annotated face box (plus margin); aligned: the box turned about its ' +
      'centre so the eye centres (from the 68 landmarks) are level, then cropped with the margin ' +
      '(rows without landmarks keep the upright box, counted); full: the whole image.',
  }),
  // 10% of the box on each side: AffectNet's boxes are tight, so chin and brows stay in
  margin: Type.Number({
    minimum: 0,
    maximum: 2,
    default: 0.1,
    description:
      'Added to each side of the face box, as a fraction of its width/height; clamped to the image.',
  }),
  split: splitOptions,
  // the quickstart's data: generated into `root` when it holds none
  synthetic: Type.Optional(
    Options(
      {
        count: positiveInteger({
          default: 4000,
          maximum: 1_000_000,
          description: 'Rows of training.csv.',
        }),
        size: positiveInteger({
          default: 96,
          maximum: MAX_IMAGE_SIZE,
          description: 'Side of the generated images in pixels.',
        }),
        seed: Type.Integer({ minimum: -2_147_483_648, maximum: 4_294_967_295, default: 42 }),
      },
      {
        description:
          'When root holds no training.csv, generate a synthetic AffectNet-format set there first (once; later runs reuse it). ' +
          'For the quickstart and for trying experiments without the licensed images.',
      },
    ),
  ),
  onBadRecord: Enum(['skip', 'fail'], {
    default: 'skip',
    description:
      'skip: count bad rows/images, report them with file:line and go on (up to maxBadFraction); fail: stop at the first one.',
  }),
  // a few unreadable images are normal in a 290k-image download; 1 in 20 is a broken copy
  maxBadFraction: Type.Number({
    minimum: 0,
    maximum: 1,
    default: 0.05,
    description:
      'Under onBadRecord: skip, the largest fraction of bad records a run accepts; more fails it with the counts ' +
      'and the first bad records. Checked at prepare for each file list (rows that do not parse, paths outside the ' +
      'image root, missing files, over the rows of the chosen classes), and while images are decoded for each ' +
      'split (corrupt images, boxes off the image): as soon as 100 distinct images of the split have been read ' +
      'and the bad fraction is over the bound beyond sampling noise (3 standard errors), else once the whole split ' +
      'has been read. 0 fails at the first bad record, 1 never fails.',
  }),
  // mild and label-preserving for expressions (a flip keeps the expression)
  augment: Options(
    {
      flip: Type.Boolean({ default: true, description: 'Horizontal flip with p = 0.5.' }),
      shift: Type.Number({
        minimum: 0,
        maximum: 0.5,
        default: 0.05,
        description: 'Max shift, fraction of the side.',
      }),
      rotate: Type.Number({
        minimum: 0,
        maximum: 180,
        default: 10,
        description: 'Max rotation in degrees.',
      }),
      brightness: Type.Number({
        minimum: 0,
        maximum: 1,
        default: 0.1,
        description: 'Max brightness change in [0,1] units.',
      }),
      contrast: Type.Number({
        minimum: 0,
        maximum: 1,
        default: 0.1,
        description: 'Max relative contrast change.',
      }),
      erasing: Type.Optional(erasingOptions),
      mixup: Type.Optional(mixupOptions),
      cutmix: Type.Optional(cutmixOptions),
    },
    {
      default: {},
      description:
        'Training-only augmentation, seeded per epoch and image, applied inside the training step.',
    },
  ),
});

/** The validated options of the `affectnet` dataset (schema defaults filled in). */
export type AffectNetOptions = Static<typeof affectnetOptionsSchema>;
export type SplitPolicy = (typeof SPLIT_POLICIES)[number];
export type SplitLimits = NonNullable<AffectNetOptions['split']['limit']>;
