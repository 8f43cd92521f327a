import {
  appendFileSync,
  closeSync,
  existsSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  renameSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { EpochMetrics, RunEvent, RunStatus } from '../../sdk/contracts/run.js';
import { UserError } from '../../sdk/errors.js';
import { redactCredentials } from '../redact.js';
import { WriteFailure, asWriteFailure, guardWrite } from '../write-failure.js';

/** `20261128-021853-3fa9c1`: sortable by start time, unique enough for one machine. */
export function newRunId(now = new Date(), random = Math.random): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  const suffix = Math.floor(random() * 0xffffff)
    .toString(16)
    .padStart(6, '0');
  return `${stamp}-${suffix}`;
}

/** One line of metrics.jsonl: an epoch's metrics plus facts about how it ran. */
export interface EpochRecord extends EpochMetrics {
  learningRate: number;
  /** Training images the epoch went through (what the sampler drew, or stepsPerEpoch's share). */
  images: number;
  seconds: number;
  imagesPerSecond: number;
  liveTensors: number;
}

export interface RunRecord {
  runId: string;
  experiment: string;
  status: RunStatus | 'RUNNING';
  startTime: number;
  endTime?: number;
  error?: string;
  lastCompletedEpoch?: number;
  bestEpoch?: number;
  /** A callback stopped training after this epoch (0-based), for this reason. */
  stopped?: { epoch: number; reason: string };
  backend?: { name: string; devices: string[] };
  group?: string;
}

/**
 * The local run store: `runs/<experiment>/<run-id>/`. Everything is written as it happens
 * (JSON Lines appended, small files replaced atomically) so a crash leaves every completed
 * epoch readable.
 */
export class RunStore {
  constructor(readonly dir: string) {}

  /**
   * A new run directory `<root>/<experiment>/<run-id>`, created exclusively: a folder that
   * exists already is never reused (two runs would write one run.json). A generated id that is
   * taken is drawn again; a given one (a launcher's `--run-id`) is an error.
   */
  static create(
    root: string,
    experiment: string,
    runId?: string,
    options: { newId?: () => string; reuse?: boolean } = {},
  ): RunStore {
    const parent = resolve(root, experiment);
    const fail = (dir: string, error: unknown): never => {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new UserError(
        `cannot create the run directory ${dir} (${code}): make runs.root (${root}) writable, ` +
          'or point it elsewhere with --set runs.root=<dir>',
        { cause: error },
      );
    };
    try {
      mkdirSync(parent, { recursive: true });
    } catch (error) {
      fail(join(parent, runId ?? ''), error);
    }
    const newId = options.newId ?? (() => newRunId());
    for (let attempt = 0; ; attempt++) {
      const dir = resolve(parent, runId ?? newId());
      try {
        mkdirSync(dir, { recursive: options.reuse === true });
        return new RunStore(dir);
      } catch (error) {
        const taken = (error as NodeJS.ErrnoException).code === 'EEXIST';
        if (taken && runId !== undefined)
          throw new UserError(
            `run directory ${dir} exists already: a run id names one run (continue that run with affectlab run --resume ${dir})`,
          );
        if (!taken || attempt >= 20) fail(dir, error);
      }
    }
  }

  /** Open an existing run by directory, or by id under a runs root. */
  static open(runDirOrId: string, root = 'runs'): RunStore {
    if (existsSync(join(runDirOrId, 'run.json'))) return new RunStore(resolve(runDirOrId));
    if (existsSync(root)) {
      for (const experiment of readdirSync(root)) {
        const candidate = join(root, experiment, runDirOrId);
        if (existsSync(join(candidate, 'run.json'))) return new RunStore(resolve(candidate));
      }
    }
    throw new UserError(
      `no run found at '${runDirOrId}' (give a run directory, or a run id under ${root}/)`,
    );
  }

  get runId(): string {
    return this.dir.split('/').pop() ?? '';
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  /** Write a file atomically (write to a temporary name, then rename). */
  writeFile(rel: string, data: string | Uint8Array): string {
    const target = this.path(rel);
    const tmp = `${target}.tmp-${process.pid}`;
    guardWrite(target, () => {
      try {
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(tmp, data);
        renameSync(tmp, target);
      } catch (error) {
        rmSync(tmp, { force: true });
        throw error;
      }
    });
    return target;
  }

  writeJson(rel: string, value: unknown): string {
    return this.writeFile(rel, JSON.stringify(value, null, 2) + '\n');
  }

  writeYaml(rel: string, value: unknown): string {
    return this.writeFile(rel, stringify(value));
  }

  readJson<T>(rel: string): T {
    return JSON.parse(readFileSync(this.path(rel), 'utf8')) as T;
  }

  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }

