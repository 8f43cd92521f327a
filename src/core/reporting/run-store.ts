import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  renameSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { EpochMetrics, RunEvent, RunStatus } from '../plugin/plugin.js';
import { UserError } from '../errors.js';

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

  static create(root: string, experiment: string, runId = newRunId()): RunStore {
    const dir = resolve(root, experiment, runId);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new UserError(
        `cannot create the run directory ${dir} (${code}): make runs.root (${root}) writable, ` +
          'or point it elsewhere with --set runs.root=<dir>',
        { cause: error },
      );
    }
    return new RunStore(dir);
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
    mkdirSync(dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, target);
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
      this.eventLines = existsSync(file)
        ? readFileSync(file, 'utf8')
            .split('\n')
            .filter((l) => l.length > 0).length
        : 0;
    }
    appendFileSync(this.path('events.jsonl'), JSON.stringify(event) + '\n');
    return this.eventLines++;
  }

  readEvents(): RunEvent[] {
    return readJsonLines<RunEvent>(this.path('events.jsonl'));
  }

  appendEpoch(record: EpochRecord): void {
    appendFileSync(this.path('metrics.jsonl'), JSON.stringify(record) + '\n');
  }

  readEpochs(): EpochRecord[] {
    return readJsonLines<EpochRecord>(this.path('metrics.jsonl'));
  }

  /** Keep only the epochs before `epoch` (a resumed run rewrites the ones after its checkpoint). */
  truncateEpochs(epoch: number): void {
    const kept = this.readEpochs().filter((e) => e.epoch < epoch);
    this.writeFile('metrics.jsonl', kept.map((e) => JSON.stringify(e) + '\n').join(''));
  }

  writeRecord(record: RunRecord): void {
    this.writeJson('run.json', record);
  }

  readRecord(): RunRecord {
    return this.readJson<RunRecord>('run.json');
  }

  appendLog(line: string): void {
    appendFileSync(this.path('log.txt'), line + '\n');
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
