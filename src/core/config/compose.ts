import { delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { existsSync, realpathSync } from 'node:fs';
import { parse as parseYamlScalar } from 'yaml';
import { ConfigError, UserError, type Diagnostic } from '../../sdk/errors.js';
import { isCredentialName } from '../redact.js';
import { distributionProblem, isDistribution } from './sweep-spec.js';
import type { ExperimentConfig } from './types.js';
import {
  SourceMap,
  forbiddenKeyMessage,
  formatPath,
  isForbiddenKey,
  findForbiddenKey,
  readYamlFile,
  type PathSegment,
} from './source.js';

export type ConfigObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is ConfigObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Deep merge, later wins. Mappings merge key by key; arrays and scalars are replaced. A plugin
 * reference whose `type` changes is replaced whole, since the old type's options would not
 * belong to the new one.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return structuredClone(over);
  if ('type' in base && 'type' in over && base.type !== over.type) return structuredClone(over);
  const out: ConfigObject = { ...structuredClone(base) };
  for (const [k, v] of Object.entries(over)) {
    // The parsers refuse these keys with a location; this is the last line of defence.
    if (isForbiddenKey(k)) throw new UserError(forbiddenKeyMessage(k));
    out[k] = Object.hasOwn(out, k) ? deepMerge(out[k], v) : structuredClone(v);
  }
  return out;
}

export interface ComposedExperiment {
  /** The experiment file given on the command line. */
  file: string;
  config: ConfigObject;
  sources: SourceMap;
  /** Every file that took part, bases first. */
  files: string[];
  /** `${env:NAME}` references with no value and no default, left as written. */
  unresolvedEnv: { path: PathSegment[]; name: string }[];
}

/** An experiment file composed, its plugins loaded (when allowed) and validated. */
export interface ResolvedExperiment {
  file: string;
  composed: ComposedExperiment;
  config: ExperimentConfig;
  /** Plugins registered from the experiment's `plugins:` list, as kind:type. */
  externalPlugins: string[];
  /** Sections not checked because plugin modules were not loaded (see loadPlugins), as notes. */
  unchecked: Diagnostic[];
}

export interface ComposeOptions {
  overrides?: string[];
  env?: Record<string, string | undefined>;
}

/** Resolve `extends`, apply `--set` overrides and `${env:...}` interpolation. */
export function composeExperiment(file: string, options: ComposeOptions = {}): ComposedExperiment {
  const files: string[] = [];
  const env = options.env ?? process.env;
  const roots = configRoots(resolve(file), env);
  const { value, sources } = loadWithBases(resolve(file), [], files, roots);
  let config = value;
  for (const override of options.overrides ?? []) config = applyOverride(config, override, sources);
  const unresolvedEnv: ComposedExperiment['unresolvedEnv'] = [];
  const refused: ComposedExperiment['unresolvedEnv'] = [];
  config = interpolate(config, [], env, sources, unresolvedEnv, refused) as ConfigObject;
  if (refused.length > 0) throw new ConfigError(secretEnvDiagnostics(refused, sources, file));
  return { file, config, sources, files, unresolvedEnv };
}

/** The environment variable that lists more folders `extends:` bases may come from. */
export const CONFIG_ROOTS_ENV = 'AFFECTLAB_CONFIG_ROOTS';

/**
 * The folders an `extends:` base may be in (real paths): the experiment's project, i.e. the
 * nearest folder at or above the experiment file that holds package.json or .git (else the
 * file's own folder), and each folder listed in AFFECTLAB_CONFIG_ROOTS (separated like PATH).
 */
export function configRoots(file: string, env: Record<string, string | undefined>): string[] {
  const real = (p: string): string | undefined => {
    try {
      return realpathSync(p);
    } catch {
      return undefined;
    }
  };
  const own = dirname(real(file) ?? file);
  let project = own;
  for (let dir = own; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) || existsSync(join(dir, '.git'))) {
      project = dir;
      break;
    }
    if (dirname(dir) === dir) break;
  }
  const extra = (env[CONFIG_ROOTS_ENV] ?? '')
    .split(delimiter)
    .filter((p) => p !== '')
    .map((p) => real(resolve(p)))
    .filter((p): p is string => p !== undefined);
  return [project, ...extra];
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function display(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') ? rel : file;
}

