/**
 * `affectlab sync <run-dir...>`: deliver to MLflow whatever a run's mlflow reporter could not
 * (server down, gone mid-run, or no reporter at all), reading events.jsonl from the first line
 * mlflow.json does not count as delivered. A fully synced run costs no request at all.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError, type RunInfo, type Runtime, type Logger } from '../../../sdk/index.js';
import { MlflowClient, MlflowError, parseTrackingUri, type MlflowClientOptions } from './client.js';
import { acquireSyncLock } from './sync-lock.js';
import {
  EVENTS_FILE,
  MlflowDelivery,
  newState,
  readEventLines,
  readState,
  type DeliveryStatus,
} from './delivery.js';

export interface SyncOptions {
  /** Overrides the server the run was reported to. */
  trackingUri?: string;
  experimentName?: string;
  logger: Logger;
  /** Retry, timeout and transport settings for the client. */
  client?: Omit<MlflowClientOptions, 'trackingUri'>;
  env?: NodeJS.ProcessEnv;
}

export interface SyncResult {
  runDir: string;
  trackingUri: string;
  experimentId?: string;
  runId?: string;
  /** Lines of events.jsonl delivered by this call. */
  delivered: number;
  /** Lines of events.jsonl in all. */
  total: number;
  status: DeliveryStatus;
  /** The run in the MLflow UI. */
  url?: string;
}

/** The `mlflow` reporter entry of the run's resolved config, if it had one. */
function reporterEntry(run: RunInfo): {
  trackingUri?: string;
  experimentName?: string;
  runName?: string;
} {
  const reporters = run.resolvedConfig.reporters;
  if (!Array.isArray(reporters)) return {};
  const entry = reporters.find(
    (r: unknown) => (r as { type?: unknown } | null)?.type === 'mlflow',
  ) as { trackingUri?: unknown; experimentName?: unknown; runName?: unknown } | undefined;
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    trackingUri: text(entry?.trackingUri),
    experimentName: text(entry?.experimentName),
    runName: text(entry?.runName),
  };
}

/**
 * Deliver the undelivered events of one run directory, holding its sync lock (one sync per run
 * at a time). Throws UserError naming the line that failed.
 */
export async function syncRun(runDirArg: string, options: SyncOptions): Promise<SyncResult> {
  const runDir = resolve(runDirArg);
  if (!existsSync(join(runDir, EVENTS_FILE)))
    throw new UserError(`${runDir}: no ${EVENTS_FILE}: not an affectlab run directory`);
  const release = acquireSyncLock(runDir);
  try {
    return await syncUnlocked(runDir, options);
  } finally {
    release();
  }
}

