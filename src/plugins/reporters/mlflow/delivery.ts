/**
 * Delivery of run events to MLflow, shared by the live reporter and `affectlab sync`: both feed
 * the same RunEvents (the ones the run store writes to events.jsonl) in order, one at a time,
 * and `<runDir>/mlflow.json` records how many lines of events.jsonl have been fully delivered,
 * so whatever was not delivered during the run is delivered later exactly once.
 */
import {
  existsSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
import {
  UserError,
  type RunEvent,
  type RunInfo,
  type RunStatus,
  type Logger,
} from '../../../sdk/index.js';
import {
  MLFLOW_LIMITS,
  MlflowError,
  redactUrl,
  type MlflowClient,
  type MlflowKeyValue,
} from './client.js';
import {
  currentUser,
  datasetInput,
  runNameOf,
  runParams,
  runTags,
  toMetrics,
  truncate,
  type NamingOptions,
  type SourceFacts,
} from './mapping.js';
import {
  epochMetricName,
  epochStep,
  evaluationMetricName,
  isWeightedLoss,
} from './metric-names.js';
import { LOGGED_ARTIFACTS_TAG, evaluationTables, loggedArtifactsTag } from './tables.js';
import {
  artifactMode,
  localArtifactDir,
  writeLocalArtifact,
  type ArtifactMode,
} from './artifact-root.js';

/** How a delivery names the run and whether it sends artifacts at all. */
export interface DeliveryOptions extends NamingOptions {
  /** Log params, tags and metrics only: no artifact is sent (the reporter's `artifacts: metrics-only`). */
  metricsOnly?: boolean;
}

/** An artifact root that cannot take this run's files, now or later: said once, not retried. */
class ArtifactStoreError extends Error {}

export const STATE_FILE = 'mlflow.json';
export const EVENTS_FILE = 'events.jsonl';

/** Where the MLflow copy of a run stands: `PENDING` until the MLflow run exists. */
export type DeliveryStatus = 'PENDING' | 'RUNNING' | RunStatus;

/** The content of `<runDir>/mlflow.json`. */
export interface MlflowRunState {
  trackingUri: string;
  experimentName: string;
  experimentId?: string;
  runId?: string;
  artifactUri?: string;
  /** Lines of events.jsonl fully delivered: the next one to deliver is line `syncedEvents + 1`. */
  syncedEvents: number;
  status: DeliveryStatus;
  /** User and git commit when the run started; sync later may run elsewhere, on another commit. */
  source?: SourceFacts;
  /** Run name and experiment name as the reporter was configured. */
  runName?: string;
  /** Whether the run's loss is class-weighted (names its losses; see metric-names.ts). */
  weightedLoss?: boolean;
  lastError?: string;
  updatedAt: number;
}

export function newState(
  trackingUri: string,
  experimentName: string,
  runName?: string,
): MlflowRunState {
  return {
    trackingUri,
    experimentName,
    runName,
    syncedEvents: 0,
    status: 'PENDING',
    updatedAt: Date.now(),
  };
}

export function readState(runDir: string): MlflowRunState | undefined {
  const file = join(runDir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  let parsed: Partial<MlflowRunState>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<MlflowRunState>;
  } catch (error) {
    throw new UserError(
      `${file}: not valid JSON (${(error as Error).message}); delete it to sync the run from its start`,
    );
  }
  if (
    typeof parsed.trackingUri !== 'string' ||
    typeof parsed.experimentName !== 'string' ||
    !Number.isInteger(parsed.syncedEvents)
  ) {
    throw new UserError(
      `${file}: expected trackingUri, experimentName and syncedEvents; delete it to sync the run from its start`,
    );
  }
  return parsed as MlflowRunState;
}

/** Replace mlflow.json atomically (the temporary name ends in .tmp, which the run store never uploads). */
export function writeState(runDir: string, state: MlflowRunState): void {
  const file = join(runDir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...state, updatedAt: Date.now() }, null, 2) + '\n');
  renameSync(tmp, file);
}

/** One line of events.jsonl: `event` is undefined for a line that is not a JSON event. */
export interface EventLine {
  /** 1-based line number, for messages. */
  line: number;
  event?: RunEvent;
  problem?: string;
}

