import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ConfigError, type Diagnostic, type SourceLocation } from '../../sdk/errors.js';
import { MAX_CONFIG_BYTES, readTextFile } from './read-file.js';

export type PathSegment = string | number;

/** `$.training.epochs`, `$.reporters[0].type` */
export function formatPath(path: readonly PathSegment[]): string {
  return (
    '$' +
    path
      .map((p) =>
        typeof p === 'number'
          ? `[${p}]`
          : /^[A-Za-z_][\w-]*$/.test(p)
            ? `.${p}`
            : `[${JSON.stringify(p)}]`,
      )
      .join('')
  );
}

/**
 * Keys that could reach an object's prototype when written with `obj[key] = ...`. Config is
 * untrusted input, so no mapping key or path segment may have one of these names.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

export function isForbiddenKey(key: PathSegment): boolean {
  return typeof key === 'string' && FORBIDDEN_KEYS.has(key);
}

/** The message for a refused key, one wording for every entry point. */
export function forbiddenKeyMessage(key: string): string {
  return `the key '${key}' is not allowed (${[...FORBIDDEN_KEYS].join(', ')} could reach Object.prototype)`;
}

export function pathKey(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}

/**
 * Where each value and key of a composed experiment was written. Later sources (derived
 * files, then --set overrides) overwrite earlier ones, so a location names the text that won.
 */
export class SourceMap {
  private readonly values = new Map<string, SourceLocation>();
  private readonly keys = new Map<string, SourceLocation>();

  setValue(path: readonly PathSegment[], loc: SourceLocation): void {
    this.values.set(pathKey(path), loc);
  }
  setKey(path: readonly PathSegment[], loc: SourceLocation): void {
    this.keys.set(pathKey(path), loc);
  }
  /** Forget everything under a path (its subtree was replaced). */
  clearUnder(path: readonly PathSegment[]): void {
    const prefix = pathKey(path).slice(0, -1);
    for (const m of [this.values, this.keys]) {
      for (const k of [...m.keys()]) if (k.startsWith(prefix) && k !== pathKey(path)) m.delete(k);
    }
  }

  /** The location of the value at `path`, or of its nearest ancestor that has one. */
  locate(path: readonly PathSegment[], preferKey = false): SourceLocation | undefined {
    for (let n = path.length; n >= 0; n--) {
      const k = pathKey(path.slice(0, n));
      const hit =
        (preferKey && n === path.length ? this.keys.get(k) : undefined) ??
        this.values.get(k) ??
        this.keys.get(k);
      if (hit) return hit;
    }
    return undefined;
  }

  merge(other: SourceMap): void {
    for (const [k, v] of other.values) this.values.set(k, v);
    for (const [k, v] of other.keys) this.keys.set(k, v);
  }
}

export interface ParsedYaml {
  file: string;
  value: unknown;
  sources: SourceMap;
}

/**
 * Parse one YAML file, keeping the line and column of every key and value. Only a regular file
 * of at most MAX_CONFIG_BYTES is read (no FIFO or device), and only as valid UTF-8.
 */
export function readYamlFile(file: string): ParsedYaml {
  return parseYamlText(readTextFile(file, 'experiment file', MAX_CONFIG_BYTES), file);
}

export function parseYamlText(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return {
          file,
          line: pos.line,
          col: pos.col,
          path: '$',
          message: `invalid YAML: ${e.message.split('\n')[0]}`,
        };
      }),
    );
  }
  const sources = new SourceMap();
  const at = (node: Node | null | undefined): SourceLocation => {
    const offset = node?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, col: pos.col };
  };
  // Refused keys are collected during the walk (every one, at its line) and reported before
  // toJS builds an object from them.
  const refused: Diagnostic[] = [];
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (!node || typeof node !== 'object') return;
    sources.setValue(path, at(node as Node));
    if (isMap(node)) {
      for (const pair of node.items) {
        // An alias as a key (`*k: 1`) is the anchored key's text once converted.
        const keyNode = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        const child = [...path, key];
        if (isForbiddenKey(key)) {
          refused.push({
            ...at(pair.key as Node),
            path: formatPath(child),
            message: forbiddenKeyMessage(key),
          });
          continue;
        }
        sources.setKey(child, at(pair.key as Node));
        if (pair.value) walk(pair.value, child);
        else sources.setValue(child, at(pair.key as Node));
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(doc.contents, []);
  if (refused.length > 0) throw new ConfigError(refused);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    throw new ConfigError([
      { file, line: 1, col: 1, path: '$', message: `invalid YAML: ${(error as Error).message}` },
    ]);
  }
  // Defence in depth: whatever the walk above missed must not leave the parser.
  const hidden = findForbiddenKey(value);
  if (hidden) {
    throw new ConfigError([
      {
        file,
        line: 1,
        col: 1,
        path: formatPath(hidden),
        message: forbiddenKeyMessage(String(hidden.at(-1))),
      },
    ]);
  }
  return { file, value: value ?? {}, sources };
}

/** The path of the first own key named like FORBIDDEN_KEYS anywhere in a value, if any. */
export function findForbiddenKey(
  value: unknown,
  path: PathSegment[] = [],
  seen = new Set<object>(),
): PathSegment[] | undefined {
  if (typeof value !== 'object' || value === null || seen.has(value)) return undefined;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findForbiddenKey(value[i], [...path, i], seen);
      if (hit) return hit;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return [...path, key];
    const hit = findForbiddenKey((value as Record<string, unknown>)[key], [...path, key], seen);
    if (hit) return hit;
  }
  return undefined;
}
