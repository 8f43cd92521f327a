import { inject, injectable } from 'tsyringe';
import {
  Enum,
  Options,
  Type,
  definePlugin,
  type Static,
  PLUGIN_OPTIONS,
  type EpochMetrics,
  type RunInfo,
  type ProgressReporter,
  type StepProgress,
} from '../../sdk/index.js';

const consoleReporterOptions = Options({
  // auto picks bar on a terminal, lines otherwise
  progress: Enum(['auto', 'bar', 'lines', 'none'], { default: 'auto' }),
  everySteps: Type.Integer({
    minimum: 1,
    maximum: 1_000_000_000,
    default: 50,
    description: 'lines mode: print every N steps',
  }),
});
export type ConsoleReporterOptions = Static<typeof consoleReporterOptions>;

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}

/** Progress on stderr: a bar per epoch on a terminal, plain lines otherwise (CI logs, pipes). */
@injectable()
export class ConsoleReporter implements ProgressReporter {
  private readonly mode: 'bar' | 'lines' | 'none';
  private readonly everySteps: number;
  private readonly out: NodeJS.WriteStream = process.stderr;

  constructor(@inject(PLUGIN_OPTIONS) options: ConsoleReporterOptions) {
    const wanted = options.progress;
    this.mode = wanted === 'auto' ? (this.out.isTTY ? 'bar' : 'lines') : wanted;
    this.everySteps = options.everySteps;
  }

  runStarted(run: RunInfo): void {
    if (this.mode === 'none') return;
    const trainCount = run.params?.['data.train_count'];
    this.out.write(
      `run ${run.runId} of ${run.experiment} on ${run.backend.name}${typeof trainCount === 'number' ? `, ${trainCount} training images` : ''}\n`,
    );
  }

  stepEnded(_run: RunInfo, p: StepProgress): void {
    const text = `epoch ${p.epoch + 1}/${p.epochs} ${p.step}/${p.steps} loss ${p.loss.toFixed(4)}${p.accuracy !== undefined ? ` acc ${p.accuracy.toFixed(4)}` : ''} ${p.imagesPerSecond.toFixed(1)} img/s ETA ${duration(p.etaSeconds)}`;
    if (this.mode === 'bar') {
      const width = 24;
      const filled = Math.round((p.step / Math.max(p.steps, 1)) * width);
      this.out.write(`\r[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${text}\x1b[K`);
      if (p.step === p.steps) this.out.write('\n');
    } else if (this.mode === 'lines' && (p.step % this.everySteps === 0 || p.step === p.steps)) {
      this.out.write(text + '\n');
    }
  }

  epochEnded(_run: RunInfo, e: EpochMetrics): void {
    if (this.mode === 'none') return;
    const show = [
      'loss',
      'accuracy',
      'val_loss',
      'val_accuracy',
      'val_f1_macro',
      'val_valence_rmse',
      'val_arousal_rmse',
    ];
    const parts = show
      .filter((k) => e.metrics[k] !== undefined)
      .map((k) => `${k} ${e.metrics[k].toFixed(4)}`);
    this.out.write(`epoch ${e.epoch + 1}: ${parts.join('  ')}\n`);
  }

  // no runEnded line: the runner logs the run's one end line (status and directory)
}

export const consoleReporter = definePlugin({
  kind: 'reporter',
  type: 'console',
  description:
    'Progress bar per epoch (plain lines when not a terminal) and epoch summaries on stderr',
  options: consoleReporterOptions,
  implementation: ConsoleReporter,
});
