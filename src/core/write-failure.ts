/**
 * Write failures (disk full, quota, permissions, read-only file system) as one user error that
 * names the path. Node's own error for a full disk during `write` carries no path
 * (`ENOSPC: no space left on device, write`), so writers wrap their calls in `guardWrite`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../sdk/errors.js';

/** The error codes of a write the user can fix (free space, permissions, remount), explained. */
export const WRITE_FAILURE_CODES: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
};

/** A write that failed for a reason in WRITE_FAILURE_CODES, naming the path it was writing. */
export class WriteFailure extends UserError {
  constructor(
    readonly path: string,
    readonly code: string,
    options?: { cause?: unknown; verb?: string },
  ) {
    super(
      `cannot ${options?.verb ?? 'write'} ${path}: ${WRITE_FAILURE_CODES[code] ?? code} (${code})`,
      options,
    );
    this.name = 'WriteFailure';
  }
}

/** System calls that only write; an `open` or `access` may have been a read. */
const WRITING_CALLS = new Set([
  'write',
  'writev',
  'mkdir',
  'rename',
  'unlink',
  'rmdir',
  'copyfile',
  'ftruncate',
  'symlink',
  'link',
  'utime',
  'chmod',
]);

const errnoCode = (error: unknown): string | undefined =>
  error !== null && typeof error === 'object' && 'code' in error
    ? String((error as NodeJS.ErrnoException).code)
    : undefined;

/**
 * The WriteFailure `error` is, or would be as a write of `path` (default: the path Node's error
 * names); undefined when the error is of another kind.
 */
export function asWriteFailure(error: unknown, path?: string): WriteFailure | undefined {
  if (error instanceof WriteFailure) return error;
  const code = errnoCode(error);
  if (code === undefined || !(code in WRITE_FAILURE_CODES)) return undefined;
  const { path: errorPath, syscall } = error as NodeJS.ErrnoException;
  const verb = path !== undefined || WRITING_CALLS.has(syscall ?? '') ? 'write' : 'access';
  return new WriteFailure(path ?? errorPath ?? '(a file the system did not name)', code, {
    cause: error,
    verb,
  });
}

/** Run a write of `path`; a write failure becomes a WriteFailure naming `path`. */
export function guardWrite<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (error) {
    throw asWriteFailure(error, path) ?? error;
  }
}

/** The same as guardWrite, for asynchronous writes. */
export async function guardWriteAsync<T>(path: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw asWriteFailure(error, path) ?? error;
  }
}

/** Whether a failure is one freeing space or fixing permissions cures (so a resume can go on). */
export function isWriteFailure(error: unknown): error is WriteFailure {
  return error instanceof WriteFailure;
}

/**
 * `mkdir -p` of `dir` as a guarded write. Node's recursive mkdir reports the leaf's ENOENT when a
 * missing parent cannot be made (a file system turned read-only, say); creating the missing
 * folders one by one, outermost first, surfaces the real reason (EROFS, ENOSPC, EACCES).
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  guardWrite(dir, () => {
    for (const d of missing) {
      try {
        mkdirSync(d);
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error;
      }
    }
  });
}