function loadWithBases(
  file: string,
  stack: string[],
  files: string[],
  roots: string[],
): { value: ConfigObject; sources: SourceMap } {
  const parsed = readYamlFile(display(file));
  if (!isPlainObject(parsed.value)) {
    // nothing of a file that is not a mapping is quoted back (a base could be any text)
    throw new ConfigError([
      {
        file: display(file),
        line: 1,
        col: 1,
        path: '$',
        message:
          stack.length > 0
            ? 'an extends base must be a YAML mapping (its content is not shown)'
            : 'an experiment must be a YAML mapping',
      },
    ]);
  }
  const own = parsed.value;
  const bases =
    own.extends === undefined ? [] : Array.isArray(own.extends) ? own.extends : [own.extends];
  let merged: ConfigObject = {};
  const sources = new SourceMap();
  bases.forEach((base, i) => {
    const path: PathSegment[] = Array.isArray(own.extends) ? ['extends', i] : ['extends'];
    const loc = parsed.sources.locate(path) ?? { file: display(file) };
    const fail = (message: string): never => {
      throw new ConfigError([{ ...loc, path: formatPath(path), message }]);
    };
    if (typeof base !== 'string') fail('extends must name a file (or a list of files)');
    const basePath = resolve(dirname(file), base as string);
    if (!/\.ya?ml$/i.test(basePath))
      fail(`extends: ${display(basePath)}: a base must be a .yaml or .yml file`);
    if (stack.includes(basePath) || basePath === file) {
      fail(`cycle in extends: ${[...stack, file, basePath].map(display).join(' -> ')}`);
    }
    if (!existsSync(basePath)) fail(`extends: file not found: ${display(basePath)}`);
    const real = realpathSync(basePath);
    if (!roots.some((root) => isUnder(real, root)))
      fail(
        `extends: ${display(basePath)} is outside the folders a base may come from ` +
          `(${roots.map(display).join(', ')}); to allow its folder, add it to ${CONFIG_ROOTS_ENV} ` +
          `(folders separated by '${delimiter}')`,
      );
    let loaded: { value: ConfigObject; sources: SourceMap } = {
      value: {},
      sources: new SourceMap(),
    };
    try {
      loaded = loadWithBases(basePath, [...stack, file], files, roots);
    } catch (error) {
      // a base that is a FIFO, a device, too large...: one error at the extends line
      if (error instanceof ConfigError || !(error instanceof UserError)) throw error;
      fail(error.message);
    }
    merged = deepMerge(merged, loaded.value) as ConfigObject;
    sources.merge(loaded.sources);
  });
  const { extends: _ignored, ...body } = own;
  merged = deepMerge(merged, body) as ConfigObject;
  sources.merge(parsed.sources);
  files.push(file);
  return { value: merged, sources };
}

/**
 * The path of a `--set` override or a sweep parameter: dotted keys, with list indices either as
 * a dotted number (`reporters.0.type`) or in brackets (`reporters[0].type`). Throws a message
 * (without location; callers add it) for an empty segment, a bad bracket or a refused key.
 */
export function parseOverridePath(text: string): PathSegment[] {
  const path: PathSegment[] = [];
  for (const part of text.split('.')) {
    const m = /^([^[\]]*)((?:\[[^\]]*\])*)$/.exec(part);
    if (!m)
      throw new UserError(`cannot read '${part}' in the path: write a list index as [0] or .0`);
    const [, name, brackets] = m;
    if (name === '' && (brackets === '' || path.length === 0))
      throw new UserError('empty segment in the path');
    if (name !== '') path.push(/^-?\d+$/.test(name) ? Number(name) : name);
    for (const [, index] of brackets.matchAll(/\[([^\]]*)\]/g)) {
      if (!/^-?\d+$/.test(index))
        throw new UserError(`[${index}] is not a list index: inside [] give a number, e.g. [0]`);
      path.push(Number(index));
    }
  }
  for (const seg of path)
    if (isForbiddenKey(seg)) throw new UserError(forbiddenKeyMessage(String(seg)));
  return path;
}

