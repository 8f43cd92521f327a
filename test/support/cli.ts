import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

function cliEnv(options: CliOptions): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    ...process.env,
    AFFECTLAB_LOG_LEVEL: 'warn',
    ...options.env,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env as NodeJS.ProcessEnv;
}

/** Run the real CLI (bin/affectlab.js) in a child process. */
export function affectlab(args: string[], options: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
    cwd: options.cwd ?? repoRoot,
    env: cliEnv(options),
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The same as affectlab(), without blocking: for CLI processes that must run side by side. */
export function affectlabAsync(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolveResult, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
      cwd: options.cwd ?? repoRoot,
      env: cliEnv(options),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 300_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolveResult({ code: code ?? -1, stdout, stderr }));
  });
}