  private eventLines?: number;

  /** Append one event; returns its line index (0-based) in events.jsonl. */
  appendEvent(event: RunEvent): number {
    // counted once (a resumed run's file has lines already), then kept: no re-read per event
    if (this.eventLines === undefined) {
      const file = this.path('events.jsonl');
      const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
      this.eventLines = text.split('\n').filter((l) => l.length > 0).length;
      // a line cut by a full disk or a crash stays a line of its own, not the start of the next
      if (text.length > 0 && !text.endsWith('\n')) this.append('events.jsonl', '\n');
    }
    // a failure's message or a plugin's text may quote a credential: never onto the disk
    this.append('events.jsonl', JSON.stringify(redactCredentials(event)) + '\n');
    return this.eventLines++;
  }

  readEvents(): RunEvent[] {
    return readJsonLines<RunEvent>(this.path('events.jsonl'));
  }

  appendEpoch(record: EpochRecord): void {
    this.append('metrics.jsonl', JSON.stringify(record) + '\n');
  }

  readEpochs(): EpochRecord[] {
    return readJsonLines<EpochRecord>(this.path('metrics.jsonl'));
  }

  /** Keep only the epochs before `epoch` (a resumed run rewrites the ones after its checkpoint). */
  truncateEpochs(epoch: number): void {
    const kept = this.readEpochs().filter((e) => e.epoch < epoch);
    this.writeFile('metrics.jsonl', kept.map((e) => JSON.stringify(e) + '\n').join(''));
  }

  /**
   * Replace run.json. On a full disk (where the atomic write's new file finds no room) the
   * existing file is overwritten in place, which needs no new block: a failed run still says so.
   */
  writeRecord(record: RunRecord): void {
    const text = JSON.stringify(redactCredentials(record), null, 2) + '\n';
    try {
      this.writeFile('run.json', text);
    } catch (error) {
      const failure = asWriteFailure(error);
      const full = failure && ['ENOSPC', 'EDQUOT'].includes(failure.code);
      if (!full || !this.exists('run.json')) throw error;
      this.overwriteInPlace('run.json', text, failure);
    }
  }

  private overwriteInPlace(rel: string, text: string, failure: WriteFailure): void {
    const file = this.path(rel);
    const bytes = Buffer.from(text);
    guardWrite(file, () => {
      const fd = openSync(file, 'r+');
      try {
        writeSync(fd, bytes, 0, bytes.length, 0);
        ftruncateSync(fd, bytes.length);
      } catch (error) {
        throw asWriteFailure(error, file) ?? failure;
      } finally {
        closeSync(fd);
      }
    });
  }

  /**
   * Remove the temporary files a write in progress leaves when it fails or is killed:
   * `*.tmp-<pid>` (atomic file writes), `*.partial` (model files) and `*.tmp` directories
   * (checkpoints being written). Returns the paths removed, relative.
   */
  removeTemporaryFiles(): string[] {
    const removed: string[] = [];
    const walk = (dir: string): void => {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const path = join(dir, name);
        if (/\.tmp(-\d+)?$|\.partial$/.test(name)) {
          rmSync(path, { recursive: true, force: true });
          removed.push(relative(this.dir, path));
        } else if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) walk(path);
      }
    };
    walk(this.dir);
    return removed.sort();
  }

  readRecord(): RunRecord {
    return this.readJson<RunRecord>('run.json');
  }

  /** run.json with `patch` over what it holds. */
  updateRecord(patch: Partial<RunRecord>): void {
    this.writeRecord({ ...this.readRecord(), ...patch });
  }

  appendLog(line: string): void {
    this.append('log.txt', line + '\n');
  }

  private append(rel: string, text: string): void {
    const file = this.path(rel);
    guardWrite(file, () => appendFileSync(file, text));
  }

  /** Every file in the run directory, relative paths, for artifact upload. */
  files(under = ''): string[] {
    const base = this.path(under);
    if (!existsSync(base)) return [];
    const out: string[] = [];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else out.push(relative(this.dir, p));
      }
    };
    walk(base);
    return out.sort();
  }
}

function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as T];
      } catch {
        return []; // a line cut by a crash mid-write
      }
    });
}
