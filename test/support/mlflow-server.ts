/**
 * A real `mlflow server` for integration tests: sqlite backend store and a proxied artifacts
 * destination in a temporary directory, on 127.0.0.1 and a free port. It can be stopped and
 * started again on the same port and stores (the "server goes away mid-run" case).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { repoRoot } from './helpers.js';

/** The pinned version scripts/setup-mlflow.sh installs. */
export const MLFLOW_VERSION = '3.17.2';
const INSTALL_HINT =
  `install it with: bash scripts/setup-mlflow.sh ` +
  `(= python3 -m venv .venv && .venv/bin/pip install mlflow==${MLFLOW_VERSION}), ` +
  `point MLFLOW_BIN at an mlflow executable, or set AFFECTLAB_SKIP_MLFLOW=1 to skip these tests`;

export interface MlflowServer {
  /** http://127.0.0.1:<port> */
  uri: string;
  port: number;
  /** Backend store, artifacts and server log live here. */
  dataDir: string;
  stop(): Promise<void>;
  /** Start again on the same port with the same stores (after stop()). */
  start(): Promise<void>;
  /** The server's log so far, for failure messages. */
  log(): string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** MLFLOW_BIN, else .venv/bin/mlflow under the repo root, else `mlflow` on PATH. */
export function findMlflowBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.MLFLOW_BIN) {
    if (!isExecutable(env.MLFLOW_BIN))
      throw new Error(`MLFLOW_BIN=${env.MLFLOW_BIN} is not an executable file; ${INSTALL_HINT}`);
    return env.MLFLOW_BIN;
  }
  const venv = join(repoRoot, '.venv', 'bin', 'mlflow');
  if (isExecutable(venv)) return venv;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'mlflow'))) return join(dir, 'mlflow');
  }
  return undefined;
}

/**
 * Why MLflow server tests are skipped (AFFECTLAB_SKIP_MLFLOW=1), or undefined to run them.
 * Without a binary and without that variable, this throws, so the tests fail saying how to install.
 */
export function mlflowSkipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AFFECTLAB_SKIP_MLFLOW === '1') return 'AFFECTLAB_SKIP_MLFLOW=1';
  if (!findMlflowBinary(env)) throw new Error(`no mlflow executable found; ${INSTALL_HINT}`);
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthy(uri: string): Promise<boolean> {
  try {
    const response = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
    return response.ok;
  } catch {
    return false;
  }
}

/** Every started server, killed with its process group if the test process exits early. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Start `mlflow server`; resolves once GET /health answers (MLflow starts slowly: ~10 s). */
export async function startMlflowServer(
  options: {
    timeoutMs?: number;
    /** A server without the artifact proxy: `--no-serve-artifacts --default-artifact-root <it>`. */
    defaultArtifactRoot?: string;
  } = {},
): Promise<MlflowServer> {
  const bin = findMlflowBinary();
  if (!bin) throw new Error(`no mlflow executable found; ${INSTALL_HINT}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'affectlab-mlflow-'));
  mkdirSync(join(dataDir, 'artifacts'));
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  const logFile = join(dataDir, 'server.log');
  // a loaded machine may need longer: AFFECTLAB_MLFLOW_START_TIMEOUT_MS
  const timeoutMs =
    options.timeoutMs ?? (Number(process.env.AFFECTLAB_MLFLOW_START_TIMEOUT_MS) || 90_000);
  const artifactArgs = options.defaultArtifactRoot
    ? ['--no-serve-artifacts', '--default-artifact-root', options.defaultArtifactRoot]
    : ['--serve-artifacts', '--artifacts-destination', join(dataDir, 'artifacts')];
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    if (child) throw new Error('mlflow server already running');
    const logFd = openSync(logFile, 'a');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
      PYTHONUNBUFFERED: '1',
    };
    delete env.MLFLOW_TRACKING_URI;
    const proc = spawn(
      bin,
      [
        'server',
        '--backend-store-uri',
        `sqlite:///${join(dataDir, 'mlflow.db')}`,
        ...artifactArgs,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        '1',
      ],
      // Its own process group, so stop() ends the server and the workers it forks.
      { cwd: dataDir, env, stdio: ['ignore', logFd, logFd], detached: true },
    );
    closeSync(logFd);
    child = proc;
    live.add(proc);
    let exited = false;
    proc.once('exit', () => {
      exited = true;
      live.delete(proc);
    });
    const deadline = Date.now() + timeoutMs;
    while (!(await healthy(uri))) {
      if (exited) {
        child = undefined;
        throw new Error(`mlflow server exited before answering /health:\n${tail(logFile)}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `mlflow server did not answer ${uri}/health within ${timeoutMs / 1000} s:\n${tail(logFile)}`,
        );
      }
      await sleep(250);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    try {
      process.kill(-proc.pid, 'SIGTERM');
    } catch {
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000)));
    const killed = await Promise.race([exited.then(() => true), gaveUp]);
    clearTimeout(timer);
    if (!killed) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      await exited;
    }
    // Workers may outlive the parent for a moment: wait until nothing answers on the port.
    for (let i = 0; i < 40 && (await healthy(uri)); i++) await sleep(250);
  };

  await start();
  return { uri, port, dataDir, start, stop, log: () => tail(logFile) };
}

function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no server log)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

/** Stop the server and remove its stores. */
export async function disposeMlflowServer(server: MlflowServer | undefined): Promise<void> {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
}
