import type { JsonSchema } from '../../sdk/contracts/plugin.js';

/** Where editors find the checked-in schemas (relative to the repository root). */
export const FULL_SCHEMA_FILE = 'schemas/experiment.schema.json';
export const PARTIAL_SCHEMA_FILE = 'schemas/experiment-partial.schema.json';

type Json = unknown;

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of `schema` with every `required` list dropped, at every depth. */
function withoutRequired(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(withoutRequired);
  if (!isObject(schema)) return schema;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'required' && Array.isArray(value)) continue;
    out[key] = withoutRequired(value);
  }
  return out;
}

/**
 * A plugin reference in a file that a later file (or the base it extends) completes: with a
 * `type`, that plugin's options (none required); without one, the options of any registered
 * plugin of the kind, so `dataset: { classes: report6 }` over a base's dataset is accepted and
 * `dataset: { clases: report6 }` is not.
 */
function partialPluginRef(ref: Record<string, Json>): JsonSchema {
  const branches = (ref.oneOf as Json[]).map((b) => withoutRequired(b) as Record<string, Json>);
  return {
    type: 'object',
    properties: withoutRequired(ref.properties) as JsonSchema,
    if: { required: ['type'] },
    then: { oneOf: branches },
    else: {
      anyOf: branches.map((b) => {
        const { type: _type, ...options } = (b.properties ?? {}) as Record<string, Json>;
        return { ...b, properties: options };
      }),
    },
  };
}

/**
 * The schema of an experiment file that extends others or is extended (`experiments/base/`):
 * every key optional, with the same key rules as the full experiment schema (unknown keys,
 * types, ranges, enums and each plugin's options). The full schema applies to the composed
 * result, which `affectlab validate` checks.
 */
export function partialExperimentSchema(full: JsonSchema): JsonSchema {
  const source = full as Record<string, Json>;
  const definitions: Record<string, Json> = {};
  for (const [name, def] of Object.entries(source.definitions as Record<string, Json>)) {
    definitions[name] =
      isObject(def) && isObject(def.discriminator) && Array.isArray(def.oneOf)
        ? partialPluginRef(def)
        : withoutRequired(def);
  }
  return {
    ...(withoutRequired({ ...source, definitions: undefined }) as JsonSchema),
    $id: String(source.$id).replace(/experiment\.schema\.json$/, 'experiment-partial.schema.json'),
    title: `${String(source.title)} (a file that extends others or is extended: every key optional)`,
    definitions,
  };
}
