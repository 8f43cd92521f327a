import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../sdk/errors.js';
import { Progress } from './pipeline/progress.js';
import type { Logger } from '../sdk/services.js';

/**
 * Files fetched once and kept, as Keras' `keras.utils.get_file(..., cache_subdir='models')`
 * does: the same cache folder (`$KERAS_HOME/models`, else `~/.keras/models`), the same file
 * names and the same hashes (md5, or sha256 for a 64-digit hash), so a file that Keras already
 * downloaded is used as it is, with no network.
 */

/** A file to fetch: its name in the cache, where it comes from and its published hash. */
export interface RemoteFile {
  /** The name in the cache folder (Keras' `fname`). */
  fileName: string;
  /** The URL Keras downloads it from. */
  url: string;
  /** md5 (32 hex digits) or sha256 (64); absent where the publisher gives none. */
  hash?: string;
  /** What it is, for messages: `ImageNet weights of resnet50`. */
  label: string;
}

/** Where `file` is taken from once a mirror is configured, and where it is kept. */
export interface FileLocation {
  url: string;
  path: string;
  /** `md5 …` / `sha256 …`, or a note that there is none. */
  hash: string;
}

/** Environment variable: a base URL (a mirror) that replaces each file's own folder URL. */
export const WEIGHTS_BASE_URL_ENV = 'AFFECTLAB_WEIGHTS_BASE_URL';

/** Keras' cache folder for downloaded models: `$KERAS_HOME/models`, else `~/.keras/models`. */
export function kerasModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.KERAS_HOME || join(homedir(), '.keras'), 'models');
}

export function hashAlgorithm(hash: string): 'md5' | 'sha256' {
  return hash.length === 64 ? 'sha256' : 'md5';
}

export function locate(file: RemoteFile, env: NodeJS.ProcessEnv = process.env): FileLocation {
  const base = env[WEIGHTS_BASE_URL_ENV];
  const url = base ? `${base.replace(/\/+$/, '')}/${encodeURIComponent(file.fileName)}` : file.url;
  return {
    url,
    path: join(kerasModelsDir(env), file.fileName),
    hash: file.hash ? `${hashAlgorithm(file.hash)} ${file.hash}` : 'no published hash',
  };
}

export async function hashFile(path: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The HDF5 signature, for files without a published hash: at least the download is an HDF5 file. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

async function startsWithHdf5(path: string): Promise<boolean> {
  for await (const chunk of createReadStream(path, { start: 0, end: 7 }))
    return (chunk as Buffer).equals(HDF5_SIGNATURE);
  return false;
}

/** Whether `path` holds the file: its hash matches (or, with no hash, it is an HDF5 file). */
async function verified(file: RemoteFile, path: string): Promise<boolean> {
  if (!file.hash) return startsWithHdf5(path);
  return (await hashFile(path, hashAlgorithm(file.hash))) === file.hash.toLowerCase();
}

/** What `validate` and `--dry-run` say: whether the file is in the cache (no network, no hashing). */
export function cacheStatus(
  file: RemoteFile,
  env: NodeJS.ProcessEnv = process.env,
): FileLocation & { cached: boolean } {
  const location = locate(file, env);
  let cached = false;
  try {
    cached = statSync(location.path).isFile();
  } catch {
    cached = false;
  }
  return { ...location, cached };
}

export interface FetchOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** Attempts after a connection cut mid-file (each resumes with an HTTP Range request). */
  retries?: number;
  /** Seconds without data before a connection counts as cut. */
  idleTimeoutS?: number;
}

/**
 * The cached file's path: the cache's copy when its hash matches, else downloaded (resuming
 * with HTTP Range after a cut connection), verified and moved into the cache atomically. Any
 * failure is one UserError naming the URL, the path to put the file in by hand and the hash.
 */
