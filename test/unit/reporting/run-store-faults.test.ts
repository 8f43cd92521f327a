import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { describe, it } from 'node:test';
import { UserError } from '../../../src/sdk/errors.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import { WriteFailure, asWriteFailure, guardWrite } from '../../../src/core/write-failure.js';
import { tempDir } from '../../support/helpers.js';

/**
 * The run store under faults, without a mount: /dev/full answers every write with ENOSPC, so
 * a symlink to it where the store writes is a real full disk for that one file.
 */
const hasDevFull = existsSync('/dev/full');

describe('run folders are created exclusively', () => {
  it('a generated id that is taken is drawn again; an existing folder is never reused', () => {
    const root = tempDir('affectlab-runstore-');
    const ids = ['20260101-000000-aaaaaa', '20260101-000000-aaaaaa', '20260101-000000-bbbbbb'];
    const newId = () => ids.shift() as string;
    const first = RunStore.create(root, 'exp', undefined, { newId });
    writeFileSync(first.path('run.json'), '{"runId":"first"}\n');
    const second = RunStore.create(root, 'exp', undefined, { newId });
    assert.equal(first.runId, '20260101-000000-aaaaaa');
    assert.equal(second.runId, '20260101-000000-bbbbbb');
    assert.equal(readFileSync(first.path('run.json'), 'utf8'), '{"runId":"first"}\n');
    assert.deepEqual(readdirSync(second.dir), []);
  });

  it('a given run id (a launcher) that exists is an error naming the folder', () => {
    const root = tempDir('affectlab-runstore-');
    const store = RunStore.create(root, 'exp', 'fixed-id');
    assert.throws(
      () => RunStore.create(root, 'exp', 'fixed-id'),
      (e: unknown) =>
        e instanceof UserError &&
        e.message.startsWith(`run directory ${store.dir} exists already`) &&
        e.message.includes(`--resume ${store.dir}`),
    );
  });
});

describe('write failures name the path', { skip: !hasDevFull && 'no /dev/full here' }, () => {
  it('writeFile on a full disk: one WriteFailure naming the file, no temporary file left', () => {
    const store = RunStore.create(tempDir('affectlab-runstore-'), 'exp', 'r1');
    symlinkSync('/dev/full', store.path(`metrics.json.tmp-${process.pid}`));
    assert.throws(
      () => store.writeJson('metrics.json', { a: 1 }),
      (e: unknown) =>
        e instanceof WriteFailure &&
        e.code === 'ENOSPC' &&
        e.message ===
          `cannot write ${store.path('metrics.json')}: no space left on the device (ENOSPC)`,
    );
    assert.deepEqual(readdirSync(store.dir), [], 'the temporary file is removed');
  });

  it('run.json is overwritten in place when the atomic write finds no room', () => {
    const store = RunStore.create(tempDir('affectlab-runstore-'), 'exp', 'r2');
    store.writeRecord({ runId: 'r2', experiment: 'exp', status: 'RUNNING', startTime: 1 });
    symlinkSync('/dev/full', store.path(`run.json.tmp-${process.pid}`));
    store.writeRecord({
      runId: 'r2',
      experiment: 'exp',
      status: 'FAILED',
      startTime: 1,
      error: 'disk full',
    });
    assert.equal(store.readRecord().status, 'FAILED');
    assert.equal(store.readRecord().error, 'disk full');
    assert.deepEqual(readdirSync(store.dir), ['run.json']);
  });

  it('appends (events, epochs, log) name their file', () => {
    const store = RunStore.create(tempDir('affectlab-runstore-'), 'exp', 'r3');
    symlinkSync('/dev/full', store.path('log.txt'));
    assert.throws(
      () => store.appendLog('a line'),
      new RegExp(`^WriteFailure: cannot write ${store.path('log.txt')}: no space left`),
    );
  });

  it('removeTemporaryFiles removes what failed writes leave, and nothing else', () => {
    const store = RunStore.create(tempDir('affectlab-runstore-'), 'exp', 'r4');
    mkdirSync(store.path('checkpoints/last.tmp/model'), { recursive: true });
    mkdirSync(store.path('checkpoints/last/model'), { recursive: true });
    writeFileSync(store.path('checkpoints/last.tmp/model/weights.bin'), 'x');
    writeFileSync(store.path('checkpoints/last/model/weights.bin.partial'), 'x');
    writeFileSync(store.path('checkpoints/last/model/model.json'), '{}');
    writeFileSync(store.path(`run.json.tmp-${process.pid}`), 'x');
    writeFileSync(store.path('run.json'), '{}');
    assert.deepEqual(store.removeTemporaryFiles(), [
      'checkpoints/last.tmp',
      'checkpoints/last/model/weights.bin.partial',
      `run.json.tmp-${process.pid}`,
    ]);
    assert.deepEqual(store.files(), ['checkpoints/last/model/model.json', 'run.json']);
  });
});

describe('asWriteFailure', () => {
  it('names the path given, else the one in the error; other errors pass through', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), {
      code: 'ENOSPC',
      syscall: 'write',
    });
    assert.equal(
      asWriteFailure(full, '/runs/x/run.json')?.message,
      'cannot write /runs/x/run.json: no space left on the device (ENOSPC)',
    );
    const readOnly = Object.assign(new Error('EROFS'), {
      code: 'EROFS',
      syscall: 'mkdir',
      path: '/ro/runs',
    });
    assert.equal(
      asWriteFailure(readOnly)?.message,
      'cannot write /ro/runs: read-only file system (EROFS)',
    );
    const denied = Object.assign(new Error('EACCES'), {
      code: 'EACCES',
      syscall: 'open',
      path: '/secret',
    });
    assert.equal(
      asWriteFailure(denied)?.message,
      'cannot access /secret: permission denied (EACCES)',
    );
    assert.equal(asWriteFailure(new Error('ENOENT')), undefined);
    assert.equal(
      asWriteFailure(Object.assign(new Error('x'), { code: 'ENOENT' })),
      undefined,
      'a missing file is not a write failure',
    );
    assert.throws(
      () =>
        guardWrite('/x', () => {
          throw full;
        }),
      WriteFailure,
    );
  });
});
