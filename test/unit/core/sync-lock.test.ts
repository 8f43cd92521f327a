import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SYNC_LOCK, acquireSyncLock } from '../../../src/plugins/reporters/mlflow/sync-lock.js';
import { tempDir } from '../../support/helpers.js';

describe('the mlflow sync lock', () => {
  it('a second sync of the same run is refused, naming the owner pid, until the first ends', () => {
    const dir = tempDir();
    const release = acquireSyncLock(dir);
    assert.throws(
      () => acquireSyncLock(dir),
      new RegExp(`another affectlab sync is running for this run \\(pid ${process.pid}\\)`),
    );
    release();
    assert.ok(!existsSync(join(dir, SYNC_LOCK)));
    acquireSyncLock(dir)();
  });

  it('a lock left by a process that is gone is taken over', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid as number;
    await new Promise((resolve) => child.on('exit', resolve));
    writeFileSync(join(dir, SYNC_LOCK), `${pid}\n`);
    const release = acquireSyncLock(dir);
    release();
  });
});
