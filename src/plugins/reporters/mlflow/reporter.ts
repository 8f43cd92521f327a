import { inject, injectable } from 'tsyringe';
import {
  UserError,
  PLUGIN_OPTIONS,
  type ArtifactInfo,
  type EpochMetrics,
  type EventRecord,
  type ReporterPlugin,
  type RunEvent,
  type RunInfo,
  type RunStatus,
  type SweepEnd,
  type SweepInfo,
  Options,
  Type,
  definePlugin,
  type Static,
  Logger,
} from '../../../sdk/index.js';
import {
  MlflowClient,
  MlflowError,
  parseTrackingUri,
  redactUrl,
  type MlflowClientOptions,
} from './client.js';
import { artifactMode } from './artifact-root.js';
import {
  MlflowDelivery,
  newState,
  readEventLines,
  markTrainingExperiment,
  readState,
  runUrl,
  type MlflowRunState,
} from './delivery.js';
import { gatherSourceFacts, gitRootOf, sourceNameOf, toMetrics } from './mapping.js';
import { SystemMetricsSampler } from './system-metrics.js';
import { logRunModel } from './log-model.js';

const mlflowReporterOptions = Options({
  trackingUri: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'MLflow tracking server, http(s)://host:port. Default: MLFLOW_TRACKING_URI.',
    }),
  ),
  experimentName: Type.Optional(
    Type.String({
      minLength: 1,
      description: "MLflow experiment (created when missing). Default: the experiment's name.",
    }),
  ),
  runName: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'MLflow run name. Default: the experiment file name without extension.',
    }),
  ),
  // no schema default: unset means the MLflow environment variable, then the client's default
  maxRetries: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 10,
      description:
        'Retries of a request that failed transiently (network, 429, 5xx), with exponential backoff. Default: MLFLOW_HTTP_REQUEST_MAX_RETRIES, else 3.',
    }),
  ),
  requestTimeoutSeconds: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 86_400,
      description: 'Per-request timeout. Default: MLFLOW_HTTP_REQUEST_TIMEOUT, else 30.',
    }),
  ),
  artifacts: Type.Union([Type.Literal('upload'), Type.Literal('metrics-only')], {
    default: 'upload',
    description:
      "upload: the run's files go to the server's artifact store (through the server, or written directly to a local file: root); the run does not start when the store cannot take them. metrics-only: params, tags and metrics only.",
  }),
  systemMetricsIntervalSeconds: Type.Number({
    minimum: 0,
    maximum: 3600,
    default: 10,
    description:
      "Seconds between samples of CPU, memory, disk and GPU use, logged as MLflow's system/* metrics (its System metrics tab); 0 turns them off.",
  }),
  logModel: Type.Boolean({
    default: true,
    description:
      "Log a finished run's model (its best checkpoint) as an MLflow 3 LoggedModel of the run: keras flavor with python_function, signature, input example, classes, preprocessing and the evaluation's metrics, loadable as models:/<model_id> (what `affectlab export --format mlflow` writes; no Python needed to write it). false: only the tfjs files as artifacts.",
  }),
  reconnectAfterSeconds: Type.Number({
    minimum: 0,
    maximum: 86_400,
    default: 60,
    description:
      'While the server is unreachable the run goes on offline; at the next event this long after the last try, the reporter tries again and delivers what it missed.',
  }),
});
export type MlflowReporterOptions = Static<typeof mlflowReporterOptions>;

/** One event to deliver, or a line of events.jsonl that is not an event (skipped with a warning). */
interface PendingLine {
  index: number;
  event?: RunEvent;
  problem?: string;
}

/** How long a reconnection probe may take: a hung server must not stall training for long. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * Reports a run to an MLflow tracking server. It never throws: when the server cannot be
 * reached it logs one warning, keeps the missed events in memory (they are in events.jsonl too),
 * retries at later events, and otherwise leaves them to `affectlab sync <run-dir>`.
 */
@injectable()
export class MlflowReporter implements ReporterPlugin {
  readonly trackingUri: string;
  private readonly options: MlflowReporterOptions;
  private readonly client: MlflowClient;
  private readonly probeClient: MlflowClient;
  private delivery?: MlflowDelivery;
  private nextIndex = 0;
  private queue: Promise<void> = Promise.resolve();
  private backlog: PendingLine[] = [];
  private offline = false;
  private sweepRun?: { id: string; experimentId: string };
  private warned = false;
  private nextProbeAt = 0;
  private sampler?: SystemMetricsSampler;

