import { isAbsolute, posix, win32 } from 'node:path';
import {
  AFFECTNET_CSV_COLUMNS,
  AFFECTNET_MAX_CODE,
  AFFECTNET_MIN_CODE,
  AFFECTNET_MISSING_VALENCE_AROUSAL,
} from './constants.js';
import { type FaceBox, splitCsvLine } from '../../../sdk/index.js';

/** One valid row of an AffectNet file list. */
export interface AffectNetRecord {
  /** `subDirectory_filePath`, as written. */
  path: string;
  box: FaceBox;
  /** Landmarks as written (`x;y;x;y...`); unused by training, kept for tools. */
  landmarks: string;
  code: number;
  valence: number;
  arousal: number;
  /** 1-based CSV line number, header = 1. */
  line: number;
}

/** Categories of bad rows, the keys of BadRecordSummary.byReason. */
export const BAD_ROW = {
  missingField: 'missing field',
  extraField: 'too many fields',
  badQuoting: 'unbalanced quotes',
  notNumeric: 'non-numeric value',
  codeOutOfRange: 'expression code out of range',
  valenceArousalOutOfRange: 'valence/arousal out of range',
  invalidBox: 'invalid face box',
  pathEscapes: 'path escapes the image root',
  missingImage: 'missing image file',
} as const;

export type ParsedRow =
  { ok: true; record: AffectNetRecord } | { ok: false; reason: string; detail: string };

/** A message when the header is not AffectNet's; undefined when it is. */
export function checkHeader(text: string): string | undefined {
  const fields = splitCsvLine(text)?.map((f) => f.trim());
  const expected = AFFECTNET_CSV_COLUMNS.join(',');
  if (!fields || fields.join(',') !== expected) {
    return `unexpected header '${text.slice(0, 200)}'; an AffectNet file list starts with '${expected}'`;
  }
  return undefined;
}

/**
 * Whether an image path from a file list stays inside the image root: relative, no `..`
 * segment, no drive letter or UNC prefix, no NUL. Both separators count, since the lists are
 * shared between systems.
 */
export function isContainedPath(path: string): boolean {
  if (path.includes('\0')) return false;
  if (
    isAbsolute(path) ||
    posix.isAbsolute(path) ||
    win32.isAbsolute(path) ||
    /^[A-Za-z]:/.test(path)
  )
    return false;
  return !path.split(/[\\/]+/).some((segment) => segment === '..');
}

/** A valence or arousal AffectNet can hold: in [-1, 1], or -2 for "none". */
export function isValenceArousalValue(value: number): boolean {
  return (value >= -1 && value <= 1) || value === AFFECTNET_MISSING_VALENCE_AROUSAL;
}

function number(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const value = Number(trimmed);
  return Number.isFinite(value) ? value : undefined;
}

/** Parse one data line of a file list. Never throws: a bad row is a result with its reason. */
export function parseRow(text: string, line: number): ParsedRow {
  const fields = splitCsvLine(text);
  if (!fields)
    return { ok: false, reason: BAD_ROW.badQuoting, detail: 'a quoted field is not closed' };
  if (fields.length < AFFECTNET_CSV_COLUMNS.length) {
    return {
      ok: false,
      reason: BAD_ROW.missingField,
      detail: `${fields.length} of ${AFFECTNET_CSV_COLUMNS.length} fields (missing ${AFFECTNET_CSV_COLUMNS.slice(fields.length).join(', ')})`,
    };
  }
  if (fields.length > AFFECTNET_CSV_COLUMNS.length) {
    return {
      ok: false,
      reason: BAD_ROW.extraField,
      detail: `${fields.length} fields, expected ${AFFECTNET_CSV_COLUMNS.length}`,
    };
  }
  const [path, x, y, width, height, landmarks, expression, valence, arousal] = fields.map((f) =>
    f.trim(),
  );
  // every column but the (unused) landmarks must have a value
  const required: [string, string][] = [
    ['subDirectory_filePath', path],
    ['face_x', x],
    ['face_y', y],
    ['face_width', width],
    ['face_height', height],
    ['expression', expression],
    ['valence', valence],
    ['arousal', arousal],
  ];
  const empty = required.filter(([, v]) => v === '').map(([name]) => name);
  if (empty.length > 0)
    return { ok: false, reason: BAD_ROW.missingField, detail: `empty ${empty.join(', ')}` };
  if (!isContainedPath(path))
    return { ok: false, reason: BAD_ROW.pathEscapes, detail: `'${path}'` };
  const raw = {
    face_x: x,
    face_y: y,
    face_width: width,
    face_height: height,
    expression,
    valence,
    arousal,
  };
  const numeric = Object.fromEntries(
    Object.entries(raw).map(([name, text]) => [name, number(text)]),
  ) as Record<keyof typeof raw, number | undefined>;
  const notNumeric = (Object.keys(raw) as (keyof typeof raw)[]).filter(
    (name) => numeric[name] === undefined,
  );
  if (notNumeric.length > 0) {
    return {
      ok: false,
      reason: BAD_ROW.notNumeric,
      detail: notNumeric.map((name) => `${name}='${raw[name]}'`).join(', '),
    };
  }
  const code = numeric.expression as number;
  if (!Number.isInteger(code) || code < AFFECTNET_MIN_CODE || code > AFFECTNET_MAX_CODE) {
    return {
      ok: false,
      reason: BAD_ROW.codeOutOfRange,
      detail: `expression=${expression} (valid: ${AFFECTNET_MIN_CODE}..${AFFECTNET_MAX_CODE})`,
    };
  }
  const outOfRange = (['valence', 'arousal'] as const).filter(
    (name) => !isValenceArousalValue(numeric[name] as number),
  );
  if (outOfRange.length > 0) {
    return {
      ok: false,
      reason: BAD_ROW.valenceArousalOutOfRange,
      detail: `${outOfRange.map((name) => `${name}=${raw[name]}`).join(', ')} (valid: -1..1, or ${AFFECTNET_MISSING_VALENCE_AROUSAL} for none)`,
    };
  }
  const box: FaceBox = {
    x: numeric.face_x as number,
    y: numeric.face_y as number,
    width: numeric.face_width as number,
    height: numeric.face_height as number,
  };
  // A box partly left of or above the image is clamped when the image is cropped (its size is
  // only known then); one that is empty, or ends before the image starts, can never be used.
  if (box.width <= 0 || box.height <= 0) {
    return {
      ok: false,
      reason: BAD_ROW.invalidBox,
      detail: `x=${x} y=${y} w=${width} h=${height}: empty box`,
    };
  }
  if (box.x + box.width <= 0 || box.y + box.height <= 0) {
    return {
      ok: false,
      reason: BAD_ROW.invalidBox,
      detail: `x=${x} y=${y} w=${width} h=${height}: entirely outside the image`,
    };
  }
  return {
    ok: true,
    record: {
      path,
      box,
      landmarks,
      code,
      valence: numeric.valence as number,
      arousal: numeric.arousal as number,
      line,
    },
  };
}
