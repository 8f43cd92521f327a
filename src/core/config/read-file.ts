import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { ConfigError, UserError } from '../../sdk/errors.js';

/** The largest experiment (or `extends:` base) file read: far above any real one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * An open descriptor of a regular file, with its stats: a FIFO, device, socket or directory is
 * refused before a byte is read (opened non-blocking, so a FIFO with no writer cannot hang the
 * open). The caller closes the descriptor.
 */
export function openRegularFile(file: string, what: string): { fd: number; stats: Stats } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read ${what} (${code ?? String(error)})`);
  }
  const stats = fstatSync(fd);
  if (!stats.isFile()) {
    closeSync(fd);
    throw new UserError(`${file}: cannot read ${what}: it is ${kindOf(stats)}, not a file`);
  }
  return { fd, stats };
}

/**
 * The bytes of a regular file of at most `maxBytes`. A FIFO, device, socket or directory is
 * refused before a byte is read (it is opened non-blocking, so a FIFO with no writer cannot
 * hang the open), and a file is never read past `maxBytes` (files such as those under /proc
 * report size 0, so the limit is enforced while reading too). `what` names the file's role in
 * errors ("experiment file", "list file").
 */
export function readRegularFile(file: string, what: string, maxBytes: number): Buffer {
  const { fd, stats } = openRegularFile(file, what);
  try {
    const tooLarge = () =>
      new UserError(
        `${file}: ${what} is larger than ${maxBytes} bytes (the limit for ${what}s); ` +
          'it is refused unread',
      );
    if (stats.size > maxBytes) throw tooLarge();
    // files such as those under /proc report size 0: read on, never past the limit plus one byte
    let buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(stats.size + 1, 64 * 1024)));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > maxBytes) throw tooLarge();
        const grown = Buffer.alloc(Math.min(maxBytes + 1, buffer.length * 2));
        buffer.copy(grown);
        buffer = grown;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > maxBytes) throw tooLarge();
    return buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read ${what} (${code ?? String(error)})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * The byte offset of the first invalid UTF-8 sequence in `bytes`, or -1 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid, as TextDecoder's fatal mode says).
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * `bytes` decoded as UTF-8, strictly: an invalid sequence is a ConfigError at its line and
 * column (`file:line:col: invalid UTF-8`), never a silent U+FFFD.
 */
export function decodeUtf8Strict(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = Math.max(0, firstInvalidUtf8(bytes));
    let lineStart = 0;
    let line = 1;
    for (let i = 0; i < offset; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    // the column counts characters, as the YAML positions do (the bytes before it are valid)
    const col = new TextDecoder('utf-8').decode(bytes.subarray(lineStart, offset)).length + 1;
    const byte = bytes[offset]?.toString(16).toUpperCase().padStart(2, '0') ?? '';
    throw new ConfigError([
      {
        file,
        line,
        col,
        path: '$',
        message: `invalid UTF-8 (byte 0x${byte}): save the file as UTF-8`,
      },
    ]);
  }
}

/** A regular text file of at most `maxBytes`, decoded as strict UTF-8 (see above). */
export function readTextFile(file: string, what: string, maxBytes: number): string {
  return decodeUtf8Strict(readRegularFile(file, what, maxBytes), file);
}