  constructor(
    @inject(PLUGIN_OPTIONS) options: MlflowReporterOptions,
    private readonly logger: Logger,
  ) {
    this.options = options;
    const uri = this.options.trackingUri ?? process.env.MLFLOW_TRACKING_URI;
    if (!uri) {
      throw new UserError(
        'reporter mlflow: no tracking server: set reporters[].trackingUri or MLFLOW_TRACKING_URI (e.g. http://127.0.0.1:5000)',
      );
    }
    try {
      this.trackingUri = parseTrackingUri(uri).uri;
    } catch (error) {
      throw new UserError(`reporter mlflow: ${(error as Error).message}`);
    }
    const clientOptions: MlflowClientOptions = {
      trackingUri: uri,
      retry:
        this.options.maxRetries === undefined ? undefined : { maxRetries: this.options.maxRetries },
      timeoutMs:
        this.options.requestTimeoutSeconds === undefined
          ? undefined
          : this.options.requestTimeoutSeconds * 1000,
    };
    this.client = new MlflowClient(clientOptions);
    this.probeClient = new MlflowClient({
      ...clientOptions,
      retry: { maxRetries: 0 },
      timeoutMs: PROBE_TIMEOUT_MS,
    });
  }

  /**
   * Before the run: where the server keeps this experiment's artifacts, and whether this machine
   * can put files there (through the server, or a local `file:` root it can write). When the
   * server answers and neither works, the run does not start, unless `artifacts: metrics-only`.
   * An unreachable server is no reason to stop: the run goes on offline (affectlab sync).
   */
  async preflight(run: { experiment: string }): Promise<void> {
    if (this.options.artifacts === 'metrics-only') return;
    const name = this.options.experimentName ?? run.experiment;
    let experiment;
    try {
      experiment = await this.probeClient.getOrCreateExperiment(name);
    } catch (error) {
      if (error instanceof MlflowError && error.transient) return;
      throw new UserError(`reporter mlflow: ${this.client.redact((error as Error).message)}`);
    }
    const mode = artifactMode(experiment.artifactLocation);
    if (mode.kind !== 'unusable') return;
    throw new UserError(
      `reporter mlflow: ${this.trackingUri} keeps the artifacts of experiment '${name}' at ` +
        `'${redactUrl(experiment.artifactLocation)}', and ${mode.reason}. ` +
        `Start 'mlflow server' with --serve-artifacts (the default) so files go through the server, ` +
        `run where that directory is writable, or set 'artifacts: metrics-only' on the mlflow reporter ` +
        `to log params and metrics without files.`,
    );
  }

  /** Whether events are waiting for the server to come back. */
  get isOffline(): boolean {
    return this.offline;
  }

  /** The delivery state (mlflow.json) of the current run, once it started. */
  get state(): MlflowRunState | undefined {
    return this.delivery?.state;
  }

