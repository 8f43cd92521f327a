/**
 * One `affectlab sync` per run directory at a time: two concurrent syncs of one run would each
 * create the MLflow run before either saved its id, leaving an orphan. The lock is a file
 * created with O_EXCL holding the owner's pid; a lock whose process is gone is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError, processAlive } from '../../../sdk/index.js';

export const SYNC_LOCK = 'mlflow-sync.lock';

/** Take the sync lock of a run directory; returns the function that releases it. */
export function acquireSyncLock(runDir: string): () => void {
  const file = join(runDir, SYNC_LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(owner) && owner > 0 && processAlive(owner))
        throw new UserError(
          `${runDir}: another affectlab sync is running for this run (pid ${owner}); wait for it, ` +
            `or remove ${file} if that process is not a sync`,
        );
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  throw new UserError(`${runDir}: could not take ${SYNC_LOCK}; another sync keeps taking it`);
}
