/**
 * A real Ray head node for integration tests: `ray start --head --block` from the venv that
 * scripts/setup-ray.sh makes (.venv-ray), on 127.0.0.1 with free ports and its own temp dir.
 * --block keeps it a child of the test: stopping it (SIGTERM) stops every Ray process it
 * started, without `ray stop`, which would end every Ray cluster on the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './helpers.js';
import { freePort } from './mlflow-server.js';

/** The pinned version scripts/setup-ray.sh installs. */
export const RAY_VERSION = '2.60.0';
const INSTALL_HINT =
  `install it with: bash scripts/setup-ray.sh (= python3 -m venv .venv-ray && ` +
  `.venv-ray/bin/pip install 'ray[default]==${RAY_VERSION}'; npm test runs it), point RAY_BIN ` +
  'at a ray executable, or set AFFECTLAB_SKIP_RAY=1 to skip these tests';

export function findRayBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.RAY_BIN, join(repoRoot, '.venv-ray', 'bin', 'ray')];
  return candidates.find((c): c is string => Boolean(c) && existsSync(c as string));
}

export function raySkipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AFFECTLAB_SKIP_RAY === '1') return 'AFFECTLAB_SKIP_RAY=1';
  if (!findRayBinary(env)) throw new Error(`no ray executable found; ${INSTALL_HINT}`);
  return undefined;
}

export interface RayCluster {
  /** The dashboard, which serves the Jobs API: http://127.0.0.1:<port> */
  address: string;
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRayCluster(): Promise<RayCluster> {
  const ray = findRayBinary() as string;
  // short: Ray's unix socket paths must fit 107 bytes
  const dir = mkdtempSync('/tmp/ray-t-');
  const ports: number[] = [];
  for (let i = 0; i < 10; i++) ports.push(await freePort());
  const [
    gcs,
    dashboard,
    client,
    agentHttp,
    agentGrpc,
    nodeManager,
    objectManager,
    runtimeEnv,
    metrics,
  ] = ports;
  const workerBase = 20000 + Math.floor(Math.random() * 200) * 100;
  const address = `http://127.0.0.1:${dashboard}`;
  const logFile = join(dir, 'ray-start.log');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    ray,
    [
      'start',
      '--head',
      '--block',
      '--disable-usage-stats',
      '--node-ip-address=127.0.0.1',
      '--dashboard-host=127.0.0.1',
      '--include-dashboard=true',
      `--temp-dir=${dir}`,
      `--port=${gcs}`,
      `--dashboard-port=${dashboard}`,
      `--ray-client-server-port=${client}`,
      `--dashboard-agent-listen-port=${agentHttp}`,
      `--dashboard-agent-grpc-port=${agentGrpc}`,
      `--node-manager-port=${nodeManager}`,
      `--object-manager-port=${objectManager}`,
      `--runtime-env-agent-port=${runtimeEnv}`,
      `--metrics-export-port=${metrics}`,
      `--min-worker-port=${workerBase}`,
      `--max-worker-port=${workerBase + 99}`,
      '--num-cpus=2',
    ],
    { stdio: ['ignore', fd, fd], detached: true },
  );
  closeSync(fd);
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-6000);
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(20_000)]);
      // anything left of its process group (workers it forked)
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`ray start exited ${child.exitCode}\n${log()}`);
      try {
        const res = await fetch(`${address}/api/jobs/`, { signal: AbortSignal.timeout(2000) });
        if (res.ok) break;
      } catch {
        // not up yet
      }
      if (i > 240) throw new Error(`the Ray dashboard did not answer at ${address}\n${log()}`);
      await sleep(500);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { address, log, stop };
}