  /**
   * The sweep's parent run: its spec and swept keys as params; each combination's run becomes
   * its child through `mlflow.parentRunId`, so the MLflow UI nests them.
   */
  async sweepStarted(sweep: SweepInfo): Promise<Record<string, string>> {
    const experiment = await this.client.getOrCreateExperiment(
      this.options.experimentName ?? sweep.experiment,
    );
    await markTrainingExperiment(this.client, experiment);
    const name = `${sweep.experiment}-sweep-${sweep.sweepId}`;
    // the children run from copies under the sweep folder; they name the experiment file
    const sourceName = sourceNameOf(sweep.sourceFile, await gitRootOf(sweep.sourceFile));
    const parent = await this.client.createRun({
      experimentId: experiment.experimentId,
      runName: name,
      startTime: sweep.startTime,
      tags: [
        { key: 'mlflow.runName', value: name },
        { key: 'mlflow.source.name', value: sourceName },
        { key: 'mlflow.source.type', value: 'LOCAL' },
        { key: 'affectlab.sweep', value: sweep.sweepId },
        { key: 'affectlab.sweepDir', value: sweep.sweepDir },
        {
          key: 'mlflow.note.content',
          value: `Sweep of ${sweep.experiment} (${sweep.mode}, ${sweep.combinations.length} combinations, ${sweep.launcher.type} launcher), from ${sweep.sourceFile}`,
        },
      ],
    });
    this.sweepRun = { id: parent.runId, experimentId: experiment.experimentId };
    await this.client.logBatch(parent.runId, {
      params: [
        { key: 'sweep.mode', value: sweep.mode },
        { key: 'sweep.keys', value: Object.keys(sweep.parameters).join(', ') },
        { key: 'sweep.combinations', value: String(sweep.combinations.length) },
        { key: 'sweep.launcher', value: sweep.launcher.type },
        ...Object.entries(sweep.parameters).map(([k, v]) => ({
          key: `sweep.parameters.${k}`.slice(0, 250),
          value: JSON.stringify(v).slice(0, 6000),
        })),
      ],
    });
    this.logger.info(
      `mlflow: sweep ${sweep.sweepId}: ${runUrl(this.trackingUri, experiment.experimentId, parent.runId)}`,
    );
    return { 'mlflow.parentRunId': parent.runId, 'mlflow.source.name': sourceName };
  }

  /** The best child and its metric on the parent; the parent ends with the sweep's status. */
  async sweepEnded(sweep: SweepInfo, end: SweepEnd): Promise<void> {
    // a resumed sweep finds its parent by tag
    let parent = this.sweepRun;
    if (!parent) {
      const experiment = await this.client.getOrCreateExperiment(
        this.options.experimentName ?? sweep.experiment,
      );
      const found = await this.client.searchRuns(
        [experiment.experimentId],
        `tags.\`affectlab.sweep\` = '${sweep.sweepId.replace(/'/g, "\\'")}' and tags.\`mlflow.runName\` LIKE '%-sweep-%'`,
        5,
      );
      const run = found.find((r) => !r.tags['mlflow.parentRunId']);
      if (!run) return;
      parent = { id: run.info.runId, experimentId: experiment.experimentId };
    }
    const now = Date.now();
    await this.client.logBatch(parent.id, {
      metrics: [
        { key: 'sweep_finished', value: end.finished, timestamp: now, step: 0 },
        { key: 'sweep_failed', value: end.failed, timestamp: now, step: 0 },
        ...(end.best
          ? [{ key: `best_${end.best.metric}`, value: end.best.value, timestamp: now, step: 0 }]
          : []),
      ],
      tags: end.best
        ? [
            { key: 'affectlab.best.runId', value: end.best.runId },
            { key: 'affectlab.best.overrides', value: end.best.overrides.join(' ') },
            { key: 'affectlab.best.metric', value: end.best.metric },
            { key: 'affectlab.best.value', value: String(end.best.value) },
          ]
        : [],
    });
    await this.client.updateRun(parent.id, { status: end.status, endTime: now });
    this.logger.info(
      `mlflow: sweep ${sweep.sweepId}: ${runUrl(this.trackingUri, parent.experimentId, parent.id)}`,
    );
  }

  runStarted(run: RunInfo, record?: EventRecord): Promise<void> {
    return this.enqueue(async () => {
      // One reporter instance per run is the rule; if one is reused, the last run's leftovers
      // stay in that run's events.jsonl for `affectlab sync`.
      this.backlog = [];
      this.offline = false;
      const delivery = await this.open(run);
      const index = record?.line ?? this.indexOfRunStarted(run);
      this.nextIndex = index + 1;
      const pending: PendingLine[] = [];
      if (delivery.state.syncedEvents > index) {
        this.logger.warn(
          `mlflow: ${run.runDir}/mlflow.json counts more events than events.jsonl holds; delivering from line ${index + 1}`,
        );
        delivery.state.syncedEvents = index;
      }
      // A resumed run: deliver what an earlier process left undelivered first.
      for (const line of readEventLines(run.runDir)) {
        const lineIndex = line.line - 1;
        if (lineIndex >= delivery.state.syncedEvents && lineIndex < index)
          pending.push({ index: lineIndex, ...line });
      }
      pending.push({
        index,
        event: record?.event ?? { event: 'runStarted', time: Date.now(), run },
      });
      await this.process(pending);
      this.startSampler(run);
    });
  }

