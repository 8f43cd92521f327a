/**
 * A file list read as bytes: AffectNet's training.csv is 414,799 lines of ~900 bytes, most of
 * them the landmarks, which training never uses. Decoding every line to a string and splitting
 * it (readline + split) cost seconds and hundreds of MB of short-lived strings; here the file is
 * read in chunks, commas are found with Buffer.indexOf (memchr), the numbers are parsed from the
 * bytes and only the image path becomes a string. A line the fast path is not sure about
 * (quotes, spaces, an exponent, a box or code it would have to judge) is handed over as text,
 * to be parsed by `parseRow` exactly as before: the fast path only ever accepts rows that
 * `parseRow` accepts, with the same values.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { UserError } from '../../../sdk/index.js';
import { AFFECTNET_CSV_COLUMNS, AFFECTNET_MAX_CODE } from './constants.js';
import { isValenceArousalValue } from './records.js';

/** The fields of a row the fast path accepted. One object, reused for every row: copy what you keep. */
export interface FastRow {
  path: string;
  x: number;
  y: number;
  width: number;
  height: number;
  code: number;
  valence: number;
  arousal: number;
  /** The facial_landmarks field as text; only read when the visitor asks (`landmarks`), else ''. */
  landmarks: string;
}

export interface FileListVisitor {
  /** Whether rows carry their landmarks field (crop: aligned); the text costs time to make. */
  landmarks?: boolean;
  /** Line 1, as text (BOM removed). */
  header(text: string): void;
  /** A data line that is a valid row (every check of parseRow passes). */
  row(line: number, row: FastRow): void;
  /** Any other data line, as text, for parseRow (blank lines included). */
  text(line: number, text: string): void;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const CHUNK = 4 << 20;
const FIELDS = AFFECTNET_CSV_COLUMNS.length;
/** Index of facial_landmarks, the one long field. */
const LANDMARKS_FIELD = AFFECTNET_CSV_COLUMNS.indexOf('facial_landmarks');

/** A simple decimal `-?digits[.digits]` as parseRow's Number() would read it, or NaN. */
function decimal(buf: Buffer, start: number, end: number): number {
  let i = start;
  let negative = false;
  if (i < end && buf[i] === 0x2d) {
    negative = true;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = -1;
  for (; i < end; i++) {
    const b = buf[i];
    if (b >= 0x30 && b <= 0x39) {
      mantissa = mantissa * 10 + (b - 0x30);
      digits++;
      if (fraction >= 0) fraction++;
    } else if (b === 0x2e && fraction < 0 && digits > 0) {
      fraction = 0;
    } else {
      return NaN;
    }
  }
  // Exact: an integer below 2^53 divided by an exactly representable power of ten is the
  // correctly rounded value of the decimal, which is what Number() returns.
  if (digits === 0 || digits > 15 || fraction === 0) return NaN;
  const value = fraction > 0 ? mantissa / POWERS_OF_TEN[fraction] : mantissa;
  return negative ? -value : value;
}

const POWERS_OF_TEN = Array.from({ length: 16 }, (_, k) => 10 ** k);

/**
 * Sure to pass isContainedPath: relative (no leading separator, no drive letter), no `..`,
 * no NUL. Not sure (undefined) means: let parseRow judge it.
 */
function plainPath(buf: Buffer, start: number, end: number): boolean {
  if (end <= start) return false;
  const first = buf[start];
  if (first === 0x2f || first === 0x5c || first <= 0x20 || first >= 0x80) return false;
  if (end - start >= 2 && buf[start + 1] === 0x3a) return false;
  const last = buf[end - 1];
  if (last <= 0x20 || last >= 0x80) return false;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (b === 0) return false;
    if (b === 0x2e && i + 1 < end && buf[i + 1] === 0x2e) return false;
  }
  return true;
}

/**
 * Splits the bytes of a file list into lines and hands each to the visitor: line 1 as the
 * header, a row the fast path is sure of as a `FastRow`, any other line as text.
 */
class ListScanner {
  /** The read buffer; `readFileList` fills it and may replace it with a bigger one. */
  buf: Buffer = Buffer.allocUnsafe(CHUNK);
  private line = 0;
  private readonly commas = new Int32Array(FIELDS);
  private readonly row: FastRow = {
    path: '',
    x: 0,
    y: 0,
    width: 0,
    height: 0,
    code: 0,
    valence: 0,
    arousal: 0,
    landmarks: '',
  };
  // where the next '"' is (searched once per quote, not once per line: most lists have none);
  // stale bytes past the chunk's end may hold one, which only sends a line to parseRow
  private nextQuote = -1;

  constructor(private readonly visitor: FileListVisitor) {}

