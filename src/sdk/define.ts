/**
 * One definition per plugin's options: a TypeBox schema is a JSON Schema object (ajv validates
 * it as written, so `validate` keeps its file:line:col errors) and carries its static type, so
 * the options type a plugin class receives and the schema the experiment is checked against
 * cannot drift apart.
 */
import {
  Type,
  type ObjectOptions,
  type Static,
  type TObject,
  type TProperties,
  type TSchema,
} from '@sinclair/typebox';
import type { InjectionToken } from 'tsyringe';
import type {
  Constructor,
  FileNote,
  PluginDefinition,
  PluginKind,
  PluginOptions,
} from './contracts/plugin.js';

export { Type, type Static };

/**
 * An object of options. The rule that keeps schema and type one fact: a property that is not
 * `Type.Optional` is present after validation, either because the user must write it or
 * because its `default` fills it in; so a property with a default is left out of `required`
 * while its static type stays non-optional. Unknown keys are errors.
 */
export function Options<P extends TProperties>(
  properties: P,
  options: ObjectOptions = {},
): TObject<P> {
  const schema = Type.Object(properties, { additionalProperties: false, ...options });
  // the static type keeps TypeBox's view; only the emitted `required` list changes
  const raw = schema as { required?: string[] };
  const required = (raw.required ?? []).filter(
    (key) => (properties[key] as { default?: unknown }).default === undefined,
  );
  if (required.length > 0) raw.required = required;
  else delete raw.required;
  return schema;
}

/** A string (or number) enum written as JSON Schema `enum`, whose errors list the choices. */
export function Enum<const V extends readonly (string | number)[]>(
  values: V,
  options: { description?: string; default?: V[number] } = {},
): TSchema & { static: V[number] } {
  return Type.Unsafe<V[number]>({ enum: [...values], ...options });
}

/**
 * Exactly one of `schemas` (JSON Schema `oneOf`, which the error reporting folds into the
 * branch's own message; TypeBox's Union would emit `anyOf`). The static type is their union.
 */
export function OneOf<const T extends TSchema[]>(
  schemas: T,
  options: { description?: string; default?: unknown } = {},
): TSchema & { static: Static<T[number]> } {
  return Type.Unsafe<Static<T[number]>>({ ...options, oneOf: schemas });
}

/** `count` items of `item`, typed as the tuple `T` (JSON Schema: an array with min = max items). */
export function FixedArray<T extends unknown[]>(
  item: TSchema,
  count: T['length'],
  options: { description?: string; default?: T } = {},
): TSchema & { static: T } {
  return Type.Unsafe<T>(Type.Array(item, { minItems: count, maxItems: count, ...options }));
}

/**
 * A key that was removed: present in the schema so its error says why and what to do (an
 * unknown-key error would only list the allowed keys). Always invalid when written.
 */
export function Removed(message: string): TSchema & { static: undefined } {
  return Type.Unsafe<undefined>({
    not: {},
    deprecated: true,
    description: `Removed: ${message}`,
    'x-removed': message,
  });
}

/** The options type of a definition made by definePlugin. */
export type OptionsOf<D> = D extends { optionsSchema: infer S extends TSchema } ? Static<S> : never;

/**
 * Checks that a plugin class's constructor takes the schema's options type as its first
 * parameter (or takes no parameters): both directions, so a field added to one and not the
 * other is a compile error at the definePlugin call.
 */
type OptionsCheck<C, O> = C extends new (...args: infer A) => unknown
  ? A extends []
    ? unknown
    : [O] extends [A[0]]
      ? [A[0]] extends [O]
        ? unknown
        : { optionsError: 'the constructor options type has keys or types the schema does not' }
      : { optionsError: 'the schema gives options the constructor options type does not accept' }
  : never;

export interface PluginSpec<P extends TProperties, C extends Constructor<unknown>> {
  kind: PluginKind;
  type: string;
  description: string;
  options: TObject<P>;
  implementation: C & OptionsCheck<C, Static<TObject<P>>>;
  inject?: InjectionToken<unknown>[];
  envHints?: Record<string, string>;
  schedule?: string;
  classPresets?: PluginDefinition['classPresets'];
  fileNotes?(options: Static<TObject<P>>): FileNote[];
}

/** A plugin definition whose options schema and options type come from `spec.options`. */
export function definePlugin<P extends TProperties, C extends Constructor<unknown>>(
  spec: PluginSpec<P, C>,
): PluginDefinition<InstanceType<C>> & { optionsSchema: TObject<P> } {
  const { options, implementation, fileNotes, ...rest } = spec;
  return {
    ...rest,
    ...(fileNotes ? { fileNotes: (o: PluginOptions) => fileNotes(o as Static<TObject<P>>) } : {}),
    optionsSchema: options,
    implementation: implementation as Constructor<InstanceType<C>>,
  };
}
