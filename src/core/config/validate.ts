import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ConfigError, didYouMean, type Diagnostic } from '../../sdk/errors.js';
import type { JsonSchema } from '../../sdk/contracts/plugin.js';
import { UnknownPluginError, type Registry } from '../host/registry.js';
import {
  interpolateFilledDefaults,
  isPlainObject,
  sweepDiagnostics,
  type ComposedExperiment,
  type ConfigObject,
} from './compose.js';
import { NESTED_PLUGIN_SLOTS, PLUGIN_SLOTS, composeExperimentSchema } from './schema.js';
import { formatPath, type PathSegment } from './source.js';
import type { SweepConfig } from './types.js';
import { countTrials } from '../sweep/sweep.js';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats =
  (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule;

export function createAjv(): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true,
    discriminator: true,
    useDefaults: true,
    strict: false,
  });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

const compiled = new WeakMap<Registry, { size: number; validate: ValidateFunction }>();

function validatorFor(registry: Registry): ValidateFunction {
  const size = registry.list().length;
  const cached = compiled.get(registry);
  if (cached && cached.size === size) return cached.validate;
  const validate = createAjv().compile(composeExperimentSchema(registry) as JsonSchema);
  compiled.set(registry, { size, validate });
  return validate;
}

function pointerToPath(pointer: string): PathSegment[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Pre-check plugin `type`s so an unknown one gets the registered list and a did-you-mean. */
function unknownPluginDiagnostics(
  composed: ComposedExperiment,
  registry: Registry,
  options: ValidateOptions,
): { diagnostics: Diagnostic[]; slots: PathSegment[][] } {
  const found: Diagnostic[] = [];
  const slots: PathSegment[][] = [];
  for (const slot of PLUGIN_SLOTS) {
    const value = composed.config[slot.key];
    const refs: [PathSegment[], unknown][] = slot.list
      ? Array.isArray(value)
        ? value.map((v, i) => [[slot.key, i], v])
        : []
      : value === undefined
        ? []
        : [[[slot.key], value]];
    for (const [path, ref] of refs) {
      if (!isPlainObject(ref) || typeof ref.type !== 'string') continue;
      if (!registry.has(slot.kind, ref.type)) {
        const typePath = [...path, 'type'];
        const loc = composed.sources.locate(typePath) ?? { file: composed.file };
        const err = new UnknownPluginError(slot.kind, ref.type, registry.types(slot.kind));
        found.push({ ...loc, path: formatPath(typePath), message: err.message });
        slots.push(path);
      }
    }
  }
  for (const slot of NESTED_PLUGIN_SLOTS) {
    let value: unknown = composed.config;
    for (const key of slot.path) value = isPlainObject(value) ? value[key] : undefined;
    const named = slot.named && typeof value === 'string';
    const type = named ? value : isPlainObject(value) ? value.type : undefined;
    if (typeof type !== 'string' || registry.has(slot.kind, type)) continue;
    const typePath = named ? slot.path : [...slot.path, 'type'];
    const loc = composed.sources.locate(typePath) ?? { file: composed.file };
    const err = new UnknownPluginError(slot.kind, type, registry.types(slot.kind));
    found.push({ ...loc, path: formatPath(typePath), message: err.message });
    slots.push(slot.path);
  }
  const notLoaded = options.pluginsNotLoaded ?? [];
  if (notLoaded.length === 0) return { diagnostics: found, slots };
  // The type may come from a module that was not imported: its section cannot be checked.
  options.unchecked?.push(
    ...found.map((d) => ({
      ...d,
      message:
        `not checked: ${d.message.replace(/\s+Registered .*$/s, '')}; it may come from a plugin ` +
        `module, and plugin modules were not loaded (${notLoaded.join(', ')}): ` +
        'pass --allow-plugins to load them and check this section',
    })),
  );
  return { diagnostics: [], slots };
}

export interface ValidateOptions {
  /**
   * The experiment's `plugins:` modules, when they were not imported (validate, config,
   * summary, run --dry-run without --allow-plugins): a plugin type no registered plugin has is
   * then noted in `unchecked` instead of being an error.
   */
  pluginsNotLoaded?: string[];
  /** Receives the notes on sections not checked. */
  unchecked?: Diagnostic[];
  /** Problems found before validation (e.g. refused plugin specifiers), reported with the rest. */
  extra?: Diagnostic[];
  /** The most runs a sweep may make (default DEFAULT_MAX_COMBINATIONS). */
  maxCombinations?: number;
}

/** The default bound on a sweep's runs (`--max-combinations`). */
export const DEFAULT_MAX_COMBINATIONS = 10_000;

/** A sweep larger than the bound, counted without expanding it: one error at its parameters. */
function sweepSizeDiagnostics(
  composed: ComposedExperiment,
  config: ConfigObject,
  max: number,
): Diagnostic[] {
  const sweep = config.sweep as SweepConfig | undefined;
  if (!isPlainObject(sweep) || !isPlainObject(sweep.parameters)) return [];
  const count = countTrials(sweep);
  if (!(count > max)) return [];
  const shown = count < 1e15 ? count.toLocaleString('en-US') : count.toExponential(2);
  const at = ['sweep', 'parameters'];
  const loc = composed.sources.locate(at, true) ?? { file: composed.file };
  return [
    {
      ...loc,
      path: formatPath(at),
      message:
        `the sweep makes ${shown} runs, more than the limit of ${max.toLocaleString('en-US')}; ` +
        'shorten its lists, or raise the limit with --max-combinations <n>',
    },
  ];
}

function describeAjvError(e: ErrorObject): {
  path: PathSegment[];
  message: string;
  atKey: boolean;
} {
  const path = pointerToPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys(
        (e.parentSchema as { properties?: object } | undefined)?.properties ?? {},
      );
      const hint = didYouMean(key, allowed);
      return {
        path: [...path, key],
        atKey: true,
        message:
          `unknown key '${key}'` +
          (hint ? `; did you mean '${hint}'?` : '') +
          (allowed.length ? ` Allowed: ${allowed.join(', ')}` : ''),
      };
    }
    case 'enum':
      return {
        path,
        atKey: false,
        message: `must be one of: ${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(String).join(', ')}`,
      };
    case 'not': {
      const removed = (e.parentSchema as { 'x-removed'?: string } | undefined)?.['x-removed'];
      if (removed) return { path, atKey: true, message: `removed key: ${removed}` };
      return { path, atKey: false, message: e.message ?? e.keyword };
    }
    case 'required':
      return {
        path,
        atKey: false,
        message: `missing required key '${(e.params as { missingProperty: string }).missingProperty}'`,
      };
    default: {
      // a schema may say in words what its rule means (schema.ts: offOnlyRules)
      const own = (e.parentSchema as { 'x-message'?: unknown } | undefined)?.['x-message'];
      const message = typeof own === 'string' ? own : (e.message ?? e.keyword);
      return { path, atKey: false, message };
    }
  }
}

