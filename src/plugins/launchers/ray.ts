import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
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

const rayLauncherOptions = Options({
  // unset: RAY_ADDRESS, else http://127.0.0.1:8265
  address: Type.Optional(
    Type.String({
      description: 'Ray dashboard address, e.g. http://head:8265 (default RAY_ADDRESS)',
    }),
  ),
  cpus: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 100_000, description: 'entrypoint_num_cpus' }),
  ),
  gpus: Type.Optional(
    Type.Number({ minimum: 0, maximum: 10_000, description: 'entrypoint_num_gpus' }),
  ),
  memory: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 2 ** 53 - 1, description: 'entrypoint_memory in bytes' }),
  ),
  // passed besides AFFECTLAB_*, MLFLOW_* and TF_*
  env: Type.Optional(
    // additionalProperties rather than Type.Record's patternProperties: errors name the key
    Type.Unsafe<Record<string, string>>({
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Environment variables for every job',
    }),
  ),
  pollSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: 5 }),
});
export type RayLauncherOptions = Static<typeof rayLauncherOptions>;

/** Ray's terminal job states (JobStatus in ray.job_submission). */
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'STOPPED']);

function sh(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A plain HTTP request: Ray's dashboard refuses POSTs that carry browser headers, and fetch
 * always sends `sec-fetch-mode`.
 */
function request(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolveRequest, reject) => {
    const req = send(
      url,
      {
        method,
        timeout: 30_000,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolveRequest({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Each combination one Ray job, submitted and watched through the Jobs REST API. */
@injectable()
export class RayLauncher implements LauncherPlugin {
  private readonly address: string;

  constructor(@inject(PLUGIN_OPTIONS) private readonly options: RayLauncherOptions) {
    const raw = options.address ?? process.env.RAY_ADDRESS ?? 'http://127.0.0.1:8265';
    this.address = (/^https?:\/\//.test(raw) ? raw : `http://${raw}`).replace(/\/+$/, '');
  }

  private async api<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let response: { status: number; text: string };
    try {
      response = await request(method, `${this.address}/api/jobs/${path}`, body);
    } catch (error) {
      throw new UserError(
        `cannot reach the Ray Jobs API at ${this.address} (${(error as Error).message}); start a cluster with ray start --head, or set launcher.address / RAY_ADDRESS`,
        { cause: error },
      );
    }
    const { text } = response;
    const ok = response.status >= 200 && response.status < 300;
    if (!ok)
      throw new UserError(
        `Ray Jobs API ${method} /api/jobs/${path}: HTTP ${response.status} ${text.slice(0, 500)}`,
      );
    return JSON.parse(text) as T;
  }

  private jobEnv(): Record<string, string> {
    const passed = Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && /^(AFFECTLAB_|MLFLOW_|TF_)/.test(e[0]),
    );
    return { ...Object.fromEntries(passed), ...(this.options.env ?? {}) };
  }

  async launch(tasks: LaunchTask[], context: LaunchContext): Promise<LaunchOutcome[]> {
    const ids = new Map<number, string>();
    const states = new Map<number, string>();
    const attempt = Date.now().toString(36);
    for (const task of tasks) {
      const submissionId = `affectlab-${context.sweepId}-${task.index}-${attempt}`;
      await this.api('POST', '', {
        entrypoint: `cd ${sh(task.cwd)} && exec ${task.argv.map(sh).join(' ')}`,
        submission_id: submissionId,
        runtime_env: { env_vars: this.jobEnv() },
        metadata: { sweep: context.sweepId, combination: String(task.index) },
        ...(this.options.cpus !== undefined ? { entrypoint_num_cpus: this.options.cpus } : {}),
        ...(this.options.gpus !== undefined ? { entrypoint_num_gpus: this.options.gpus } : {}),
        ...(this.options.memory !== undefined ? { entrypoint_memory: this.options.memory } : {}),
      });
      ids.set(task.index, submissionId);
      context.log(`submitted Ray job ${submissionId} for ${task.label}`);
    }
    const pollMs = this.options.pollSeconds * 1000;
    let stopping = false;
    for (;;) {
      if (context.stopSignal.stop && !stopping) {
        stopping = true;
        for (const [index, id] of ids)
          if (!TERMINAL.has(states.get(index) ?? '')) {
            context.log(`stopping Ray job ${id}`);
            await this.api('POST', `${id}/stop`).catch(() => undefined);
          }
      }
      for (const task of tasks) {
        if (TERMINAL.has(states.get(task.index) ?? '')) continue;
        const id = ids.get(task.index) as string;
        const info = await this.api<{ status: string; message?: string }>('GET', id);
        if (info.status !== states.get(task.index)) context.log(`job ${id}: ${info.status}`);
        states.set(task.index, info.status);
        await this.saveLogs(id, task.logFile);
      }
      if (tasks.every((t) => TERMINAL.has(states.get(t.index) ?? ''))) break;
      await sleep(stopping ? 500 : pollMs);
    }
    return tasks.map((t) => {
      const state = states.get(t.index) ?? 'UNKNOWN';
      return {
        index: t.index,
        state: state === 'STOPPED' ? 'CANCELLED' : state,
        exitCode: state === 'SUCCEEDED' ? 0 : undefined,
        engineId: ids.get(t.index),
      };
    });
  }

  /** The job's output so far, into the combination's log file. */
  private async saveLogs(id: string, file: string): Promise<void> {
    const { logs } = await this.api<{ logs: string }>('GET', `${id}/logs`).catch(() => ({
      logs: '',
    }));
    if (logs) writeFileSync(file, logs);
  }
}

export const rayLauncher = definePlugin({
  kind: 'launcher',
  type: 'ray',
  description:
    'Submit each combination as a Ray job through the Ray Jobs REST API (/api/jobs/) and poll its status and logs; the workers must see the runs root.',
  options: rayLauncherOptions,
  implementation: RayLauncher,
});