/**
 * The `--set` text that sets `path` to `value`. Strings are written as they are when they read
 * back as the same string, else (`"3"`, `"[a]"`) quoted, so the value arrives unchanged.
 */
export function overrideText(path: string, value: unknown): string {
  const plain = typeof value === 'string' && safeParse(value) === value;
  return `${path}=${plain ? value : JSON.stringify(value)}`;
}

function safeParse(text: string): unknown {
  try {
    return parseYamlScalar(text);
  } catch {
    return undefined;
  }
}

/**
 * Diagnostics for `sweep.parameters` (checked when validating, so a bad sweep fails before the
 * first run): each key must be a path `--set` accepts, and each value must apply to the
 * experiment. Errors point at the key in the file.
 */
export function sweepDiagnostics(composed: ComposedExperiment): Diagnostic[] {
  const sweep = composed.config.sweep;
  if (!isPlainObject(sweep)) return [];
  const parameters = sweep.parameters;
  if (!isPlainObject(parameters)) return [];
  const diagnostics: Diagnostic[] = [];
  const atSweep = (key: string, message: string) => {
    const at = ['sweep', key];
    const loc = composed.sources.locate(at, true) ?? { file: composed.file };
    diagnostics.push({ ...loc, path: formatPath(at), message });
  };
  if (sweep.mode === 'random' && sweep.trials === undefined)
    atSweep('mode', 'sweep.mode random needs sweep.trials (how many trials to draw)');
  for (const key of ['trials', 'seed'])
    if (sweep.mode !== 'random' && sweep[key] !== undefined)
      atSweep(key, `sweep.${key} applies to mode random only (mode is ${String(sweep.mode)})`);
  if (typeof sweep.repeat === 'number' && sweep.repeat > 1 && 'seed' in parameters)
    atSweep('repeat', 'sweep.repeat sets each run\'s seed; drop "seed" from sweep.parameters');
  for (const [key, values] of Object.entries(parameters)) {
    const at = ['sweep', 'parameters', key];
    const loc = composed.sources.locate(at, true) ?? { file: composed.file };
    const report = (message: string) =>
      diagnostics.push({
        ...loc,
        path: formatPath(at),
        message: `sweep parameter '${key}': ${message}`,
      });
    try {
      parseOverridePath(key);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      report(error.message);
      continue;
    }
    const problem = distributionProblem(values);
    if (problem) {
      report(problem);
      continue;
    }
    if (isDistribution(values) && sweep.mode !== 'random') {
      report(
        `a distribution needs sweep.mode random (${String(sweep.mode ?? 'grid')} takes a list)`,
      );
      continue;
    }
    for (const value of sampleValues(values)) {
      try {
        applyOverride(composed.config, overrideText(key, value), new SourceMap());
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        report(error.diagnostics.map((d) => d.message).join('; '));
        break;
      }
    }
  }
  return diagnostics;
}

/** Values that stand for a parameter when checking it applies: a list's, a range's bounds. */
function sampleValues(spec: unknown): unknown[] {
  if (Array.isArray(spec)) return spec;
  if (!isPlainObject(spec)) return [];
  const [v] = Object.values(spec);
  return Array.isArray(v) ? v : [];
}

/** Why a list index cannot be used on a list of `length` entries at `where`, or undefined. */
function badIndex(where: PathSegment[], index: number, length: number): string | undefined {
  const entries = `${length} entr${length === 1 ? 'y' : 'ies'}`;
  const use =
    length === 0
      ? 'use 0 to add the first'
      : `use ${length === 1 ? '0' : `0..${length - 1}`} to change one, or ${length} to append`;
  if (index < 0) return `negative index ${index}: ${formatPath(where)} has ${entries}; ${use}`;
  if (index > length)
    return `index ${index} is past the end of ${formatPath(where)}, which has ${entries}; ${use}`;
  return undefined;
}

