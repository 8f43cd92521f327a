import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inject, injectable } from 'tsyringe';
import {
  UserError,
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type LaunchContext,
  type LaunchOutcome,
  type LaunchTask,
  type LauncherPlugin,
} from '../../sdk/index.js';

const run = promisify(execFile);

const optionalString = (description?: string) =>
  Type.Optional(Type.String(description ? { description } : {}));
const shellLines = (description: string) =>
  Type.Optional(Type.Array(Type.String(), { description }));

const slurmLauncherOptions = Options({
  partition: optionalString(),
  account: optionalString(),
  qos: optionalString(),
  gres: optionalString('Generic resources, e.g. gpu:1'),
  gpus: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 1024, description: 'GPUs per task (--gpus-per-task)' }),
  ),
  cpusPerTask: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  mem: Type.Optional(
    Type.String({ pattern: '^[0-9]+[KMGT]?$', description: 'Memory per node, e.g. 16G' }),
  ),
  time: optionalString('Time limit per task, e.g. 04:00:00'),
  maxParallel: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Array tasks at once (%N)' }),
  ),
  extra: shellLines('More #SBATCH lines, e.g. --constraint=a100'),
  setup: shellLines('Shell lines run before each task, e.g. module load cuda'),
  pollSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 5 }),
});
export type SlurmLauncherOptions = Static<typeof slurmLauncherOptions>;

/** Single-quoted for bash. */
function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

async function slurm(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { encoding: 'utf8' });
    return stdout;
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new UserError(
        `the slurm launcher needs ${command} on PATH (run affectlab on a Slurm login node)`,
      );
    throw new UserError(`${command} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** The batch script: one array task per combination, each writing its exit code to a file. */
export function batchScript(
  tasks: LaunchTask[],
  context: Pick<LaunchContext, 'sweepId' | 'sweepDir'>,
  options: SlurmLauncherOptions,
): string {
  const dir = join(context.sweepDir, 'slurm');
  const lines = ['#!/bin/bash', `#SBATCH --job-name=affectlab-${context.sweepId}`];
  const indices = tasks.map((t) => t.index).join(',');
  lines.push(`#SBATCH --array=${indices}${options.maxParallel ? `%${options.maxParallel}` : ''}`);
  lines.push(`#SBATCH --output=${join(context.sweepDir, 'logs', '%a.log')}`);
  lines.push('#SBATCH --open-mode=append');
  const flag = (name: string, value: string | number | undefined) => {
    if (value !== undefined) lines.push(`#SBATCH --${name}=${value}`);
  };
  flag('partition', options.partition);
  flag('account', options.account);
  flag('qos', options.qos);
  flag('gres', options.gres);
  flag('gpus-per-task', options.gpus);
  flag('cpus-per-task', options.cpusPerTask);
  flag('mem', options.mem);
  flag('time', options.time);
  for (const extra of options.extra ?? [])
    lines.push(`#SBATCH ${extra.replace(/^#SBATCH\s+/, '')}`);
  lines.push('set -u', ...(options.setup ?? []), 'case "$SLURM_ARRAY_TASK_ID" in');
  for (const t of tasks)
    lines.push(`  ${t.index}) cd ${sh(t.cwd)} && ${t.argv.map(sh).join(' ')} ;;`);
  lines.push('  *) echo "no combination $SLURM_ARRAY_TASK_ID" >&2; false ;;', 'esac');
  lines.push('rc=$?', `echo "$rc" > ${sh(dir)}/"$SLURM_ARRAY_TASK_ID".rc`, 'exit "$rc"', '');
  return lines.join('\n');
}

/** One `sbatch --array` job per sweep, polled with squeue (sacct where accounting is on). */
@injectable()
export class SlurmLauncher implements LauncherPlugin {
  constructor(@inject(PLUGIN_OPTIONS) private readonly options: SlurmLauncherOptions) {}

  async launch(tasks: LaunchTask[], context: LaunchContext): Promise<LaunchOutcome[]> {
    if (tasks.length === 0) return [];
    const dir = join(context.sweepDir, 'slurm');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, `job-${Date.now()}.sh`);
    writeFileSync(script, batchScript(tasks, context, this.options), { mode: 0o755 });
    const jobId = (await slurm('sbatch', ['--parsable', script])).trim().split(';')[0];
    context.log(`submitted Slurm array job ${jobId} (${tasks.length} tasks), script ${script}`);
    const pollMs = this.options.pollSeconds * 1000;
    let cancelled = false;
    const seen = new Map<number, string>();
    for (;;) {
      if (context.stopSignal.stop && !cancelled) {
        cancelled = true;
        context.log(`scancel ${jobId}`);
        // scancel sends SIGTERM to every task (each run checkpoints and marks itself KILLED),
        // SIGKILL after the cluster's KillWait; pending tasks never start
        await slurm('scancel', [jobId]).catch(() => undefined);
      }
      const queued = await this.queued(jobId);
      for (const [index, state] of queued) {
        if (seen.get(index) !== state) context.log(`task ${index}: ${state}`);
        seen.set(index, state);
      }
      if (queued.size === 0) break;
      await new Promise((r) => setTimeout(r, cancelled ? 1000 : pollMs));
    }
    const accounted = await this.accounted(jobId);
    return tasks.map((t) => {
      const rcFile = join(dir, `${t.index}.rc`);
      const exitCode = existsSync(rcFile) ? Number(readFileSync(rcFile, 'utf8').trim()) : undefined;
      const state =
        accounted.get(t.index) ??
        (exitCode === undefined
          ? cancelled
            ? 'CANCELLED'
            : 'UNKNOWN'
          : exitCode === 0
            ? 'COMPLETED'
            : 'FAILED');
      return { index: t.index, exitCode, state, engineId: `${jobId}_${t.index}` };
    });
  }

  /** Array tasks still in the queue: index -> PENDING/RUNNING/... */
  private async queued(jobId: string): Promise<Map<number, string>> {
    const out = await slurm('squeue', ['-h', '-r', '-j', jobId, '-o', '%K %T']).catch(
      (error: unknown) => {
        // a finished job drops out of squeue; some versions then call its id invalid
        if (error instanceof UserError && /Invalid job id/i.test(error.message)) return '';
        throw error;
      },
    );
    const states = new Map<number, string>();
    for (const line of out.split('\n')) {
      const [task, state] = line.trim().split(/\s+/);
      // a pending array record lists its range ("1-3%2"): count each index in it as pending
      if (!task || !state) continue;
      for (const part of task.replace(/%\d+$/, '').split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let i = a; i <= (b ?? a); i++) if (Number.isInteger(i)) states.set(i, state);
      }
    }
    return states;
  }

  /** Final states from sacct, empty where accounting is disabled. */
  private async accounted(jobId: string): Promise<Map<number, string>> {
    const states = new Map<number, string>();
    const out = await slurm('sacct', ['-n', '-P', '-X', '-j', jobId, '-o', 'JobID,State']).catch(
      () => '',
    );
    for (const line of out.split('\n')) {
      const m = /^\d+_(\d+)\|(\S+)/.exec(line.trim());
      if (m) states.set(Number(m[1]), m[2]);
    }
    return states;
  }
}

export const slurmLauncher = definePlugin({
  kind: 'launcher',
  type: 'slurm',
  description:
    'Submit a sweep as one Slurm array job (sbatch --array); tasks share the runs root, so it must be on a shared filesystem.',
  options: slurmLauncherOptions,
  implementation: SlurmLauncher,
});