async function syncUnlocked(runDir: string, options: SyncOptions): Promise<SyncResult> {
  const eventsFile = join(runDir, EVENTS_FILE);
  if (!existsSync(eventsFile))
    throw new UserError(`${runDir}: no ${EVENTS_FILE}: not an affectlab run directory`);
  const lines = readEventLines(runDir);
  const first = lines[0]?.event;
  if (!first || first.event !== 'runStarted') {
    throw new UserError(`${eventsFile}:1: expected a runStarted event as the first line`);
  }
  const run = first.run;
  const configured = reporterEntry(run);
  let state = readState(runDir);

  const env = options.env ?? process.env;
  const wanted =
    options.trackingUri ?? state?.trackingUri ?? configured.trackingUri ?? env.MLFLOW_TRACKING_URI;
  if (!wanted) {
    throw new UserError(
      `${runDir}: no MLflow tracking server known for this run: pass --tracking-uri or set MLFLOW_TRACKING_URI`,
    );
  }
  let trackingUri: string;
  try {
    trackingUri = parseTrackingUri(wanted).uri;
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  if (state && state.trackingUri !== trackingUri) {
    options.logger.warn(
      `mlflow: ${runDir} was reported to ${state.trackingUri}; sending it to ${trackingUri} from its start`,
    );
    state = {
      ...newState(trackingUri, options.experimentName ?? state.experimentName, state.runName),
      source: state.source,
    };
  }
  state ??= newState(
    trackingUri,
    options.experimentName ?? configured.experimentName ?? run.experiment,
    configured.runName,
  );
  if (state.syncedEvents > lines.length) {
    throw new UserError(
      `${join(runDir, 'mlflow.json')}: counts ${state.syncedEvents} delivered events but ${eventsFile} has ${lines.length} lines`,
    );
  }

  const before = state.syncedEvents;
  const result = (): SyncResult => ({
    runDir,
    trackingUri,
    experimentId: state?.experimentId,
    runId: state?.runId,
    delivered: (state?.syncedEvents ?? before) - before,
    total: lines.length,
    status: state?.status ?? 'PENDING',
    url:
      state?.experimentId && state.runId
        ? `${trackingUri}/#/experiments/${state.experimentId}/runs/${state.runId}`
        : undefined,
  });
  if (before === lines.length) return result();

  const client = new MlflowClient({ ...options.client, trackingUri: wanted });
  const delivery = new MlflowDelivery(client, runDir, state, options.logger, {
    runName: state.runName,
  });
  for (const line of lines.slice(before)) {
    const index = line.line - 1;
    try {
      if (line.event) await delivery.deliver(line.event, index);
      else delivery.skip(index, line.problem ?? 'not an event');
    } catch (error) {
      const message =
        error instanceof MlflowError ? error.message : client.redact((error as Error).message);
      state.lastError = message;
      delivery.save();
      const progress = `${state.syncedEvents - before} of ${lines.length - before} remaining event(s) delivered`;
      throw new UserError(
        `${delivery.where(index)}: ${message} (${progress}; run sync again to go on)`,
      );
    }
  }
  return result();
}

/**
 * Run directories under the given paths: a directory with events.jsonl is one; otherwise its
 * subdirectories are searched (runs/ and runs/<experiment>/ hold run directories).
 */
export function findRunDirs(paths: string[], depth = 2): string[] {
  const out: string[] = [];
  const visit = (dir: string, left: number) => {
    if (existsSync(join(dir, EVENTS_FILE))) {
      out.push(dir);
      return;
    }
    if (left === 0) return;
    for (const name of readdirSync(dir).sort()) {
      const child = join(dir, name);
      if (statSync(child).isDirectory()) visit(child, left - 1);
    }
  };
  for (const path of paths) {
    if (!existsSync(path) || !statSync(path).isDirectory())
      throw new UserError(`${path}: no such directory`);
    const before = out.length;
    visit(resolve(path), depth);
    if (out.length === before)
      throw new UserError(`${path}: no run directory (one with ${EVENTS_FILE}) here or below`);
  }
  return out;
}

export function registerSyncCommand(program: Command, runtime: Runtime): void {
  program
    .command('sync')
    .addHelpText(
      'after',
      '\nExamples:\n  $ affectlab sync runs/quickstart/<run-id>\n  $ affectlab sync runs/quickstart/* --tracking-uri http://127.0.0.1:5000 --json\n',
    )
    .description(
      'upload to MLflow what a run could not deliver while it ran (server down or gone), from its events.jsonl; nothing twice',
    )
    .argument(
      '<run-dir...>',
      'run directories, or folders holding them (runs/, runs/<experiment>/)',
    )
    .option(
      '--tracking-uri <uri>',
      'MLflow server (default: the one the run reported to, its mlflow reporter, MLFLOW_TRACKING_URI)',
    )
    .option(
      '--experiment-name <name>',
      "MLflow experiment for runs never synced (default: the experiment's name)",
    )
    .option('--json', 'print one JSON result per run')
    .addHelpText(
      'after',
      '\nA run stores its tracking URI with credentials redacted (http://***@host): a server that ' +
        'needs them gets them from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD ' +
        '(or MLFLOW_TRACKING_TOKEN), not from the run.',
    )
    .action(
      async (
        paths: string[],
        opts: { trackingUri?: string; experimentName?: string; json?: boolean },
      ) => {
        const logger = runtime.logger;
        let failed = 0;
        const runDirs = findRunDirs(paths);
        for (const runDir of runDirs) {
          try {
            const result = await syncRun(runDir, {
              trackingUri: opts.trackingUri,
              experimentName: opts.experimentName,
              logger,
            });
            if (opts.json) {
              process.stdout.write(JSON.stringify(result) + '\n');
            } else if (result.delivered === 0) {
              process.stdout.write(
                `${runDir}: already in sync (${result.total} events) ${result.url ?? ''}\n`,
              );
            } else {
              process.stdout.write(
                `${runDir}: delivered ${result.delivered} of ${result.total} events, run ${result.status}: ${result.url ?? result.trackingUri}\n`,
              );
            }
          } catch (error) {
            if (!(error instanceof UserError)) throw error;
            failed++;
            if (opts.json)
              process.stdout.write(JSON.stringify({ runDir, error: error.message }) + '\n');
            process.stderr.write(`affectlab: ${error.message}\n`);
          }
        }
        if (failed > 0) {
          process.stderr.write(`${failed} of ${runDirs.length} run(s) not fully synced\n`);
          process.exitCode = 1;
        }
      },
    );
}
