import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { createRuntime } from '../../src/main.js';
import type { Runtime } from '../../src/core/host/runtime.js';
import { BackendService } from '../../src/core/training/backend.js';

/** A temporary directory removed when the test file ends. */
export function tempDir(prefix = 'affectlab-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Write files (path -> text) under a directory, creating folders. */
export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
}

/** A runtime with every built-in plugin registered, quiet logger. */
export function testRuntime(): Runtime {
  const runtime = createRuntime();
  runtime.logger.level = 'warn';
  return runtime;
}

/** Activate the best backend available (native when installed), for tests that train. */
export async function activateBackend(runtime: Runtime = testRuntime()): Promise<string> {
  const active = await runtime.container.resolve(BackendService).activate('auto');
  return active.name;
}

/** Repository root (tests run from dist/test/...). */
export const repoRoot = new URL('../../../', import.meta.url).pathname;