export async function fetchFile(file: RemoteFile, options: FetchOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const location = locate(file, env);
  const { path, url } = location;
  if (existsSync(path)) {
    if (await verified(file, path)) return path;
    options.logger?.warn(
      `${path} does not match the ${location.hash} of ${file.label}: downloading it again`,
    );
  }
  const fail = (reason: string): UserError =>
    new UserError(
      `cannot fetch ${file.label}: ${reason}\n` +
        `  from:    ${url}\n` +
        `  put it:  ${path}\n` +
        `  ${file.hash ? `${hashAlgorithm(file.hash)}:` : 'hash:'}     ${file.hash ?? 'none published (the file must be HDF5)'}\n` +
        `  (download it elsewhere and copy it there, or set ${WEIGHTS_BASE_URL_ENV} to a mirror that serves ${file.fileName})`,
    );
  try {
    mkdirSync(kerasModelsDir(env), { recursive: true });
  } catch (error) {
    throw fail(`cannot create the cache folder: ${(error as Error).message}`);
  }
  const part = `${path}.${process.pid}.${Date.now().toString(36)}.part`;
  try {
    options.logger?.info(`downloading ${file.label} from ${url}`);
    await download(url, part, file.fileName, options);
    if (!(await verified(file, part))) {
      const got = file.hash ? await hashFile(part, hashAlgorithm(file.hash)) : 'not an HDF5 file';
      throw fail(
        `the downloaded file's ${file.hash ? hashAlgorithm(file.hash) : 'content'} is ${got}, not the published one: refused and removed`,
      );
    }
    renameSync(part, path);
    options.logger?.info(`${file.label}: saved ${path}`);
    return path;
  } catch (error) {
    rmSync(part, { force: true });
    if (error instanceof UserError) throw error;
    throw fail((error as Error).message);
  }
}

/** Errors that mean no server can be reached: failing at once beats retrying. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EAI_FAIL',
  'EAI_NONAME',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** Download `url` into `part`, resuming with Range after a cut connection (bounded retries). */
async function download(
  url: string,
  part: string,
  name: string,
  options: FetchOptions,
): Promise<void> {
  const retries = options.retries ?? 5;
  let progress: Progress | undefined;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const have = existsSync(part) ? statSync(part).size : 0;
    try {
      await getOnce(url, part, have, options.idleTimeoutS ?? 30, (total) => {
        progress ??= new Progress(`downloading ${name}`, total, options.logger, 10_000, true);
        return progress;
      });
      progress?.finish();
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      lastError = error as Error;
      if ((code && UNREACHABLE.has(code)) || error instanceof HttpStatusError) break;
      const now = existsSync(part) ? statSync(part).size : 0;
      if (now <= have) break; // no progress: the next try would fail the same way
      options.logger?.warn(
        `${name}: connection cut after ${now} bytes (${lastError.message}); resuming`,
      );
    }
  }
  throw lastError ?? new Error('download failed');
}

class HttpStatusError extends Error {}

/** The response to a GET of `url` from byte `have` (following redirects). */
function get(
  url: string,
  have: number,
  idleTimeoutS: number,
  redirects = 5,
): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolvePromise, reject) => {
    const target = new URL(url);
    const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      { headers: have > 0 ? { range: `bytes=${have}-` } : {}, timeout: idleTimeoutS * 1000 },
      (response) => {
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (status >= 300 && status < 400 && location && redirects > 0) {
          response.resume();
          get(new URL(location, target).toString(), have, idleTimeoutS, redirects - 1).then(
            resolvePromise,
            reject,
          );
          return;
        }
        if (status !== 200 && !(status === 206 && have > 0)) {
          response.resume();
          reject(new HttpStatusError(`HTTP ${status} ${response.statusMessage ?? ''}`.trim()));
          return;
        }
        resolvePromise(response);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no data for ${idleTimeoutS} s`)));
    request.on('error', reject);
    request.end();
  });
}

/** One GET, appending to `part` from byte `have` (or rewriting it when the server ignores Range). */
async function getOnce(
  url: string,
  part: string,
  have: number,
  idleTimeoutS: number,
  progressFor: (total: number | undefined) => Progress,
): Promise<void> {
  const response = await get(url, have, idleTimeoutS);
  const resumed = response.statusCode === 206;
  const length = Number(response.headers['content-length']);
  const known = response.headers['content-length'] !== undefined && Number.isFinite(length);
  const progress = progressFor(known ? length + (resumed ? have : 0) : undefined);
  let received = 0;
  // written by hand rather than piped: a cut connection must still flush what arrived, so the
  // next attempt resumes from it
  const out = createWriteStream(part, { flags: resumed ? 'a' : 'w' });
  await new Promise<void>((resolvePromise, reject) => {
    let failure: Error | undefined;
    response.on('data', (chunk: Buffer) => {
      received += chunk.length;
      progress.tick(chunk.length);
      if (!out.write(chunk)) {
        response.pause();
        out.once('drain', () => response.resume());
      }
    });
    response.on('error', (error) => (failure ??= error));
    response.on('close', () => {
      if (!response.complete) failure ??= new Error('connection closed mid-file');
      out.end();
    });
    out.on('finish', () => (failure ? reject(failure) : resolvePromise()));
    out.on('error', (error) => {
      response.destroy();
      reject(error);
    });
  });
  if (known && received < length)
    throw new Error(`connection closed after ${received} of ${length} bytes`);
}
