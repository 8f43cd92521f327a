import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaceBox, ImageSpec } from '../plugin.js';

/** Bump when the preprocessing changes, so stale cache entries are never read. */
const CACHE_FORMAT = 1;

export interface CacheKeyParts {
  imagePath: string;
  mtimeMs: number;
  size: number;
  crop: FaceBox | undefined;
  margin: number;
  image: ImageSpec;
  /** EXIF orientation applied (whole images in predict); absent = false. */
  autoOrient?: boolean;
}

/**
 * On-disk cache of preprocessed images: raw uint8 HWC bytes, one file per (source file version,
 * crop, margin, output size). The key includes the source's mtime and size, so an edited image
 * is decoded again. Entries are written atomically (temp file + rename), so concurrent writers
 * and a killed process never leave a torn entry.
 */
export class PreprocessedCache {
  private readonly madeDirs = new Set<string>();

  constructor(readonly dir: string) {}

  key(parts: CacheKeyParts): string {
    const { imagePath, mtimeMs, size, crop, margin, image } = parts;
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
      // appended only when set, so every existing entry keeps its key
      ...(parts.autoOrient ? ['autoOrient'] : []),
    ]);
    return createHash('sha1').update(text).digest('hex');
  }

  private file(key: string): { dir: string; path: string } {
    const dir = join(this.dir, key.slice(0, 2));
    return { dir, path: join(dir, `${key}.u8`) };
  }

  /** The cached pixels, or undefined when absent or of the wrong length. */
  async get(key: string, expectedLength: number): Promise<Uint8Array | undefined> {
    try {
      const data = await readFile(this.file(key).path);
      if (data.byteLength !== expectedLength) return undefined;
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async put(key: string, pixels: Uint8Array): Promise<void> {
    const { dir, path } = this.file(key);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temp, pixels);
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
  }
}