  /** System metrics in the background, live only (they are not events of the run). */
  private startSampler(run: RunInfo): void {
    const seconds = this.options.systemMetricsIntervalSeconds;
    if (this.sampler || !(seconds > 0)) return;
    this.sampler = new SystemMetricsSampler({
      intervalMs: seconds * 1000,
      diskPath: run.runDir,
      send: (sample) =>
        this.enqueue(async () => {
          const runId = this.delivery?.state.runId;
          if (this.offline || !runId) return;
          await this.client.logBatch(runId, {
            metrics: toMetrics(sample.metrics, sample.step, sample.timestamp),
          });
        }),
    });
    this.sampler.start();
  }

  epochEnded(_run: RunInfo, epoch: EpochMetrics, record?: EventRecord): Promise<void> {
    return this.push({ event: 'epochEnded', time: Date.now(), epoch }, record);
  }

  evaluated(
    _run: RunInfo,
    metrics: Record<string, number>,
    step: number,
    record?: EventRecord,
  ): Promise<void> {
    return this.push({ event: 'evaluated', time: Date.now(), metrics, step }, record);
  }

  artifact(_run: RunInfo, artifact: ArtifactInfo, record?: EventRecord): Promise<void> {
    return this.push({ event: 'artifact', time: Date.now(), artifact }, record);
  }

  async runEnded(
    run: RunInfo,
    status: RunStatus,
    error?: string,
    record?: EventRecord,
  ): Promise<void> {
    const event: RunEvent = { event: 'runEnded', time: Date.now(), status, error };
    // the last system sample goes out before the run is marked ended
    const sampler = this.sampler;
    this.sampler = undefined;
    await sampler?.stop();
    return this.enqueue(async () => {
      // the model goes to the run while it is still running, after its evaluation's metrics
      if (this.shouldLogModel(status)) await logRunModel(run.runDir, this.logger);
      await this.process([this.lineOf(event, record)]);
      // One last try at the end, whatever the reconnect interval.
      if (this.offline) await this.reconnect();
      if (this.offline) {
        this.logger.info(
          `mlflow: ${this.backlog.length} event(s) of this run did not reach ${this.trackingUri}; ` +
            `deliver them with: affectlab sync ${run.runDir}`,
        );
      }
    });
  }

  /** A finished run that reached the server, with artifacts and logModel on. */
  private shouldLogModel(status: RunStatus): boolean {
    return (
      status === 'FINISHED' &&
      this.options.logModel &&
      this.options.artifacts !== 'metrics-only' &&
      !this.offline &&
      this.backlog.length === 0 &&
      this.delivery?.state.runId !== undefined
    );
  }

  /** Queue one event; the queue keeps the order in which events were reported, and so their lines. */
  private push(event: RunEvent, record?: EventRecord): Promise<void> {
    return this.enqueue(() => this.process([this.lineOf(event, record)]));
  }

  /**
   * The line an event is: given by the hub (line index and the event as written, so a live
   * delivery and a later sync send the very same timestamps), or, called without a hub, the
   * next line as far as this reporter counts (read back from events.jsonl, slow: tests only).
   */
  private lineOf(event: RunEvent, record?: EventRecord): PendingLine {
    if (record) {
      this.nextIndex = record.line + 1;
      return { index: record.line, event: record.event };
    }
    const index = this.nextIndex++;
    return { index, event: this.asWritten(event, index) };
  }

  /**
   * The event as the run store wrote it on its line, when it is there: delivering the very same
   * timestamps live and in a later sync makes any repeat delivery a no-op at the server (MLflow
   * keeps one row per metric key, step, timestamp and value).
   */
  private asWritten(event: RunEvent, index: number): RunEvent {
    if (!this.delivery) return event;
    try {
      const written = readEventLines(this.delivery.runDir)[index]?.event;
      const withoutTime = (e: RunEvent) => JSON.stringify({ ...e, time: 0 });
      return written && withoutTime(written) === withoutTime(event) ? written : event;
    } catch {
      return event;
    }
  }