/**
 * The lines of `<runDir>/events.jsonl`. A last line without its newline that does not parse is
 * a write in progress (or cut by a crash) and is left out, so it is delivered once complete.
 */
export function readEventLines(runDir: string): EventLine[] {
  const file = join(runDir, EVENTS_FILE);
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const parts = text.split('\n');
  const complete = text.endsWith('\n');
  if (complete) parts.pop();
  const lines: EventLine[] = [];
  parts.forEach((raw, i) => {
    const isLast = i === parts.length - 1;
    try {
      const event = JSON.parse(raw) as RunEvent;
      if (!event || typeof event !== 'object' || typeof event.event !== 'string')
        throw new Error('no "event" field');
      lines.push({ line: i + 1, event });
    } catch (error) {
      if (isLast && !complete) return;
      lines.push({
        line: i + 1,
        problem: raw.trim() === '' ? 'empty line' : (error as Error).message,
      });
    }
  });
  return lines;
}

/** The MLflow status of a finished affectlab run. */
function mlflowStatus(status: RunStatus): RunStatus {
  return status === 'FINISHED' || status === 'FAILED' || status === 'KILLED' ? status : 'FAILED';
}

/**
 * Delivers events in order to one MLflow run and keeps mlflow.json up to date. Not safe to
 * call concurrently: callers deliver one event at a time.
 */
export class MlflowDelivery {
  private warnedArtifactStore = false;
  private readonly modes = new Map<string, ArtifactMode>();

  constructor(
    readonly client: MlflowClient,
    readonly runDir: string,
    readonly state: MlflowRunState,
    private readonly logger: Logger,
    private readonly naming: DeliveryOptions = {},
  ) {}

  save(): void {
    writeState(this.runDir, this.state);
  }

  /**
   * Deliver the event on line `index + 1` of events.jsonl. Events already delivered are skipped;
   * an event past the next undelivered one is refused (delivering it would lose the ones between).
   */
  async deliver(event: RunEvent, index: number): Promise<void> {
    if (index < this.state.syncedEvents) return;
    if (index > this.state.syncedEvents) {
      throw new Error(
        `events.jsonl line ${index + 1} delivered before line ${this.state.syncedEvents + 1}`,
      );
    }
    switch (event.event) {
      case 'runStarted':
        await this.startRun(event.run);
        break;
      case 'epochEnded': {
        const weighted = this.weightedLoss();
        await this.logMetrics(
          toMetrics(event.epoch.metrics, epochStep(event.epoch.epoch), event.epoch.timestamp, (k) =>
            epochMetricName(k, weighted),
          ),
        );
        break;
      }
      case 'evaluated': {
        const weighted = this.weightedLoss();
        await this.logMetrics(
          toMetrics(event.metrics, epochStep(event.step), event.time, (k) =>
            evaluationMetricName(k, weighted),
          ),
        );
        break;
      }
      case 'artifact':
        await this.uploadArtifact(event.artifact.path, event.artifact.absolutePath);
        break;
      case 'runEnded':
        await this.endRun(event.status, event.time, event.error);
        break;
      default:
        this.logger.warn(
          `mlflow: ${this.where(index)}: unknown event '${(event as { event: string }).event}' skipped`,
        );
    }
    this.state.syncedEvents = index + 1;
    this.state.lastError = undefined;
    this.save();
  }

  /** Mark a line that cannot be delivered (not an event) as done, with a warning naming it. */
  skip(index: number, problem: string): void {
    if (index !== this.state.syncedEvents) return;
    this.logger.warn(`mlflow: ${this.where(index)}: skipped (${problem})`);
    this.state.syncedEvents = index + 1;
    this.save();
  }

  where(index: number): string {
    return `${join(this.runDir, EVENTS_FILE)}:${index + 1}`;
  }

  /**
   * Whether the run's loss is class-weighted: known since its runStarted was delivered, or,
   * for a state written before this was recorded, read from the runStarted of events.jsonl.
   */
  private weightedLoss(): boolean {
    if (this.state.weightedLoss === undefined) {
      const started = readEventLines(this.runDir).find((l) => l.event?.event === 'runStarted');
      const event = started?.event;
      this.state.weightedLoss = event?.event === 'runStarted' ? isWeightedLoss(event.run) : false;
    }
    return this.state.weightedLoss;
  }

