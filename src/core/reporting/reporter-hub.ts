import type {
  ArtifactInfo,
  EpochMetrics,
  EventRecord,
  ReporterPlugin,
  RunEvent,
  RunInfo,
  RunStatus,
} from '../../sdk/contracts/run.js';
import type { Logger } from '../../sdk/services.js';
import type { RunStore } from './run-store.js';
import { redactUrlCredentials } from '../redact.js';
import type { StepProgress } from '../runner/trainer.js';

/** Step-level progress, for reporters that draw progress bars. Not stored: too frequent. */
export interface ProgressReporter {
  stepEnded?(run: RunInfo, progress: StepProgress): void;
}

type Reporter = ReporterPlugin & ProgressReporter;

export interface ReporterHubOptions {
  /** Events one reporter may have waiting; beyond it, its events are dropped (they stay in events.jsonl). */
  maxQueued?: number;
  /** How long the run's end waits for reporters to finish delivering. */
  drainTimeoutMs?: number;
}

/** One reporter's background queue: its events in order, one at a time, bounded. */
class ReporterQueue {
  private tail: Promise<void> = Promise.resolve();
  queued = 0;
  dropped = 0;
  failed = false;

  constructor(
    readonly reporter: Reporter,
    private readonly maxQueued: number,
    private readonly onError: (name: string, error: unknown) => void,
    private readonly onDrop: () => void,
  ) {}

  /** Resolves once this reporter handled the event (never rejects). */
  push(name: string, call: (r: Reporter) => unknown): Promise<void> {
    if (this.queued >= this.maxQueued) {
      if (this.dropped++ === 0) this.onDrop();
      return Promise.resolve();
    }
    this.queued++;
    this.tail = this.tail
      .then(async () => {
        await call(this.reporter);
      })
      .catch((error: unknown) => this.onError(name, error))
      .finally(() => {
        this.queued--;
      });
    return this.tail;
  }

  idle(): Promise<void> {
    return this.tail;
  }
}

/**
 * Fans run events out to every reporter. Each event is appended to events.jsonl first (so a
 * reporter that fails, or a server that is down or hangs, loses nothing: `affectlab sync`
 * replays the log), then handed to each reporter's own bounded background queue: the training
 * loop never waits for a reporter. The run's end waits for the queues, up to drainTimeoutMs.
 * A reporter's error is logged once per reporter and never stops the run.
 */
export class ReporterHub {
  private readonly queues: ReporterQueue[];
  private readonly drainTimeoutMs: number;

  constructor(
    reporters: Reporter[],
    private readonly store: RunStore,
    private readonly logger: Logger,
    options: ReporterHubOptions = {},
  ) {
    this.drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
    const maxQueued = options.maxQueued ?? 10_000;
    this.queues = reporters.map((reporter) => {
      const queue: ReporterQueue = new ReporterQueue(
        reporter,
        maxQueued,
        (name, error) => {
          if (queue.failed) return;
          queue.failed = true;
          this.logger.warn(
            `reporter ${reporter.constructor.name} failed in ${name}: ${(error as Error).message}; ` +
              'the run goes on and the event is kept in events.jsonl',
          );
        },
        () =>
          this.logger.warn(
            `reporter ${reporter.constructor.name} is ${maxQueued} events behind; later events ` +
              `are not given to it (they are in events.jsonl: affectlab sync ${this.store.dir})`,
          ),
      );
      return queue;
    });
  }

  private record(event: RunEvent): EventRecord {
    return { line: this.store.appendEvent(event), event };
  }

  /**
   * Queue the event for every reporter. The promise (resolved once all handled it) is for
   * callers that want to wait, such as tests; the runner does not.
   */
  private each(name: string, call: (r: Reporter) => unknown): Promise<void> {
    return Promise.all(this.queues.map((q) => q.push(name, call))).then(() => undefined);
  }

  runStarted(run: RunInfo): Promise<void> {
    const rec = this.record({ event: 'runStarted', time: Date.now(), run });
    return this.each('runStarted', (r) => r.runStarted?.(run, rec));
  }

  epochEnded(run: RunInfo, epoch: EpochMetrics): Promise<void> {
    const rec = this.record({ event: 'epochEnded', time: Date.now(), epoch });
    return this.each('epochEnded', (r) => r.epochEnded?.(run, epoch, rec));
  }

  evaluated(run: RunInfo, metrics: Record<string, number>, step: number): Promise<void> {
    const rec = this.record({ event: 'evaluated', time: Date.now(), metrics, step });
    return this.each('evaluated', (r) => r.evaluated?.(run, metrics, step, rec));
  }

  artifact(run: RunInfo, artifact: ArtifactInfo): Promise<void> {
    const rec = this.record({ event: 'artifact', time: Date.now(), artifact });
    return this.each('artifact', (r) => r.artifact?.(run, artifact, rec));
  }

  /** The last event; resolves once every reporter delivered, or after drainTimeoutMs. */
  async runEnded(run: RunInfo, status: RunStatus, reason?: string): Promise<void> {
    // an error message may quote a credential (a URL with a password...): none is written
    const error = reason === undefined ? undefined : redactUrlCredentials(reason);
    const rec = this.record({ event: 'runEnded', time: Date.now(), status, error });
    void this.each('runEnded', (r) => r.runEnded?.(run, status, error, rec));
    await this.drain();
  }

  /** Wait for the queues, bounded; names the reporters still busy when the bound is hit. */
  async drain(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.drainTimeoutMs);
      // a hung reporter must not keep the process alive either
      timer.unref();
    });
    const done = Promise.all(this.queues.map((q) => q.idle())).then(() => false);
    const late = await Promise.race([done, timedOut]);
    clearTimeout(timer);
    if (late) {
      const busy = this.queues.filter((q) => q.queued > 0);
      this.logger.warn(
        `reporters still delivering after ${this.drainTimeoutMs / 1000}s: ` +
          `${busy.map((q) => `${q.reporter.constructor.name} (${q.queued} event(s))`).join(', ')}; ` +
          `the run does not wait longer; everything is in events.jsonl: affectlab sync ${this.store.dir}`,
      );
    }
  }

  stepEnded(run: RunInfo, progress: StepProgress): void {
    for (const q of this.queues) {
      try {
        q.reporter.stepEnded?.(run, progress);
      } catch {
        // progress display must never disturb training
      }
    }
  }
}
