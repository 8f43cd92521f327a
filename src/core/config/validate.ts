import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ConfigError, didYouMean, type Diagnostic } from '../errors.js';
import type { JsonSchema } from '../plugin/plugin.js';
import { UnknownPluginError, type Registry } from '../plugin/registry.js';
import {
  interpolateFilledDefaults,
  isPlainObject,
  sweepDiagnostics,
  type ComposedExperiment,
  type ConfigObject,
} from './compose.js';
import { NESTED_PLUGIN_SLOTS, PLUGIN_SLOTS, composeExperimentSchema } from './schema.js';
import { formatPath, type PathSegment } from './source.js';

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
): { diagnostics: Diagnostic[]; slots: PathSegment[][] } {
  const diagnostics: Diagnostic[] = [];
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
        diagnostics.push({ ...loc, path: formatPath(typePath), message: err.message });
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
    diagnostics.push({ ...loc, path: formatPath(typePath), message: err.message });
    slots.push(slot.path);
  }
  return { diagnostics, slots };
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
    default:
      return { path, atKey: false, message: e.message ?? e.keyword };
  }
}

/**
 * Validate a composed experiment against the schema composed from the registry. Returns the
 * config with schema defaults filled in; throws ConfigError with file:line:col diagnostics.
 */
export function validateExperiment(
  composed: ComposedExperiment,
  registry: Registry,
  env: Record<string, string | undefined> = process.env,
): ConfigObject {
  const { diagnostics, slots } = unknownPluginDiagnostics(composed, registry);
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
  diagnostics.push(...sweepDiagnostics(composed));
  if (diagnostics.length > 0) {
    diagnostics.sort((a, b) =>
      a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1,
    );
    throw new ConfigError(diagnostics);
  }
  return config;
}