/**
 * Every number of the resolved experiment is finite: JSON Schema's `number` and `integer`
 * accept Infinity (and `1e309` reads as Infinity) in ajv, and NaN compares false to every
 * bound, so YAML `.inf`/`.nan` or `--set x=.inf` would otherwise pass to the run (and print as
 * null in JSON). Sweep values included.
 */
function nonFiniteDiagnostics(composed: ComposedExperiment, config: ConfigObject): Diagnostic[] {
  const out: Diagnostic[] = [];
  const walk = (value: unknown, path: PathSegment[]): void => {
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        const loc = composed.sources.locate(path) ?? { file: composed.file };
        out.push({
          ...loc,
          path: formatPath(path),
          message: `must be a finite number (got ${String(value)})`,
        });
      }
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (isPlainObject(value))
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
  };
  walk(config, []);
  return out;
}

/**
 * Validate a composed experiment against the schema composed from the registry. Returns the
 * config with schema defaults filled in; throws ConfigError with file:line:col diagnostics.
 */
export function validateExperiment(
  composed: ComposedExperiment,
  registry: Registry,
  env: Record<string, string | undefined> = process.env,
  options: ValidateOptions = {},
): ConfigObject {
  const { diagnostics, slots } = unknownPluginDiagnostics(composed, registry, options);
  diagnostics.push(...(options.extra ?? []));
  const validate = validatorFor(registry);
  // Pass 1 fills the schema defaults; a default may read the environment
  // (`root: ${env:AFFECTNET_ROOT}`), so interpolate then, and check the result in pass 2 like a
  // value the user wrote.
  let config = structuredClone(composed.config);
  let valid = validate(config);
  const filled = interpolateFilledDefaults(composed, config, env);
  if (filled.changed) {
    config = filled.config;
    valid = validate(config);
  }
  if (!valid) {
    const seen = new Set<string>();
    for (const e of validate.errors ?? []) {
      // oneOf/discriminator wrappers repeat what the branch already said
      if (e.keyword === 'oneOf' || e.keyword === 'if') continue;
      const { path, message, atKey } = describeAjvError(e);
      if (slots.some((s) => s.every((seg, i) => path[i] === seg))) continue;
      const loc = composed.sources.locate(path, atKey) ?? { file: composed.file };
      const d = { ...loc, path: formatPath(path), message };
      const key = `${d.path}|${d.message}`;
      if (!seen.has(key)) {
        seen.add(key);
        diagnostics.push(d);
      }
    }
  }
  diagnostics.push(...nonFiniteDiagnostics(composed, config));
  if (valid)
    diagnostics.push(
      ...sweepSizeDiagnostics(
        composed,
        config,
        options.maxCombinations ?? DEFAULT_MAX_COMBINATIONS,
      ),
    );
  diagnostics.push(...sweepDiagnostics(composed));
  if (diagnostics.length > 0) {
    diagnostics.sort((a, b) =>
      a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1,
    );
    throw new ConfigError(diagnostics);
  }
  return config;
}