  private requireRunId(): string {
    if (!this.state.runId)
      throw new Error('the MLflow run does not exist yet: runStarted was not delivered');
    return this.state.runId;
  }

  /** Create the MLflow run (or find the one made earlier for this run), then log params, tags, input. */
  private async startRun(run: RunInfo): Promise<void> {
    const source = this.state.source ?? { user: currentUser() };
    this.state.source = source;
    this.state.weightedLoss = isWeightedLoss(run);
    const naming = { ...this.naming, runName: this.naming.runName ?? this.state.runName };
    if (!this.state.experimentId) {
      const experiment = await this.client.getOrCreateExperiment(this.state.experimentName);
      this.state.experimentId = experiment.experimentId;
      await markTrainingExperiment(this.client, experiment);
      this.save();
    }
    const experimentId = this.state.experimentId;
    const tags = runTags(run, source, naming);
    let params = runParams(run);
    let existing = Boolean(this.state.runId);
    if (!this.state.runId) {
      // A run created by a call whose answer was lost (or before mlflow.json was deleted) is found
      // by its affectlab run id instead of being created twice.
      const found = await this.client.searchRuns(
        [experimentId],
        `tags.\`affectlab.runId\` = '${run.runId.replace(/'/g, "\\'")}'`,
        10,
      );
      const match = found.find((r) => r.info.lifecycleStage === 'active') ?? found[0];
      if (match) {
        this.state.runId = match.info.runId;
        this.state.artifactUri = match.info.artifactUri;
        existing = true;
      } else {
        const created = await this.client.createRun({
          experimentId,
          runName: runNameOf(run, naming),
          startTime: run.startTime,
          userId: source.user,
          tags: tags.filter(
            (t) =>
              t.key === 'affectlab.runId' || t.key === 'mlflow.runName' || t.key === 'mlflow.user',
          ),
        });
        this.state.runId = created.runId;
        this.state.artifactUri = created.artifactUri;
        this.logger.info(
          `mlflow: run ${runNameOf(run, naming)}: ${runUrl(this.state.trackingUri, experimentId, created.runId)}`,
        );
      }
      this.state.status = 'RUNNING';
      this.save();
    }
    const runId = this.state.runId;
    if (existing) {
      // A resumed run, or a repeat after a partial delivery: MLflow refuses to change a param,
      // so log only the new ones and say which changed.
      const current = await this.client.getRun(runId);
      this.state.artifactUri = current.info.artifactUri;
      const changed = params.filter(
        (p) => current.params[p.key] !== undefined && current.params[p.key] !== p.value,
      );
      for (const p of changed) {
        this.logger.warn(
          `mlflow: param ${p.key} changed to '${truncate(p.value, 80)}' but MLflow keeps '${truncate(current.params[p.key], 80)}'`,
        );
      }
      params = params.filter((p) => current.params[p.key] === undefined);
      if (current.info.status !== 'RUNNING')
        await this.client.updateRun(runId, { status: 'RUNNING' });
    }
    await this.client.logBatch(runId, { params, tags });
    await this.client.logInputs(runId, [datasetInput(run)]);
    this.state.status = 'RUNNING';
  }

  private async logMetrics(metrics: ReturnType<typeof toMetrics>): Promise<void> {
    const runId = this.requireRunId();
    if (metrics.length > 0) await this.client.logBatch(runId, { metrics });
  }