  /**
   * Split [0, limit) into lines as readline does (\n, \r\n and a lone \r end a line); returns
   * where the unfinished last line starts (limit when `final`).
   */
  lines(limit: number, final: boolean): number {
    const { buf } = this;
    let start = 0;
    this.nextQuote = -1;
    const hasCr = buf.subarray(0, limit).indexOf(CR) >= 0;
    for (;;) {
      let end = buf.indexOf(NEWLINE, start);
      if (end >= limit) end = -1;
      if (hasCr) {
        const cr = buf.indexOf(CR, start);
        if (cr >= 0 && cr < limit && (end < 0 || cr < end)) {
          // a \r as the chunk's last byte may be the first half of \r\n
          if (cr === limit - 1 && !final) return start;
          this.visit(start, cr);
          start = cr + 1 < limit && buf[cr + 1] === NEWLINE ? cr + 2 : cr + 1;
          continue;
        }
      }
      if (end < 0) break;
      this.visit(start, end);
      start = end + 1;
    }
    if (final && start < limit) {
      this.visit(start, limit);
      start = limit;
    }
    return start;
  }

  /** One line's bytes [start, end), line ending removed. */
  private visit(start: number, end: number): void {
    const { buf, visitor } = this;
    this.line++;
    if (this.line === 1) {
      let s = start;
      if (end - s >= 3 && buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
      visitor.header(buf.toString('utf8', s, end));
      return;
    }
    if (!this.fastRow(start, end)) visitor.text(this.line, buf.toString('utf8', start, end));
    else visitor.row(this.line, this.row);
  }

  /**
   * Field boundaries of [start, end): commas[k] = index of the comma ending field k
   * (k < FIELDS - 1); false when the line has too few or too many fields or a quote.
   */
  private splitFields(start: number, end: number): boolean {
    const { buf, commas } = this;
    // The short fields are scanned here; only the long landmarks field goes to indexOf
    // (memchr), whose per-call cost would dominate on 8-byte fields.
    let k = 0;
    let i = start;
    for (; i < end && k < LANDMARKS_FIELD; i++) if (buf[i] === COMMA) commas[k++] = i;
    if (k < LANDMARKS_FIELD) return false;
    const afterLandmarks = buf.indexOf(COMMA, i);
    if (afterLandmarks < 0 || afterLandmarks >= end) return false;
    commas[k++] = afterLandmarks;
    for (i = afterLandmarks + 1; i < end; i++) {
      if (buf[i] === COMMA) {
        if (k === FIELDS - 1) return false; // too many fields
        commas[k++] = i;
      }
    }
    if (k < FIELDS - 1) return false;
    if (this.nextQuote < start) {
      const found = buf.indexOf(QUOTE, start);
      this.nextQuote = found < 0 ? Infinity : found;
    }
    return this.nextQuote >= end;
  }

  /** Parse [start, end) into `row` when every check of parseRow surely passes. */
  private fastRow(start: number, end: number): boolean {
    if (end <= start || !this.splitFields(start, end)) return false;
    const { buf, commas, row } = this;
    if (!plainPath(buf, start, commas[0])) return false;
    const x = decimal(buf, commas[0] + 1, commas[1]);
    const y = decimal(buf, commas[1] + 1, commas[2]);
    const width = decimal(buf, commas[2] + 1, commas[3]);
    const height = decimal(buf, commas[3] + 1, commas[4]);
    const code = decimal(buf, commas[5] + 1, commas[6]);
    const valence = decimal(buf, commas[6] + 1, commas[7]);
    const arousal = decimal(buf, commas[7] + 1, end);
    // NaN fails every comparison: anything not parsed goes to parseRow
    if (!(x >= 0 && y >= 0 && width > 0 && height > 0)) return false;
    if (!(code >= 0 && code <= AFFECTNET_MAX_CODE && Number.isInteger(code))) return false;
    // NaN and values out of range (bad records) are parseRow's to judge
    if (!(isValenceArousalValue(valence) && isValenceArousalValue(arousal))) return false;
    row.path = buf.toString('utf8', start, commas[0]);
    row.x = x;
    row.y = y;
    row.width = width;
    row.height = height;
    row.code = code;
    row.valence = valence;
    row.arousal = arousal;
    if (this.visitor.landmarks) row.landmarks = buf.toString('latin1', commas[4] + 1, commas[5]);
    return true;
  }
}

/** Read a file list, calling the visitor for line 1 and every data line, in order. */
export async function readFileList(
  csvPath: string,
  visitor: FileListVisitor,
  onBytes?: (bytes: number) => void,
): Promise<void> {
  // non-blocking: a FIFO named as a list cannot hang the open; only a regular file is read
  const handle = await open(csvPath, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      throw new UserError(`${csvPath}: cannot read the file list: it is not a regular file`);
    const scanner = new ListScanner(visitor);
    let filled = 0;
    let eof = false;
    while (!eof) {
      let { buf } = scanner;
      if (filled === buf.length) {
        // one line longer than the buffer: grow it
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = scanner.buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, null);
      if (bytesRead === 0) eof = true;
      filled += bytesRead;
      onBytes?.(bytesRead);
      const consumed = scanner.lines(filled, eof);
      buf.copy(buf, 0, consumed, filled);
      filled -= consumed;
    }
  } finally {
    await handle.close();
  }
}
