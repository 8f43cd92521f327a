import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real CLI (bin/affectlab.js) in a child process. */
export function affectlab(
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): CliResult {
  const env: Record<string, string | undefined> = {
    ...process.env,
    AFFECTLAB_LOG_LEVEL: 'warn',
    ...options.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
    cwd: options.cwd ?? repoRoot,
    env: env as NodeJS.ProcessEnv,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
