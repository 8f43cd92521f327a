/**
 * Plugin options' defaults, filled in one place: from the plugin's own schema (its `default`s),
 * so no plugin class re-states them. The runtime applies it to every plugin it builds (the
 * experiment's validation already filled in what the YAML left out; refs made in code, such as
 * the callbacks the `training.*` shorthands expand to, get theirs here); tests and embedders
 * that build a plugin class directly call it with the plugin's definition.
 */
import type { ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { UserError } from '../../sdk/errors.js';
import { createAjv } from '../config/validate.js';
import type { JsonSchema, PluginDefinition, PluginOptions } from '../../sdk/contracts/plugin.js';

const compiled = new WeakMap<JsonSchema, ValidateFunction>();

function validatorOf(schema: JsonSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = createAjv().compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/**
 * A copy of `options` with the schema's defaults filled in, checked against the schema (a plain
 * JSON Schema, as external plugins give, works as well as a TypeBox one). Throws a UserError
 * naming the plugin and the first problems when the options do not fit.
 */
export function withOptionDefaults<
  D extends Pick<PluginDefinition, 'kind' | 'type' | 'optionsSchema'>,
>(
  definition: D,
  options: PluginOptions,
): D extends { optionsSchema: infer S extends TSchema } ? Static<S> : PluginOptions {
  const validate = validatorOf(definition.optionsSchema);
  const copy = structuredClone(options);
  if (!validate(copy)) {
    const problems = (validate.errors ?? [])
      .slice(0, 3)
      .map((e) => `${e.instancePath || '(options)'} ${e.message ?? e.keyword}`)
      .join('; ');
    throw new UserError(`${definition.kind} '${definition.type}': invalid options: ${problems}`);
  }
  return copy as D extends { optionsSchema: infer S extends TSchema } ? Static<S> : PluginOptions;
}
