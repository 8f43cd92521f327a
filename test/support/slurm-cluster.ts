/**
 * A real single-node Slurm cluster for integration tests: munged, slurmctld and slurmd from
 * Debian's slurm-wlm and munge, started in the foreground as children of the test process
 * with a generated slurm.conf and munge key in a temporary directory, on free ports of
 * 127.0.0.1. Commands (sbatch, squeue, scancel) find it through SLURM_CONF.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './mlflow-server.js';

const DAEMONS = ['/usr/sbin/munged', '/usr/sbin/slurmctld', '/usr/sbin/slurmd', '/usr/bin/sbatch'];
const INSTALL_HINT =
  'install Slurm with: apt-get install -y slurm-wlm munge (as root; .ci/run does it), ' +
  'or set AFFECTLAB_SKIP_SLURM=1 to skip these tests';

export interface SlurmCluster {
  dir: string;
  /** The generated slurm.conf (SLURM_CONF for sbatch/squeue/scancel). */
  conf: string;
  env: Record<string, string>;
  log(): string;
  stop(): Promise<void>;
}

/** Why the Slurm tests cannot run here, or undefined; a missing install fails loudly. */
export function slurmSkipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AFFECTLAB_SKIP_SLURM === '1') return 'AFFECTLAB_SKIP_SLURM=1';
  const missing = DAEMONS.filter((d) => !existsSync(d));
  if (missing.length > 0)
    throw new Error(`Slurm is not installed (${missing.join(', ')}); ${INSTALL_HINT}`);
  // slurmd starts jobs as their user: it has to be root
  if (process.getuid?.() !== 0) return 'slurmd needs root; run these tests as root';
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startSlurmCluster(): Promise<SlurmCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'affectlab-slurm-'));
  for (const d of ['state', 'spool', 'log', 'munge']) mkdirSync(join(dir, d), { mode: 0o700 });
  const key = join(dir, 'munge', 'munge.key');
  writeFileSync(key, randomBytes(128), { mode: 0o600 });
  const socket = join(dir, 'munge', 'socket');
  const node = hostname();
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=affectlab-test',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      `AuthInfo=socket=${socket}`,
      'CredType=cred/munge',
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/log/slurmctld.log`,
      `SlurmdLogFile=${dir}/log/slurmd.log`,
      // no cgroups in a container: plain process tracking, no task binding, no accounting
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'MpiDefault=none',
      'ReturnToService=2',
      'KillWait=10',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus().length} RealMemory=2000 State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { SLURM_CONF: conf };
  const children: ChildProcess[] = [];
  const out = join(dir, 'log', 'daemons.out');
  const start = (exe: string, args: string[]) => {
    const child = spawn(exe, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    const append = (b: Buffer) => writeFileSync(out, b, { flag: 'a' });
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    children.push(child);
  };
  const log = () => {
    const parts = ['daemons.out', 'slurmctld.log', 'slurmd.log'].map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(dir, 'log', f), 'utf8').slice(-4000)}`;
      } catch {
        return '';
      }
    });
    return parts.join('\n');
  };
  const stop = async () => {
    for (const c of children.reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    start('/usr/sbin/munged', [
      '--foreground',
      '--force',
      `--socket=${socket}`,
      `--key-file=${key}`,
      `--log-file=${dir}/log/munged.log`,
      `--pid-file=${dir}/munge/munged.pid`,
      `--seed-file=${dir}/munge/seed`,
    ]);
    for (let i = 0; i < 50 && !existsSync(socket); i++) await sleep(100);
    start('/usr/sbin/slurmctld', ['-D', '-f', conf]);
    start('/usr/sbin/slurmd', ['-D', '-f', conf]);
    for (let i = 0; ; i++) {
      let state = '';
      try {
        state = execFileSync('sinfo', ['-h', '-o', '%T'], {
          env: { ...process.env, ...env },
          encoding: 'utf8',
        }).trim();
      } catch {
        // slurmctld not listening yet
      }
      if (state === 'idle') break;
      if (i > 150)
        throw new Error(`the Slurm node did not become idle (state '${state}')\n${log()}`);
      await sleep(200);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, conf, env, log, stop };
}
