import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { inject, injectable } from 'tsyringe';
import {
  UserError,
  PLUGIN_OPTIONS,
  type EpochEndInfo,
  type PluginDefinition,
  type TrainBeginInfo,
  type TrainingCallback,
  type TrainingControl,
  resolveMode,
  type Mode,
  RunContext,
  metricOf,
} from '../../sdk/index.js';
import { metricName, modeSchema } from './common.js';

export interface AshaOptions {
  monitor?: string;
  mode?: 'min' | 'max' | 'auto';
  eta?: number;
  minEpochs?: number;
  maxEpochs?: number;
}

/** What a trial learned at a rung; kept as a file so a rerun of the epoch gets the same answer. */
export interface AshaDecision {
  trial: number;
  rung: number;
  /** 1-based epoch of the rung. */
  epoch: number;
  monitor: string;
  value: number;
  /** 1-based rank among the trials that reached the rung so far (this one included). */
  rank: number;
  of: number;
  /** How many of those continue: max(1, floor(of / eta)). */
  keep: number;
  continue: boolean;
  decidedAt: number;
}

/** A lock older than this is a dead holder's (the critical section takes milliseconds). */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 120_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * One lock file per sweep, made with O_EXCL: works for trials on one machine and on nodes
 * sharing the run store (Slurm, Ray), where a pid says nothing, hence the age-based takeover.
 */
function withLock<T>(file: string, body: () => T): T {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      closeSync(openSync(file, 'wx'));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(file).mtimeMs > STALE_LOCK_MS) unlinkSync(file);
      } catch {
        // released meanwhile
      }
      if (Date.now() > deadline)
        throw new Error(`ASHA: could not take the sweep's lock ${file} within ${LOCK_WAIT_MS} ms`);
      sleepSync(10 + Math.floor(Math.random() * 20));
    }
  }
  try {
    return body();
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // taken over as stale; nothing to release
    }
  }
}

/**
 * Asynchronous successive halving (Li et al., ASHA) as a sweep scheduler: rungs at epochs
 * minEpochs * eta^k below maxEpochs; at each, a trial records its monitored metric in the
 * sweep's directory and continues only when it ranks in the top 1/eta of the trials that
 * reached the rung so far (the first to arrive always continues). Decisions never wait for
 * other trials, so any launcher and any parallelism work; state is files under
 * runs/sweeps/<id>/asha/, guarded by a lock file.
 */
@injectable()
export class AshaScheduler implements TrainingCallback {
  readonly monitor: string;
  readonly mode: Mode;
  readonly eta: number;
  readonly minEpochs: number;
  private maxEpochs?: number;
  private readonly dir: string;
  private readonly trial: number;

  constructor(
    @inject(PLUGIN_OPTIONS) options: AshaOptions,
    @inject(RunContext) context: RunContext,
  ) {
    if (!context.sweep)
      throw new UserError(
        'callback asha is a sweep scheduler: give it as sweep.scheduler: { type: asha, ... } in a file with a sweep, not in callbacks:',
      );
    this.monitor = options.monitor ?? 'val_loss';
    this.mode = resolveMode(this.monitor, options.mode);
    this.eta = options.eta ?? 3;
    this.minEpochs = options.minEpochs ?? 1;
    this.maxEpochs = options.maxEpochs;
    this.dir = join(context.sweep.dir, 'asha');
    this.trial = context.sweep.trial;
  }

  onTrainBegin(info: TrainBeginInfo): void {
    this.maxEpochs ??= info.epochs;
  }

  /** 1-based epochs at which trials are compared. */
  rungs(): number[] {
    const out: number[] = [];
    const max = this.maxEpochs ?? Infinity;
    for (let e = this.minEpochs; e < max; e *= this.eta) out.push(e);
    return out;
  }

  onEpochEnd(e: EpochEndInfo, control: TrainingControl): void {
    const rung = this.rungs().indexOf(e.epoch + 1);
    if (rung < 0) return;
    const value = metricOf(e.metrics, this.monitor);
    const d = this.decide(rung, e.epoch + 1, value);
    if (!d.continue)
      control.stopTraining(
        `stopped by ASHA at rung ${d.rung} (epoch ${d.epoch}): ${d.monitor} ${d.value} ranks ${d.rank} of ${d.of} trials there, the top ${d.keep} continue (eta ${this.eta})`,
      );
  }

  private decide(rung: number, epoch: number, value: number): AshaDecision {
    mkdirSync(join(this.dir, 'decisions'), { recursive: true });
    const decisionFile = join(this.dir, 'decisions', `${this.trial}.rung-${rung}.json`);
    return withLock(join(this.dir, 'lock'), () => {
      // a rerun of this epoch (resume after a crash) keeps the first answer
      if (existsSync(decisionFile))
        return JSON.parse(readFileSync(decisionFile, 'utf8')) as AshaDecision;
      const rungFile = join(this.dir, `rung-${rung}.jsonl`);
      const others = existsSync(rungFile)
        ? readFileSync(rungFile, 'utf8')
            .split('\n')
            .filter((l) => l.trim())
            .map((l) => JSON.parse(l) as { trial: number; value: number | null })
            .filter((r) => r.trial !== this.trial)
            .map((r) => (typeof r.value === 'number' ? r.value : NaN))
        : [];
      // NaN ranks last; ties go to the trial deciding now
      const better = (v: number) =>
        !Number.isNaN(v) && (Number.isNaN(value) || (this.mode === 'min' ? v < value : v > value));
      const of = others.length + 1;
      const rank = others.filter(better).length + 1;
      const keep = Math.max(1, Math.floor(of / this.eta));
      const decision: AshaDecision = {
        trial: this.trial,
        rung,
        epoch,
        monitor: this.monitor,
        value,
        rank,
        of,
        keep,
        continue: rank <= keep && !Number.isNaN(value),
        decidedAt: Date.now(),
      };
      appendFileSync(
        rungFile,
        `${JSON.stringify({ trial: this.trial, epoch, value: Number.isNaN(value) ? null : value })}\n`,
      );
      writeFileSync(`${decisionFile}.tmp`, `${JSON.stringify(decision, null, 2)}\n`);
      renameSync(`${decisionFile}.tmp`, decisionFile);
      return decision;
    });
  }
}

export const ashaCallback: PluginDefinition<AshaScheduler> = {
  kind: 'callback',
  type: 'asha',
  description:
    'Sweep scheduler (sweep.scheduler): asynchronous successive halving; at rungs minEpochs * eta^k a trial continues only in the top 1/eta of the trials there so far',
  optionsSchema: {
    type: 'object',
    properties: {
      monitor: { ...metricName, default: 'val_loss' },
      mode: modeSchema,
      eta: {
        type: 'integer',
        minimum: 2,
        maximum: 1000,
        default: 3,
        description: 'Reduction factor: the top 1/eta at a rung continue; rungs eta apart.',
      },
      minEpochs: {
        type: 'integer',
        minimum: 1,
        maximum: 100_000,
        default: 1,
        description: 'The first rung (epochs every trial trains).',
      },
      maxEpochs: {
        type: 'integer',
        minimum: 1,
        maximum: 100_000,
        description: 'Rungs stay below this (default: training.epochs).',
      },
    },
  },
  implementation: AshaScheduler,
};
