import 'reflect-metadata';
import { singleton } from 'tsyringe';
import { scrubSecrets } from '../core/redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Leveled logger writing to stderr, so stdout stays for results (tables, JSON). */
@singleton()
export class Logger {
  level: LogLevel = (process.env.AFFECTLAB_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  /** Lines also go here (the run store's log file), when set. */
  sink?: (line: string) => void;

  private write(level: LogLevel, message: string): void {
    // no credential value from the environment reaches a log (stderr or the run's log.txt)
    const line = `[${level}] ${scrubSecrets(message)}`;
    this.sink?.(`${new Date().toISOString()} ${line}`);
    if (LEVELS[level] >= LEVELS[this.level]) process.stderr.write(line + '\n');
  }
  debug(message: string): void {
    this.write('debug', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  error(message: string): void {
    this.write('error', message);
  }
}

/** Wall clock, injectable so tests can control time. */
@singleton()
export class Clock {
  now(): number {
    return Date.now();
  }
}

/** 32-bit string hash (FNV-1a) used to derive independent seeds from labels. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Seeded pseudo-random generator (xoshiro128**). Its whole state is four integers, so a
 * resumed run restores it exactly. `fork(label)` gives an independent stream per purpose.
 */
export class Random {
  private s: Uint32Array;

  constructor(seed: number | Uint32Array) {
    if (seed instanceof Uint32Array) {
      this.s = Uint32Array.from(seed);
    } else {
      // splitmix32 expands the seed into four non-zero words
      this.s = new Uint32Array(4);
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.s[i] = (z ^ (z >>> 16)) >>> 0;
      }
      if (this.s.every((w) => w === 0)) this.s[0] = 1;
    }
  }

  static fork(seed: number, ...labels: (string | number)[]): Random {
    return new Random(hashSeed(seed, ...labels));
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  getState(): number[] {
    return [...this.s];
  }

  setState(state: readonly number[]): void {
    this.s = Uint32Array.from(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Facts about the current run that plugins may ask for. */
export class RunContext {
  constructor(
    readonly experiment: string,
    readonly sourceFile: string,
    readonly seed: number,
    /** Root directory for caches (synthetic data, preprocessed images). */
    readonly cacheDir: string,
    /** Directory the experiment file lives in, for resolving relative paths. */
    readonly baseDir: string,
    /** The sweep this run is a trial of (its directory in the run store), if any. */
    readonly sweep?: { id: string; dir: string; trial: number },
  ) {}
}
