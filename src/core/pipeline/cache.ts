import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readvSync, unlinkSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaceBox, ImageSpec } from '../../sdk/contracts/data.js';
import { jpegDecodeRule } from './jpeg.js';

/** Bump when the preprocessing or the entry layout changes, so stale entries are never read. */
const CACHE_FORMAT = 3;

/** Entry header: magic, height, width, channels, payload length (little endian). */
export const CACHE_HEADER_BYTES = 16;
const MAGIC = 0x32434c41; // 'ALC2'
const EXTENSION = '.alc';

export interface CacheKeyParts {
  imagePath: string;
  mtimeMs: number;
  size: number;
  crop: FaceBox | undefined;
  margin: number;
  image: ImageSpec;
  /** EXIF orientation applied (whole images in predict); absent = false. */
  autoOrient?: boolean;
  /** Decoded without JPEG shrink-on-load; absent = false (shrink-on-load, the default). */
  exactResize?: boolean;
}

/** Bytes one entry of this image size takes on disk (header + uint8 HWC pixels). */
export function cacheEntryBytes(image: ImageSpec): number {
  return CACHE_HEADER_BYTES + image.height * image.width * image.channels;
}

/**
 * The cache's size bound, shared by every thread that writes to one cache directory (the
 * counter lives in a SharedArrayBuffer that worker threads receive with their jobs).
 *
 * Refuse-to-grow, not LRU: a training epoch visits every image once in a shuffled order, so
 * with a cache smaller than the set an LRU evicts an entry on every miss, still hits about
 * capacity/size of the time, and pays a write and an unlink per miss on every epoch; keeping
 * the first entries that fit hits just as often and writes nothing once full.
 */
export class CacheBudget {
  private readonly counter: BigInt64Array;

  constructor(
    readonly maxBytes: number,
    readonly shared: SharedArrayBuffer = new SharedArrayBuffer(8),
  ) {
    this.counter = new BigInt64Array(shared);
  }

  get usedBytes(): number {
    return Number(Atomics.load(this.counter, 0));
  }

  /** Add bytes already on disk (the scan at start). */
  add(bytes: number): void {
    Atomics.add(this.counter, 0, BigInt(bytes));
  }

  /** Claim room for one entry; false when it would pass the bound. */
  tryReserve(bytes: number): boolean {
    const wanted = BigInt(bytes);
    const max = BigInt(Math.floor(this.maxBytes));
    for (;;) {
      const used = Atomics.load(this.counter, 0);
      if (used + wanted > max) return false;
      if (Atomics.compareExchange(this.counter, 0, used, used + wanted) === used) return true;
    }
  }

  release(bytes: number): void {
    Atomics.sub(this.counter, 0, BigInt(bytes));
  }
}

export type CacheRead =
  { status: 'hit' } | { status: 'miss' } | { status: 'corrupt'; reason: string };

/**
 * On-disk cache of preprocessed images: a 16-byte header and the raw uint8 HWC pixels, one file
 * per (source file version, crop, margin, output size), under `<dir>/<h>x<w>x<c>/<2 hex>/`. The
 * key includes the source's mtime and size, so an edited image is decoded again. Entries are
 * written atomically (temp file + rename), so concurrent writers and a killed process never
 * leave a torn entry; one of the wrong length or with a bad header is reported as corrupt.
 * Reads are synchronous into a caller's buffer (a slice of the batch): one syscall for the
 * header and the pixels, no allocation, no copy.
 */
export class PreprocessedCache {
  private readonly madeDirs = new Set<string>();
  private readonly header = Buffer.alloc(CACHE_HEADER_BYTES);
  private readonly spare = Buffer.alloc(1);

  constructor(
    readonly dir: string,
    readonly budget?: CacheBudget,
  ) {}

  key(parts: CacheKeyParts): string {
    const { imagePath, mtimeMs, size, crop, margin, image } = parts;
    // the JPEG decode rule (DCT scaling from 2x by the addon): entries of sharp's 3x rule, made
    // before it or where the addon is not built, are not read as its
    const rule = parts.exactResize ? undefined : jpegDecodeRule();
    const text = JSON.stringify([
      CACHE_FORMAT,
      imagePath,
      mtimeMs,
      size,
      crop ?? null,
      margin,
      image.height,
      image.width,
      image.channels,
      // appended only when set, so entries without it keep their key
      ...(parts.autoOrient ? ['autoOrient'] : []),
      ...(parts.exactResize ? ['exactResize'] : []),
      ...(rule ? [rule] : []),
    ]);
    return createHash('sha1').update(text).digest('hex');
  }