  /** Upload a file, or every file under a directory, keeping its path relative to the run directory. */
  private async uploadArtifact(path: string, absolutePath: string): Promise<void> {
    const runId = this.requireRunId();
    if (this.naming.metricsOnly) return;
    const rel = path.split(sep).join('/');
    if (rel === STATE_FILE || rel.endsWith('.tmp')) return; // our own state: it changes after upload
    const inRunDir = join(this.runDir, path);
    const local = existsSync(inRunDir)
      ? inRunDir
      : existsSync(absolutePath)
        ? absolutePath
        : undefined;
    if (!local) {
      this.logger.warn(`mlflow: artifact ${rel} is gone from ${this.runDir}; not uploaded`);
      return;
    }
    if (!this.state.artifactUri)
      this.state.artifactUri = (await this.client.getRun(runId)).info.artifactUri;
    const artifactUri = this.state.artifactUri;
    const files = statSync(local).isDirectory()
      ? listFiles(local).map((f) => ({
          file: f,
          artifactPath: `${rel}/${relative(local, f).split(sep).join('/')}`,
        }))
      : [{ file: local, artifactPath: rel }];
    try {
      for (const { file, artifactPath } of files)
        await this.put(artifactUri, artifactPath, readFileSync(file));
      if (rel === 'metrics.json')
        await this.logTables(runId, artifactUri, readFileSync(local, 'utf8'));
    } catch (error) {
      // An artifact root that cannot take files cannot take them later either: say so once.
      if (!(error instanceof ArtifactStoreError)) throw error;
      if (!this.warnedArtifactStore) this.logger.warn(`mlflow: ${error.message}`);
      this.warnedArtifactStore = true;
    }
  }

  /**
   * One artifact to the run's artifact root: through the server's proxy, or, for a local
   * `file:` root (a server without --serve-artifacts), written there directly as MLflow's own
   * client does.
   */
  private async put(artifactUri: string, artifactPath: string, data: Uint8Array): Promise<void> {
    const mode = this.modes.get(artifactUri) ?? artifactMode(artifactUri);
    this.modes.set(artifactUri, mode);
    if (mode.kind === 'unusable') {
      throw new ArtifactStoreError(
        `the run's artifact root '${redactUrl(artifactUri)}' cannot be used: ${mode.reason}; ` +
          `the files stay in ${this.runDir}`,
      );
    }
    if (mode.kind === 'local') {
      writeLocalArtifact(mode.dir, artifactPath, data);
      return;
    }
    try {
      await this.client.uploadArtifact(artifactUri, artifactPath, data);
    } catch (error) {
      if (error instanceof MlflowError && !error.transient && localArtifactDir(artifactUri))
        throw new ArtifactStoreError(error.message);
      throw error;
    }
  }

  /** The final evaluation's tables (per-class metrics, confusion matrix), listed for MLflow's UI. */
  private async logTables(runId: string, artifactUri: string, metricsJson: string): Promise<void> {
    const tables = evaluationTables(metricsJson);
    if (tables.length === 0) return;
    for (const { path, table } of tables)
      await this.put(artifactUri, path, Buffer.from(JSON.stringify(table)));
    const current = (await this.client.getRun(runId)).tags[LOGGED_ARTIFACTS_TAG];
    const value = loggedArtifactsTag(
      current,
      tables.map((t) => t.path),
    );
    await this.client.logBatch(runId, { tags: [{ key: LOGGED_ARTIFACTS_TAG, value }] });
  }

  private async endRun(status: RunStatus, endTime: number, error?: string): Promise<void> {
    const runId = this.requireRunId();
    if (error) {
      const tags: MlflowKeyValue[] = [
        { key: 'affectlab.error', value: truncate(error, MLFLOW_LIMITS.tagValueLength) },
      ];
      await this.client.logBatch(runId, { tags });
    }
    await this.client.updateRun(runId, { status: mlflowStatus(status), endTime });
    this.state.status = mlflowStatus(status);
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out;
}

/** The MLflow UI's page of one run. */
export function runUrl(trackingUri: string, experimentId: string, runId: string): string {
  return `${trackingUri.replace(/\/+$/, '')}/#/experiments/${experimentId}/runs/${runId}`;
}

/**
 * MLflow 3 opens an experiment on the view its `mlflow.experimentKind` names; training runs
 * belong on the runs table, not the GenAI traces view. An experiment that has a kind keeps it.
 */
export async function markTrainingExperiment(
  client: MlflowClient,
  experiment: { experimentId: string; tags?: Record<string, string> },
): Promise<void> {
  if (experiment.tags?.['mlflow.experimentKind']) return;
  await client.setExperimentTag(
    experiment.experimentId,
    'mlflow.experimentKind',
    'custom_model_development',
  );
}