/**
 * `a.b.c=value`; the value is read as YAML, so `3` is a number and `[1,2]` a list. A list index
 * may name an entry or the next one (append), never a gap; every error names the flag.
 */
export function applyOverride(
  config: ConfigObject,
  override: string,
  sources: SourceMap,
): ConfigObject {
  const eq = override.indexOf('=');
  const loc = { file: `--set ${override}` };
  const fail = (message: string): never => {
    throw new ConfigError([{ ...loc, path: '$', message }]);
  };
  if (eq <= 0) fail('expected --set path.to.key=value');
  let path: PathSegment[] = [];
  try {
    path = parseOverridePath(override.slice(0, eq));
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    fail(error.message);
  }
  let value: unknown;
  try {
    value = parseYamlScalar(override.slice(eq + 1));
  } catch (error) {
    fail(`cannot read the value as YAML: ${(error as Error).message}`);
  }
  const hidden = findForbiddenKey(value);
  if (hidden) fail(`in the value: ${forbiddenKeyMessage(String(hidden.at(-1)))}`);
  const out = structuredClone(config);
  let node: unknown = out;
  // Index into `container` at `seg`, checking list bounds; returns the key to use.
  const step = (container: object, seg: PathSegment, at: number): PathSegment => {
    if (Array.isArray(container)) {
      if (typeof seg !== 'number')
        fail(`${formatPath(path.slice(0, at))} is a list: give an index (0, 1, ...), not '${seg}'`);
      const why = badIndex(path.slice(0, at), seg as number, container.length);
      if (why) fail(why);
      return seg;
    }
    // In a mapping a number is a key like any other.
    return String(seg);
  };
  for (let i = 0; i < path.length - 1; i++) {
    const container = node as Record<string | number, unknown>;
    const seg = step(container, path[i], i);
    if (container[seg] === undefined || container[seg] === null) {
      container[seg] = typeof path[i + 1] === 'number' ? [] : {};
      // A container this override created was written by the flag: errors about it (an
      // unknown key, a wrong type) point there.
      sources.clearUnder(path.slice(0, i + 1));
      sources.setKey(path.slice(0, i + 1), loc);
      sources.setValue(path.slice(0, i + 1), loc);
    }
    node = container[seg];
    if (typeof node !== 'object' || node === null) {
      fail(`${formatPath(path.slice(0, i + 1))} is a ${typeof node}, not a mapping or list`);
    }
  }
  const parent = node as Record<string | number, unknown>;
  const last = step(parent, path[path.length - 1], path.length - 1);
  // Changing a plugin's type drops the old type's options (see deepMerge).
  if (
    last === 'type' &&
    isPlainObject(parent) &&
    parent.type !== undefined &&
    parent.type !== value
  ) {
    for (const k of Object.keys(parent)) delete parent[k];
    sources.clearUnder(path.slice(0, -1));
  }
  parent[last] = value;
  sources.clearUnder(path);
  sources.setValue(path, loc);
  sources.setKey(path, loc);
  return out;
}

const ENV_PATTERN = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}/g;

/** The variable names of the `${env:...}` references left in a text. */
export function envReferences(text: string): string[] {
  return [...text.matchAll(ENV_PATTERN)].map((m) => m[1]);
}