  private folder(key: string, image: ImageSpec): string {
    return join(this.dir, `${image.height}x${image.width}x${image.channels}`, key.slice(0, 2));
  }

  path(key: string, image: ImageSpec): string {
    return join(this.folder(key, image), `${key}${EXTENSION}`);
  }

  has(key: string, image: ImageSpec): boolean {
    return existsSync(this.path(key, image));
  }

  /** Read an entry's pixels into `target` (exactly height x width x channels bytes). */
  readInto(key: string, image: ImageSpec, target: Uint8Array): CacheRead {
    let fd: number;
    try {
      fd = openSync(this.path(key, image), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'miss' };
      throw error;
    }
    let read: number;
    try {
      // the spare byte catches an entry longer than it should be
      read = readvSync(fd, [this.header, target, this.spare], 0);
    } finally {
      closeSync(fd);
    }
    const expected = CACHE_HEADER_BYTES + target.byteLength;
    if (read !== expected)
      return { status: 'corrupt', reason: `${read} bytes, expected ${expected}` };
    const h = this.header;
    if (
      h.readUInt32LE(0) !== MAGIC ||
      h.readUInt16LE(4) !== image.height ||
      h.readUInt16LE(6) !== image.width ||
      h.readUInt8(8) !== image.channels ||
      h.readUInt32LE(12) !== target.byteLength
    ) {
      return { status: 'corrupt', reason: 'bad header' };
    }
    return { status: 'hit' };
  }

  /** Delete an entry (a corrupt one, before it is written again); absent is fine. */
  remove(key: string, image: ImageSpec): void {
    try {
      unlinkSync(this.path(key, image));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Write an entry; 'full' when the size bound leaves no room (nothing is written). */
  async put(key: string, image: ImageSpec, pixels: Uint8Array): Promise<'written' | 'full'> {
    const bytes = CACHE_HEADER_BYTES + pixels.byteLength;
    if (this.budget && !this.budget.tryReserve(bytes)) return 'full';
    const dir = this.folder(key, image);
    const path = join(dir, `${key}${EXTENSION}`);
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const header = Buffer.alloc(CACHE_HEADER_BYTES);
    header.writeUInt32LE(MAGIC, 0);
    header.writeUInt16LE(image.height, 4);
    header.writeUInt16LE(image.width, 6);
    header.writeUInt8(image.channels, 8);
    header.writeUInt32LE(pixels.byteLength, 12);
    try {
      if (!this.madeDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.madeDirs.add(dir);
      }
      const handle = await open(temp, 'w');
      try {
        await handle.writev([header, pixels]);
      } finally {
        await handle.close();
      }
      await rename(temp, path);
      return 'written';
    } catch (error) {
      this.budget?.release(bytes);
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }
}

/**
 * Bytes the cache directory holds now, from its layout alone (a readdir per folder, no stat):
 * every entry under `<h>x<w>x<c>/` has that size's fixed length. Temp files are not counted.
 */
export function scanCacheBytes(dir: string): { bytes: number; entries: number } {
  let bytes = 0;
  let entries = 0;
  let sizes: string[];
  try {
    sizes = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { bytes, entries };
    throw error;
  }
  for (const name of sizes) {
    const match = /^(\d+)x(\d+)x(\d+)$/.exec(name);
    if (!match) continue;
    const entryBytes = cacheEntryBytes({
      height: Number(match[1]),
      width: Number(match[2]),
      channels: Number(match[3]) as ImageSpec['channels'],
    });
    for (const shard of readdirSync(join(dir, name))) {
      let files: string[];
      try {
        files = readdirSync(join(dir, name, shard));
      } catch {
        continue;
      }
      const count = files.filter((f) => f.endsWith(EXTENSION)).length;
      entries += count;
      bytes += count * entryBytes;
    }
  }
  return { bytes, entries };
}