  /** Run reporter work one piece at a time, never rejecting. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(work).catch((error: unknown) => this.goOffline(error));
    return this.queue;
  }

  /** Load or start mlflow.json for this run; the source facts are taken now, as the run starts. */
  private async open(run: RunInfo): Promise<MlflowDelivery> {
    const experimentName = this.options.experimentName ?? run.experiment;
    let state: MlflowRunState | undefined;
    try {
      state = readState(run.runDir);
    } catch (error) {
      this.logger.warn(`mlflow: ${(error as Error).message}`);
    }
    if (state && state.trackingUri !== this.trackingUri) {
      this.logger.warn(
        `mlflow: this run was reported to ${state.trackingUri}; it now goes to ${this.trackingUri} as a new MLflow run`,
      );
      state = undefined;
    }
    state ??= newState(this.trackingUri, experimentName, this.options.runName);
    state.source ??= await gatherSourceFacts(run);
    this.delivery = new MlflowDelivery(this.client, run.runDir, state, this.logger, {
      runName: this.options.runName,
      metricsOnly: this.options.artifacts === 'metrics-only',
    });
    this.delivery.save();
    return this.delivery;
  }

  /**
   * The line of events.jsonl that this runStarted is. The run store may write the line before
   * or after calling reporters: if the last line is this very runStarted, it is that line.
   */
  private indexOfRunStarted(run: RunInfo): number {
    const lines = readEventLines(run.runDir);
    const last = lines.at(-1)?.event;
    const isThis =
      last?.event === 'runStarted' &&
      last.run.runId === run.runId &&
      last.run.startTime === run.startTime;
    return isThis ? lines.length - 1 : lines.length;
  }

  /** Deliver lines in order; once offline, keep them for later. */
  private async process(lines: PendingLine[]): Promise<void> {
    const delivery = this.delivery;
    if (!delivery) {
      // loops, not push(...lines): a catch-up batch can be a whole events.jsonl of a long run
      for (const line of lines) this.backlog.push(line);
      throw new Error('an event came before runStarted');
    }
    if (this.offline) {
      for (const line of lines) this.backlog.push(line);
      if (Date.now() >= this.nextProbeAt) await this.reconnect();
      return;
    }
    for (const [i, line] of lines.entries()) {
      try {
        if (line.event) await delivery.deliver(line.event, line.index);
        else delivery.skip(line.index, line.problem ?? 'not an event');
      } catch (error) {
        for (let k = i; k < lines.length; k++) this.backlog.push(lines[k]);
        this.goOffline(error);
        return;
      }
    }
  }

  private goOffline(error: unknown): void {
    const message =
      error instanceof MlflowError ? error.message : `${(error as Error).message ?? String(error)}`;
    const text = this.client.redact(message);
    this.offline = true;
    this.nextProbeAt = Date.now() + this.options.reconnectAfterSeconds * 1000;
    if (this.delivery) {
      this.delivery.state.lastError = text;
      try {
        this.delivery.save();
      } catch {
        // the state file is a convenience; events.jsonl still has every event
      }
    }
    const where = this.delivery ? this.delivery.runDir : 'the run directory';
    const line =
      `mlflow: ${text}; the run goes on and its events stay in ${where}/events.jsonl: ` +
      `they are sent when ${this.trackingUri} answers again, or with: affectlab sync ${where}`;
    if (this.warned) this.logger.info(line);
    else this.logger.warn(line);
    this.warned = true;
  }

  /** Try the server once, quickly; when it answers, deliver the backlog in order. */
  private async reconnect(): Promise<void> {
    const delivery = this.delivery;
    if (!delivery) return;
    try {
      await this.probeClient.getExperimentByName(delivery.state.experimentName);
    } catch {
      this.nextProbeAt = Date.now() + this.options.reconnectAfterSeconds * 1000;
      return;
    }
    const pending = this.backlog;
    this.backlog = [];
    this.offline = false;
    await this.process(pending);
    if (!this.offline)
      this.logger.info(
        `mlflow: ${this.trackingUri} answers again; delivered ${pending.length} pending event(s)`,
      );
  }
}

export const mlflowReporter = definePlugin({
  kind: 'reporter',
  type: 'mlflow',
  description:
    'MLflow tracking server: params, metrics per epoch, test metrics, dataset input, artifacts and status; offline-safe (affectlab sync)',
  options: mlflowReporterOptions,
  implementation: MlflowReporter,
});
