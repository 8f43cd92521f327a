import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { inject, injectable } from 'tsyringe';
import {
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

const localLauncherOptions = Options({
  parallel: Type.Integer({
    minimum: 1,
    maximum: 1024,
    default: 1,
    description: 'Combinations run at once (each a separate affectlab run process).',
  }),
});
export type LocalLauncherOptions = Static<typeof localLauncherOptions>;

/** How often the stop signal is looked at while children run. */
const STOP_POLL_MS = 200;

/** Each combination a child `affectlab run`, at most `parallel` at a time, on this machine. */
@injectable()
export class LocalLauncher implements LauncherPlugin {
  private readonly parallel: number;

  constructor(@inject(PLUGIN_OPTIONS) options: LocalLauncherOptions) {
    this.parallel = options.parallel;
  }

  async launch(tasks: LaunchTask[], context: LaunchContext): Promise<LaunchOutcome[]> {
    const outcomes: LaunchOutcome[] = [];
    const running = new Map<number, ChildProcess>();
    const queue = [...tasks];
    let stopping = false;

    await new Promise<void>((done) => {
      const next = (): void => {
        if (context.stopSignal.stop && !stopping) {
          stopping = true;
          // each child gets its own SIGINT: it checkpoints and marks its run KILLED
          for (const child of running.values()) child.kill('SIGINT');
          for (const t of queue.splice(0)) outcomes.push({ index: t.index, state: 'CANCELLED' });
        }
        while (!stopping && running.size < this.parallel && queue.length > 0) {
          const task = queue.shift() as LaunchTask;
          const fd = openSync(task.logFile, 'a');
          const [exe, ...args] = task.argv;
          // detached: a Ctrl-C in the terminal reaches the parent only, which forwards it once
          const child = spawn(exe, args, {
            cwd: task.cwd,
            stdio: ['ignore', fd, fd],
            detached: true,
          });
          closeSync(fd);
          running.set(task.index, child);
          context.log(`started ${task.label} (pid ${child.pid ?? '?'}), log ${task.logFile}`);
          child.on('error', (error) => {
            context.log(`${task.label}: ${error.message}`);
          });
          child.on('close', (code, signal) => {
            running.delete(task.index);
            outcomes.push({
              index: task.index,
              exitCode: code ?? undefined,
              state: code === 0 ? 'COMPLETED' : signal ? `SIGNALED(${signal})` : 'FAILED',
              engineId: String(child.pid ?? ''),
            });
            next();
          });
        }
        if (running.size === 0 && queue.length === 0) {
          clearInterval(timer);
          done();
        }
      };
      const timer = setInterval(() => {
        if (context.stopSignal.stop && !stopping) next();
      }, STOP_POLL_MS);
      next();
    });
    return outcomes.sort((a, b) => a.index - b.index);
  }
}

export const localLauncher = definePlugin({
  kind: 'launcher',
  type: 'local',
  description:
    'Run the combinations of a sweep as child processes on this machine, `parallel` at a time.',
  options: localLauncherOptions,
  implementation: LocalLauncher,
});
