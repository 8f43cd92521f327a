import { existsSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, UserError, type Diagnostic } from '../../sdk/errors.js';
import { PLUGIN_KINDS, type PluginDefinition } from '../../sdk/contracts/plugin.js';
import type { Registry } from './registry.js';
import type { ComposedExperiment } from '../config/compose.js';
import { formatPath } from '../config/source.js';

export function isPluginDefinition(value: unknown): value is PluginDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<PluginDefinition>;
  return (
    typeof v.type === 'string' &&
    PLUGIN_KINDS.includes(v.kind as PluginDefinition['kind']) &&
    typeof v.optionsSchema === 'object' &&
    typeof v.implementation === 'function'
  );
}

/** The definitions a plugin module exports: `default` (one or a list) and/or `plugins` (a list). */
export function definitionsOf(mod: Record<string, unknown>): PluginDefinition[] {
  const candidates = [mod.default, mod.plugins].flatMap((v) =>
    Array.isArray(v) ? v : v === undefined ? [] : [v],
  );
  return candidates.filter(isPluginDefinition);
}

/** An npm package name, optionally with a subpath: `pkg`, `@scope/pkg`, `pkg/sub/path.js`. */
const PACKAGE_NAME = /^(@[a-z0-9][\w.~-]*\/)?[a-z0-9][\w.~-]*(\/[\w.~@-]+)*$/i;

/**
 * Why a plugin specifier is not loaded, or undefined when it is one of the three forms a plugin
 * may take: a file path (`./x.mjs`, `/abs/x.mjs`), a `file:` URL, or a package name. `data:`,
 * `http(s):`, `node:` and every other scheme, and Node's built-in modules, are refused: a
 * plugin is code someone can read in a file.
 */
export function pluginSpecifierProblem(spec: string): string | undefined {
  if (spec.startsWith('file:')) {
    try {
      fileURLToPath(spec);
      return undefined;
    } catch (error) {
      return `'${spec}' is not a usable file: URL (${(error as Error).message})`;
    }
  }
  if (spec.startsWith('.') || isAbsolute(spec)) return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(spec);
  const forms = 'a plugin is a file path (./plugin.mjs), a file: URL or a package name';
  if (scheme) return `'${scheme[1]}:' specifiers are never loaded: ${forms}`;
  if (isBuiltin(spec)) return `'${spec}' is a Node.js built-in module, not a plugin: ${forms}`;
  if (!PACKAGE_NAME.test(spec)) return `'${spec}' is not a package name: ${forms}`;
  return undefined;
}

/** Diagnostics for the `plugins:` entries that would not be loaded (see pluginSpecifierProblem). */
export function pluginSpecifierDiagnostics(composed: ComposedExperiment): Diagnostic[] {
  const specs = composed.config.plugins;
  if (!Array.isArray(specs)) return [];
  const out: Diagnostic[] = [];
  specs.forEach((spec, i) => {
    const problem = typeof spec === 'string' ? pluginSpecifierProblem(spec) : undefined;
    if (!problem) return;
    const loc = composed.sources.locate(['plugins', i]) ?? { file: composed.file };
    out.push({ ...loc, path: formatPath(['plugins', i]), message: problem });
  });
  return out;
}

async function importSpecifier(spec: string, baseDir: string): Promise<Record<string, unknown>> {
  const problem = pluginSpecifierProblem(spec);
  if (problem) throw new UserError(problem);
  if (spec.startsWith('file:')) {
    return (await import(pathToFileURL(fileURLToPath(spec)).href)) as Record<string, unknown>;
  }
  if (spec.startsWith('.') || isAbsolute(spec)) {
    return (await import(pathToFileURL(resolve(baseDir, spec)).href)) as Record<string, unknown>;
  }
  // A package name: resolve it from the experiment's directory first, then the working directory.
  for (const from of [baseDir, process.cwd()]) {
    try {
      const resolved = createRequire(join(from, 'noop.js')).resolve(spec);
      return (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
    } catch {
      // try the next base, then a bare import
    }
  }
  return (await import(spec)) as Record<string, unknown>;
}

/**
 * Import one plugin module and register what it exports, as `kind:type`. `fail` turns a
 * problem into the caller's error (a ConfigError at the `plugins:` entry, or a UserError for
 * `--plugin`), so both ways of loading plugins share one path.
 */
async function registerModule(
  specifier: string,
  spec: string,
  baseDir: string,
  registry: Registry,
  fail: (message: string) => never,
): Promise<string[]> {
  let mod: Record<string, unknown> = {};
  const problem = pluginSpecifierProblem(specifier);
  if (problem) fail(problem);
  try {
    mod = await importSpecifier(specifier, baseDir);
  } catch (error) {
    fail(`cannot load plugin module '${spec}': ${(error as Error).message.split('\n')[0]}`);
  }
  const defs = definitionsOf(mod);
  if (defs.length === 0) {
    fail(
      `plugin module '${spec}' exports no plugin definition ` +
        '(export default a definition or a list, or export const plugins = [...])',
    );
  }
  const loaded: string[] = [];
  for (const d of defs) {
    try {
      registry.register(d);
    } catch (error) {
      fail((error as Error).message);
    }
    loaded.push(`${d.kind}:${d.type}`);
  }
  return loaded;
}

/** Import the modules named in the experiment's `plugins:` list and register what they export. */
export async function loadExperimentPlugins(
  composed: ComposedExperiment,
  registry: Registry,
): Promise<string[]> {
  const specs = composed.config.plugins;
  if (specs === undefined) return [];
  if (!Array.isArray(specs)) return [];
  const baseDir = dirname(resolve(composed.file));
  const loaded: string[] = [];
  for (const [i, spec] of specs.entries()) {
    if (typeof spec !== 'string') continue;
    const path = ['plugins', i];
    const loc = composed.sources.locate(path) ?? { file: composed.file };
    const fail = (message: string): never => {
      throw new ConfigError([{ ...loc, path: formatPath(path), message }]);
    };
    loaded.push(...(await registerModule(spec, spec, baseDir, registry, fail)));
  }
  return loaded;
}

/**
 * Import plugin modules named on the command line (`--plugin`: a path relative to `baseDir`, or
 * a package name) and register what they export, so `plugins` and `schema` show a plugin that
 * no experiment has loaded yet.
 */
export async function loadPluginModules(
  specs: readonly string[],
  baseDir: string,
  registry: Registry,
): Promise<string[]> {
  const fail = (message: string): never => {
    throw new UserError(message);
  };
  const loaded: string[] = [];
  for (const spec of specs) {
    // On the command line a bare `plugins/x.mjs` means the file when there is one.
    const specifier =
      !spec.startsWith('.') && !isAbsolute(spec) && existsSync(resolve(baseDir, spec))
        ? resolve(baseDir, spec)
        : spec;
    loaded.push(...(await registerModule(specifier, spec, baseDir, registry, fail)));
  }
  return loaded;
}
