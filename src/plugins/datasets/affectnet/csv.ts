import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface CsvLine {
  /** 1-based physical line number, the header being line 1. */
  line: number;
  text: string;
}

/** The lines of a text file, streamed (a 290k-row file list never sits in memory whole). */
export async function* readLines(path: string): AsyncGenerator<CsvLine> {
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
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