function interpolate(
  value: unknown,
  path: PathSegment[],
  env: Record<string, string | undefined>,
  sources: SourceMap,
  unresolved: ComposedExperiment['unresolvedEnv'],
  refused: ComposedExperiment['unresolvedEnv'],
): unknown {
  // Containers are copied only where something inside was replaced: an unchanged value comes
  // back as the same object, so callers can tell whether anything was interpolated.
  if (Array.isArray(value)) {
    const out = value.map((v, i) =>
      interpolate(v, [...path, i], env, sources, unresolved, refused),
    );
    return out.some((v, i) => v !== value[i]) ? out : value;
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value).map(([k, v]) => {
      if (isForbiddenKey(k)) throw new UserError(forbiddenKeyMessage(k));
      return [k, interpolate(v, [...path, k], env, sources, unresolved, refused)] as const;
    });
    return entries.some(([k, v]) => v !== value[k]) ? Object.fromEntries(entries) : value;
  }
  if (typeof value !== 'string' || !value.includes('${env:')) return value;
  let missing = false;
  const replaced = value.replace(
    ENV_PATTERN,
    (whole, name: string, fallback: string | undefined) => {
      if (isCredentialName(name)) {
        refused.push({ path, name });
        return whole;
      }
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      unresolved.push({ path, name });
      missing = true;
      return whole;
    },
  );
  if (missing) return value;
  // A value that is one interpolation alone takes the type its text has in YAML (`3` -> 3).
  const whole = value.match(/^\$\{env:[^}]*\}$/);
  if (whole) {
    let typed: unknown;
    try {
      typed = parseYamlScalar(replaced);
    } catch {
      return replaced;
    }
    // The environment is input too: a variable holding `{__proto__: ...}` stays text.
    return findForbiddenKey(typed) ? replaced : typed;
  }
  return replaced;
}

/**
 * Interpolate `${env:...}` in values the schema filled in (plugin defaults such as
 * `root: ${env:AFFECTNET_ROOT}`), which did not exist when the file was composed. References
 * left unresolved are added to `composed.unresolvedEnv` (once per path), so they are reported
 * like those the user wrote.
 */
export function interpolateFilledDefaults(
  composed: ComposedExperiment,
  config: ConfigObject,
  env: Record<string, string | undefined> = process.env,
): { config: ConfigObject; changed: boolean } {
  const unresolved: ComposedExperiment['unresolvedEnv'] = [];
  const refused: ComposedExperiment['unresolvedEnv'] = [];
  const out = interpolate(config, [], env, composed.sources, unresolved, refused) as ConfigObject;
  if (refused.length > 0)
    throw new ConfigError(secretEnvDiagnostics(refused, composed.sources, composed.file));
  const known = new Set(composed.unresolvedEnv.map((u) => u.path.join('\u0000')));
  for (const u of unresolved) {
    if (!known.has(u.path.join('\u0000'))) composed.unresolvedEnv.push(u);
  }
  return { config: out, changed: out !== config };
}

/**
 * Diagnostics for `${env:NAME}` references to credential-looking variables: a config value is
 * written to config.yaml, params.json, events.jsonl and MLflow, so a credential must never be
 * one. Plugins that need a credential read it from the environment themselves.
 */
function secretEnvDiagnostics(
  refused: ComposedExperiment['unresolvedEnv'],
  sources: SourceMap,
  file: string,
): Diagnostic[] {
  return refused.map(({ path, name }) => ({
    ...(sources.locate(path) ?? { file }),
    path: formatPath(path),
    message:
      `\${env:${name}} is refused: ${name} looks like a credential (PASSWORD, TOKEN, SECRET, ` +
      '*_KEY, MLflow tracking credentials), and config values are saved with the run and sent ' +
      'to MLflow; a plugin that needs a credential reads it from the environment itself',
  }));
}

/** Diagnostics for unresolved `${env:NAME}` references, with a hint how to set them. */
export function unresolvedEnvDiagnostics(
  composed: ComposedExperiment,
  hints: Record<string, string> = {},
): Diagnostic[] {
  return composed.unresolvedEnv.map(({ path, name }) => {
    const loc = composed.sources.locate(path) ?? { file: composed.file };
    const dotted = path.join('.');
    return {
      ...loc,
      path: formatPath(path),
      message:
        `environment variable ${name} is not set. Set it (export ${name}=...) or override the value ` +
        `with --set ${dotted}=<value>.` +
        (hints[name] ? ` ${hints[name].replaceAll('{file}', composed.file)}` : ''),
    };
  });
}
