/**
 * The project's one CSV reader: file lists (the dataset plugins' `parseRow`) and prediction
 * files (`affectlab metrics`, tests reading `predict` output) split lines the same way. A
 * record is one line: LF, CRLF or a lone CR ends it; a UTF-8 byte-order mark is dropped; fields
 * follow RFC 4180 quoting within the line (a quoted field cannot span lines, which no file
 * list or predictions file needs, and which would make a stray quote swallow the rest of a file).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { UserError } from '../../sdk/errors.js';
import { openRegularFile } from '../config/read-file.js';

export interface CsvLine {
  /** 1-based physical line number, the header being line 1. */
  line: number;
  text: string;
}

/**
 * The lines of a text file, streamed (a 290k-row file list never sits in memory whole). Only a
 * regular file is read: a FIFO or a device named as a list is an error before a byte is read.
 */
export async function* readLines(path: string, what = 'list file'): AsyncGenerator<CsvLine> {
  const { fd } = openRegularFile(path, what);
  const lines = createInterface({
    input: createReadStream('', { fd, encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  let line = 0;
  for await (const raw of lines) {
    line++;
    // a UTF-8 byte-order mark would otherwise stick to the first column name
    yield { line, text: line === 1 ? raw.replace(/^\uFEFF/, '') : raw };
  }
}

/**
 * Split one CSV line into fields (RFC 4180 quoting within the line: `"a,b"` and `""` for a
 * quote). Returns undefined when a quote is left open. Unquoted lines take the fast path.
 */
export function splitCsvLine(text: string): string[] | undefined {
  if (!text.includes('"')) return text.split(',');
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
    } else {
      field += ch;
    }
    i++;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields;
}

export interface CsvRecord {
  /** 1-based line number of the record. */
  line: number;
  cells: string[];
}

/**
 * A whole CSV text as a header and records, every line split by `splitCsvLine`. Blank lines are
 * skipped; an open quote or a record whose field count differs from the header's is a UserError
 * naming `file:line`. Header names are trimmed; cells are kept as written.
 */
export function parseCsvText(
  text: string,
  file: string,
): { header: string[]; records: CsvRecord[] } {
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split(/\r\n|\n|\r/);
  let header: string[] | undefined;
  const records: CsvRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (raw.trim() === '') continue;
    const line = i + 1;
    const cells = splitCsvLine(raw);
    if (cells === undefined)
      throw new UserError(
        `${file}:${line}: a quoted field is not closed (a field cannot span lines)`,
      );
    // `""` alone is an empty record, as a blank line is
    if (cells.length === 1 && cells[0].trim() === '') continue;
    if (header === undefined) {
      header = cells.map((h) => h.trim());
      continue;
    }
    if (cells.length !== header.length)
      throw new UserError(
        `${file}:${line}: ${cells.length} fields, but the header has ${header.length}`,
      );
    records.push({ line, cells });
  }
  if (header === undefined)
    throw new UserError(`${file}: the file is empty; expected a header line`);
  return { header, records };
}
