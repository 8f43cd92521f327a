import type { Logger } from '../../sdk/services.js';

/**
 * Progress of a long preparation step (reading 290k CSV rows, checking files). On a terminal it
 * redraws one line on stderr; otherwise it logs a line every `logEveryMs` so CI logs stay short.
 */
export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private lastDraw = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly logger?: Logger,
    private readonly logEveryMs = 10_000,
    /** Counts are bytes: shown in MiB (reading a file list, whose row count is not known ahead). */
    private readonly bytes = false,
  ) {
    this.tty =
      Boolean(process.stderr.isTTY) &&
      (logger?.level ?? 'info') !== 'warn' &&
      (logger?.level ?? 'info') !== 'error';
  }

  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    if (this.tty ? now - this.lastDraw >= 100 : now - this.lastDraw >= this.logEveryMs) {
      this.lastDraw = now;
      this.draw(false);
    }
  }

  finish(): void {
    if (this.tty || Date.now() - this.started >= this.logEveryMs) this.draw(true);
  }

  private draw(final: boolean): void {
    const elapsed = (Date.now() - this.started) / 1000;
    const scale = this.bytes ? 2 ** 20 : 1;
    const unit = this.bytes ? ' MiB' : '';
    const rate = elapsed > 0 ? Math.round(this.done / scale / elapsed) : 0;
    const of = this.total ? `/${Math.round(this.total / scale)}` : '';
    const percent = this.total ? ` ${Math.floor((100 * this.done) / this.total)}%` : '';
    let bar = '';
    if (this.total) {
      const width = 24;
      const filled = Math.min(width, Math.round((width * this.done) / this.total));
      bar = ` [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    }
    const done = Math.round(this.done / scale);
    const text = `${this.label}${bar}${percent} ${done}${of}${unit} (${rate}${unit}/s, ${elapsed.toFixed(1)} s)`;
    if (this.tty) {
      process.stderr.write(`\r${text}\u001b[K${final ? '\n' : ''}`);
    } else {
      this.logger?.info(text);
    }
  }
}
