/**
 * Where a run's artifacts go, as MLflow's own client decides it from the artifact URI the server
 * answers with: `mlflow-artifacts:` (a server with --serve-artifacts, the default) uploads
 * through the server; a local `file:` URI or a plain absolute path (a server started with
 * `--default-artifact-root <dir> --no-serve-artifacts`) is written directly, when this machine
 * can write it; anything else (s3:, gs:, ... without a proxy) cannot be used from here.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ArtifactMode =
  { kind: 'proxy' } | { kind: 'local'; dir: string } | { kind: 'unusable'; reason: string };

/** The local directory an artifact URI names, if it names one. */
export function localArtifactDir(uri: string): string | undefined {
  if (uri.startsWith('file:')) {
    try {
      // file:/abs and file:///abs both name /abs; file://host/... is not local
      return fileURLToPath(uri.startsWith('file://') ? uri : `file://${uri.slice('file:'.length)}`);
    } catch {
      return undefined;
    }
  }
  return isAbsolute(uri) && !/^[a-z][a-z0-9+.-]*:/i.test(uri) ? resolve(uri) : undefined;
}

/** How artifacts reach the store `uri` names (an experiment's or a run's artifact location). */
export function artifactMode(uri: string): ArtifactMode {
  if (
    uri.startsWith('mlflow-artifacts:') ||
    /^https?:\/\/.*\/api\/2\.0\/mlflow-artifacts\//.test(uri)
  )
    return { kind: 'proxy' };
  const dir = localArtifactDir(uri);
  if (!dir) {
    return {
      kind: 'unusable',
      reason: 'it is neither served by the tracking server nor a local directory',
    };
  }
  try {
    // what MLflow's local artifact repository does: create the directories, write the file
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.affectlab-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return { kind: 'unusable', reason: `this machine cannot write '${dir}' (${code})` };
  }
  return { kind: 'local', dir };
}

/** Write one artifact under a local artifact root, as MLflow's local repository lays it out. */
export function writeLocalArtifact(dir: string, artifactPath: string, data: Uint8Array): void {
  const segments = artifactPath.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..'))
    throw new Error(`invalid artifact path '${artifactPath}': must be relative, without '..'`);
  const file = join(dir, ...segments);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
}
