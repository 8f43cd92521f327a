/**
 * System metrics under MLflow's own names (`system/cpu_utilization_percentage`, ...), so the MLflow
 * UI's "System metrics" tab shows them as it does for `mlflow.start_run(log_system_metrics=True)`:
 * CPU, system memory, this process's resident memory, the disk holding the run, and every NVIDIA
 * GPU `nvidia-smi` reports. Sampled on a timer that never keeps the process alive; `nvidia-smi`
 * runs asynchronously with a timeout, so a sample never blocks training.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const MB = 1e6;

/** Total and idle CPU time over all cores, in milliseconds. */
function cpuTimes(): { total: number; idle: number } {
  let total = 0;
  let idle = 0;
  for (const cpu of cpus()) {
    const t = cpu.times;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
    idle += t.idle;
  }
  return { total, idle };
}

/** Bytes of memory in use: total less what Linux can hand out (MemAvailable), else less free. */
function memoryUsed(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (match) return totalmem() - Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return totalmem() - freemem();
}

/** `nvidia-smi` rows as MLflow's GPU metrics; an empty record when there is no NVIDIA GPU. */
export function parseNvidiaSmi(csv: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of csv.split('\n')) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 6 || !/^\d+$/.test(cells[0])) continue;
    const [index, util, used, total, power, limit] = cells.map(Number);
    const put = (name: string, value: number): void => {
      if (Number.isFinite(value)) out[`gpu_${index}_${name}`] = value;
    };
    put('utilization_percentage', util);
    put('memory_usage_megabytes', (used * 1024 * 1024) / MB);
    put('memory_usage_percentage', total > 0 ? (used / total) * 100 : NaN);
    put('power_usage_watts', power);
    put('power_usage_percentage', limit > 0 ? (power / limit) * 100 : NaN);
  }
  return out;
}

export interface SystemSample {
  /** Metric name (with the `system/` prefix) to value. */
  metrics: Record<string, number>;
  /** 0, 1, 2, ... as MLflow's monitor counts. */
  step: number;
  timestamp: number;
}

export interface SystemMetricsOptions {
  intervalMs: number;
  /** The directory whose file system is reported as the disk. */
  diskPath: string;
  send: (sample: SystemSample) => Promise<void> | void;
  /** The nvidia-smi to run; undefined means look on PATH. */
  nvidiaSmi?: string;
}

/** Samples system metrics every `intervalMs` and hands each sample to `send`, until stopped. */
export class SystemMetricsSampler {
  private timer?: NodeJS.Timeout;
  private last = cpuTimes();
  private step = 0;
  private gpu = true;
  private inFlight?: Promise<void>;

  constructor(private readonly options: SystemMetricsOptions) {}

  start(): void {
    this.last = cpuTimes();
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Stop the timer; a run that ended before its first tick still gets one sample. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (this.step === 0) await this.sampleAndSend();
  }

  private tick(): void {
    if (this.inFlight) return; // the last sample is still out: skip rather than pile up
    this.inFlight = this.sampleAndSend().finally(() => (this.inFlight = undefined));
  }

  private async sampleAndSend(): Promise<void> {
    try {
      const metrics = await this.sample();
      await this.options.send({ metrics, step: this.step++, timestamp: Date.now() });
    } catch {
      // a sample that could not be taken or sent is skipped; the run goes on
    }
  }

  /** One sample, every value under MLflow's name. */
  async sample(): Promise<Record<string, number>> {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const busy = total - (now.idle - this.last.idle);
    this.last = now;
    const used = memoryUsed();
    const metrics: Record<string, number> = {
      cpu_utilization_percentage: total > 0 ? (busy / total) * 100 : 0,
      system_memory_usage_megabytes: used / MB,
      system_memory_usage_percentage: (used / totalmem()) * 100,
      process_memory_rss_megabytes: process.memoryUsage.rss() / MB,
    };
    try {
      const fs = statfsSync(this.options.diskPath);
      const size = fs.blocks * fs.bsize;
      const free = fs.bavail * fs.bsize;
      const usedDisk = size - fs.bfree * fs.bsize;
      metrics.disk_usage_megabytes = usedDisk / MB;
      metrics.disk_available_megabytes = free / MB;
      metrics.disk_usage_percentage = size > 0 ? (usedDisk / (usedDisk + free)) * 100 : 0;
    } catch {
      // the run directory is gone: no disk figures this time
    }
    if (this.gpu) Object.assign(metrics, await this.gpuMetrics());
    return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`system/${k}`, v]));
  }

  /** GPU figures from nvidia-smi; after a failure to run it, no more tries. */
  private async gpuMetrics(): Promise<Record<string, number>> {
    try {
      const { stdout } = await execFileAsync(
        this.options.nvidiaSmi ?? 'nvidia-smi',
        [
          '--query-gpu=index,utilization.gpu,memory.used,memory.total,power.draw,power.limit',
          '--format=csv,noheader,nounits',
        ],
        { timeout: 5000 },
      );
      return parseNvidiaSmi(stdout);
    } catch {
      this.gpu = false;
      return {};
    }
  }
}
