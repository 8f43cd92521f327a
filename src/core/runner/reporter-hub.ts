import type {
  ArtifactInfo,
  EpochMetrics,
  ReporterPlugin,
  RunEvent,
  RunInfo,
  RunStatus,
} from '../plugin.js';
import type { Logger } from '../services.js';
import type { RunStore } from './run-store.js';
import type { StepProgress } from './trainer.js';

/** Step-level progress, for reporters that draw progress bars. Not stored: too frequent. */
export interface ProgressReporter {
  stepEnded?(run: RunInfo, progress: StepProgress): void;
}

/**
 * Fans run events out to every reporter and appends them to the run store's events.jsonl
 * first, so a reporter that fails (or a server that is down) loses nothing: `affectlab sync`
 * can replay the log. A reporter's error is logged once per reporter and never stops the run.
 */
export class ReporterHub {
  private readonly warned = new Set<number>();

  constructor(
    private readonly reporters: (ReporterPlugin & ProgressReporter)[],
    private readonly store: RunStore,
    private readonly logger: Logger,
  ) {}

  private async each(
    name: string,
    call: (r: ReporterPlugin & ProgressReporter) => unknown,
  ): Promise<void> {
    for (const [i, reporter] of this.reporters.entries()) {
      try {
        await call(reporter);
      } catch (error) {
        if (!this.warned.has(i)) {
          this.warned.add(i);
          this.logger.warn(
            `reporter ${reporter.constructor.name} failed in ${name}: ${(error as Error).message}; ` +
              'the run goes on and the event is kept in events.jsonl',
          );
        }
      }
    }
  }

  private record(event: RunEvent): void {
    this.store.appendEvent(event);
  }

  async runStarted(run: RunInfo): Promise<void> {
    this.record({ event: 'runStarted', time: Date.now(), run });
    await this.each('runStarted', (r) => r.runStarted?.(run));
  }

  async epochEnded(run: RunInfo, epoch: EpochMetrics): Promise<void> {
    this.record({ event: 'epochEnded', time: Date.now(), epoch });
    await this.each('epochEnded', (r) => r.epochEnded?.(run, epoch));
  }

  async evaluated(run: RunInfo, metrics: Record<string, number>, step: number): Promise<void> {
    this.record({ event: 'evaluated', time: Date.now(), metrics, step });
    await this.each('evaluated', (r) => r.evaluated?.(run, metrics, step));
  }

  async artifact(run: RunInfo, artifact: ArtifactInfo): Promise<void> {
    this.record({ event: 'artifact', time: Date.now(), artifact });
    await this.each('artifact', (r) => r.artifact?.(run, artifact));
  }

  async runEnded(run: RunInfo, status: RunStatus, error?: string): Promise<void> {
    this.record({ event: 'runEnded', time: Date.now(), status, error });
    await this.each('runEnded', (r) => r.runEnded?.(run, status, error));
  }

  stepEnded(run: RunInfo, progress: StepProgress): void {
    for (const r of this.reporters) {
      try {
        r.stepEnded?.(run, progress);
      } catch {
        // progress display must never disturb training
      }
    }
  }
}
