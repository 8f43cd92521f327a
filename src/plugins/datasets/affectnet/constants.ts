/**
 * AffectNet constants: the one source of truth for expression codes, names, the category
 * counts of the manually annotated set (the report's Table 1) and the class presets (which the
 * plugin definition hands to core as `classPresets`, for `affectlab metrics --classes`).
 */
import { UserError, didYouMean, type ClassInfo, type ClassPresets } from '../../../sdk/index.js';

/** Expression names indexed by AffectNet code (0..10). */
export const AFFECTNET_EXPRESSIONS = [
  'Neutral',
  'Happy',
  'Sad',
  'Surprise',
  'Fear',
  'Disgust',
  'Anger',
  'Contempt',
  'None',
  'Uncertain',
  'Non-Face',
] as const;

export type AffectNetExpression = (typeof AFFECTNET_EXPRESSIONS)[number];

export const AFFECTNET_MIN_CODE = 0;
export const AFFECTNET_MAX_CODE = AFFECTNET_EXPRESSIONS.length - 1;

/** Codes whose valence/arousal AffectNet records as -2 (no value). */
export const AFFECTNET_CODES_WITHOUT_VALENCE_AROUSAL: readonly number[] = [8, 9, 10];

/** The value AffectNet writes for a missing valence or arousal. */
export const AFFECTNET_MISSING_VALENCE_AROUSAL = -2;

/**
 * Number of manually annotated images per code (report Table 1, from the AffectNet paper).
 * Index = code.
 */
export const AFFECTNET_TABLE1_COUNTS: readonly number[] = [
  80_276, 146_198, 29_487, 16_288, 8_191, 5_264, 28_130, 5_135, 35_322, 13_163, 88_895,
];

/** The column header of AffectNet's `training.csv` / `validation.csv`. */
export const AFFECTNET_CSV_COLUMNS = [
  'subDirectory_filePath',
  'face_x',
  'face_y',
  'face_width',
  'face_height',
  'facial_landmarks',
  'expression',
  'valence',
  'arousal',
] as const;

/** Directory layout of the distribution, relative to the AffectNet root. */
export const AFFECTNET_FILE_LISTS_DIR = 'Manually_Annotated_file_lists';
export const AFFECTNET_IMAGES_DIR = 'Manually_Annotated_Images';
export const AFFECTNET_TRAINING_CSV = 'training.csv';
export const AFFECTNET_VALIDATION_CSV = 'validation.csv';

/** Named class presets: AffectNet codes in model-index order. */
export const CLASS_PRESETS = {
  /** All eleven categories. */
  affectnet11: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  /** The eight emotions (0-7), AffectNet's usual expression benchmark. */
  affectnet8: [0, 1, 2, 3, 4, 5, 6, 7],
  /** Neutral plus the six basic emotions (0-6). */
  basic7: [0, 1, 2, 3, 4, 5, 6],
  /** The report's Table 2 subset: Neutral, Happy, Sad, Surprise, Fear, Anger. */
  report6: [0, 1, 2, 3, 4, 6],
  /** The report's transfer model: report6 without Fear. */
  report5: [0, 1, 2, 3, 6],
} as const satisfies Record<string, readonly number[]>;

export type ClassPresetName = keyof typeof CLASS_PRESETS;
export const CLASS_PRESET_NAMES = Object.keys(CLASS_PRESETS) as ClassPresetName[];
export const DEFAULT_CLASS_PRESET: ClassPresetName = 'report6';

export function isClassPresetName(value: string): value is ClassPresetName {
  return Object.prototype.hasOwnProperty.call(CLASS_PRESETS, value);
}

/** Name of an AffectNet code; throws UserError for codes outside 0..10. */
export function expressionName(code: number): AffectNetExpression {
  const name = AFFECTNET_EXPRESSIONS[code];
  if (!Number.isInteger(code) || name === undefined) {
    throw new UserError(
      `AffectNet expression code ${code} is out of range (${AFFECTNET_MIN_CODE}..${AFFECTNET_MAX_CODE})`,
    );
  }
  return name;
}

/** AffectNet code for an expression name (case-insensitive, '-'/'_'/' ' ignored), or undefined. */
export function expressionCode(name: string): number | undefined {
  const key = normalizeName(name);
  const index = AFFECTNET_EXPRESSIONS.findIndex((n) => normalizeName(n) === key);
  return index >= 0 ? index : undefined;
}

function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[\s_-]/g, '');
}

/**
 * The classes of a preset name or an explicit list of codes/names, with contiguous model
 * indices in the given order. Duplicates and unknown names/codes are user errors.
 */
export function resolveClassPreset(
  presetOrList: string | readonly (string | number)[],
): ClassInfo[] {
  let codes: number[];
  if (typeof presetOrList === 'string') {
    if (!isClassPresetName(presetOrList)) {
      const hint = didYouMean(presetOrList, CLASS_PRESET_NAMES);
      throw new UserError(
        `unknown class preset '${presetOrList}'` +
          (hint ? `; did you mean '${hint}'?` : '') +
          ` Presets: ${CLASS_PRESET_NAMES.join(', ')}, or a list of expression codes/names`,
      );
    }
    codes = [...CLASS_PRESETS[presetOrList]];
  } else {
    if (presetOrList.length === 0) throw new UserError('the class list is empty');
    codes = presetOrList.map((entry) => {
      if (typeof entry === 'number') {
        expressionName(entry);
        return entry;
      }
      const trimmed = entry.trim();
      if (/^\d+$/.test(trimmed)) {
        const code = Number(trimmed);
        expressionName(code);
        return code;
      }
      const code = expressionCode(trimmed);
      if (code === undefined) {
        const hint = didYouMean(trimmed, AFFECTNET_EXPRESSIONS);
        throw new UserError(
          `unknown AffectNet expression '${entry}'` +
            (hint ? `; did you mean '${hint}'?` : '') +
            ` Expressions: ${AFFECTNET_EXPRESSIONS.join(', ')}`,
        );
      }
      return code;
    });
  }
  const seen = new Set<number>();
  for (const code of codes) {
    if (seen.has(code))
      throw new UserError(`expression ${expressionName(code)} (${code}) is listed twice`);
    seen.add(code);
  }
  return codes.map((code, index) => ({ index, code, name: expressionName(code) }));
}

/** The preset name whose codes equal these classes in order, if any (for run descriptions). */
export function presetNameOf(classes: readonly ClassInfo[]): ClassPresetName | undefined {
  return CLASS_PRESET_NAMES.find((name) => {
    const codes: readonly number[] = CLASS_PRESETS[name];
    return codes.length === classes.length && codes.every((c, i) => classes[i].code === c);
  });
}

/** AffectNet's codes and presets as the registry hands them to `affectlab metrics --classes`. */
export const affectnetClassPresets: ClassPresets = {
  codeName: 'AffectNet expression code',
  names: AFFECTNET_EXPRESSIONS,
  presets: CLASS_PRESETS,
  defaultPreset: DEFAULT_CLASS_PRESET,
  resolve: resolveClassPreset,
};
