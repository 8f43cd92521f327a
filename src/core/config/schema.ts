import type { TSchema } from '@sinclair/typebox';
import type {
  JsonSchema,
  PluginDefinition,
  PluginKind,
  PluginRef,
} from '../../sdk/contracts/plugin.js';
import type { Registry } from '../host/registry.js';
import { Enum, FixedArray, Options, Removed, Type, type Static } from '../../sdk/define.js';
import type { BackendPreference } from '../training/backend.js';

/**
 * Plugin references inside a section (not top-level keys): the training's optimizer and the
 * heads' losses. `named`: the value may also be the bare plugin name (`regression: ccc`).
 */
export const NESTED_PLUGIN_SLOTS: { path: string[]; kind: PluginKind; named: boolean }[] = [
  { path: ['training', 'optimizer'], kind: 'optimizer', named: false },
  { path: ['training', 'loss', 'classification'], kind: 'loss', named: true },
  { path: ['training', 'loss', 'regression'], kind: 'loss', named: true },
];

/** Experiment keys that hold one plugin reference, and the kind each resolves to. */
export const PLUGIN_SLOTS: { key: string; kind: PluginKind; list: boolean; required: boolean }[] = [
  { key: 'dataset', kind: 'dataset', list: false, required: true },
  { key: 'sampler', kind: 'sampler', list: false, required: false },
  { key: 'architecture', kind: 'architecture', list: false, required: true },
  { key: 'reporters', kind: 'reporter', list: true, required: false },
  { key: 'launcher', kind: 'launcher', list: false, required: false },
  { key: 'callbacks', kind: 'callback', list: true, required: false },
];

const BACKEND_PREFERENCES = [
  'auto',
  'tensorflow-gpu',
  'tensorflow',
  'cpu',
] as const satisfies readonly BackendPreference[];
const EXECUTION_PREFERENCES = ['auto', 'graph', 'eager'] as const;
const MONITOR_MODES = ['min', 'max', 'auto'] as const;

/** Bounds of the count-like options (see the issue on hostile input: `.inf` epochs trained forever). */
const MAX_STEPS = 10_000_000;
export const MAX_NAME_LENGTH = 128;
/** A seed is any 32-bit integer, signed or not (the generators take it modulo 2^32). */
const SEED_RANGE = { minimum: -2_147_483_648, maximum: 4_294_967_295 };

const metricName: JsonSchema = {
  type: 'string',
  description: 'A metric key as logged per epoch, e.g. val_loss, val_accuracy, val_f1_macro',
  pattern: '^[a-z][a-z0-9_]*$',
};

/** `training.loss`: the loss of each head, a registered loss plugin's name or `{ type, ...options }`. */
export interface LossConfig {
  classification: string | PluginRef;
  regression: string | PluginRef;
  expressionWeight: number;
  regressionWeight: number;
}

/**
 * The runner's options: owned by core, since the runner is core. One TypeBox definition gives
 * the JSON Schema ajv checks and the type the runner reads (`TrainingConfig`): a key with a
 * default is always there after validation, so the type says so. The optimizer and loss
 * sub-schemas are JSON Schema as written (their types in types.ts); `learningRate` is added
 * per registry (learningRateShorthandSchema).
 */
export const trainingSchema = Options(
  {
    epochs: Type.Integer({ minimum: 1, maximum: 100_000, default: 5 }),
    batchSize: Type.Integer({ minimum: 1, maximum: 65_536, default: 64 }),
    stepsPerEpoch: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_STEPS,
        description:
          'Stop each epoch after this many batches (smoke runs); default: the whole epoch.',
      }),
    ),
    validationSteps: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_STEPS,
        description: 'Batches of validation per epoch; default: all.',
      }),
    ),
    backend: Enum(BACKEND_PREFERENCES, {
      default: 'auto',
      description:
        'TensorFlow.js backend; auto tries tensorflow-gpu (where an NVIDIA driver is found), tensorflow, cpu in that order.',
    }),
    execution: Enum(EXECUTION_PREFERENCES, {
      default: 'auto',
      description:
        'How a training step runs: eager runs tfjs-layers op by op; graph is the compiled ' +
        'step (forward, loss, gradients and optimizer update as one TensorFlow graph run per ' +
        'step, native backends only; docs/compiled-step.md). auto: graph when the native ' +
        'backend is active, the graph addon is built and every layer is supported, else eager ' +
        'with a notice naming the reason (affectlab doctor shows it).',
    }),
    // its default is the composition root's (Registry.setDefault), set by composeExperimentSchema
    optimizer: Type.Unsafe<PluginRef>({
      $ref: '#/definitions/optimizer',
      description: 'The optimizer: a registered optimizer plugin and its hyperparameters.',
    }),
    earlyStopping: Type.Optional(
      Options(
        {
          monitor: Type.Unsafe<string>({ ...metricName, default: 'val_loss' }),
          patience: Type.Integer({ minimum: 0, maximum: 100_000, default: 3 }),
          mode: Enum(MONITOR_MODES, { default: 'auto' }),
          minDelta: Type.Number({ minimum: 0, maximum: 1e9, default: 0 }),
        },
        { description: 'Shorthand for an early-stopping callback.' },
      ),
    ),
    checkpoint: Type.Optional(
      Options(
        {
          monitor: Type.Unsafe<string>({ ...metricName, default: 'val_loss' }),
          mode: Enum(MONITOR_MODES, { default: 'auto' }),
          saveBest: Type.Boolean({ default: true }),
          // it never had an effect; a file that still sets it is told so instead of it being ignored
          saveLast: Type.Optional(
            Removed(
              'checkpoints/last is always written (resume needs it); delete training.checkpoint.saveLast',
            ),
          ),
        },
        {
          description:
            'Shorthand for a model-checkpoint callback (one with val_loss is added when neither is given).',
        },
      ),
    ),
    loss: Type.Optional(
      Type.Unsafe<LossConfig>({
        type: 'object',
        additionalProperties: false,
        description:
          'The loss of each head: a registered loss plugin, by name or as { type, ...options }.',
        properties: {
          classification: {
            $ref: '#/definitions/lossChoice',
            description:
              'Loss of the expression head (weighted per class when the sampler gives weights).',
          },
          regression: {
            $ref: '#/definitions/lossChoice',
            description: 'Loss of the valence/arousal head.',
          },
          expressionWeight: { type: 'number', minimum: 0, maximum: 1e6, default: 1 },
          regressionWeight: { type: 'number', minimum: 0, maximum: 1e6, default: 1 },
        },
      }),
    ),
  },
  { description: 'How the model is trained.' },
);

/**
 * `training:`, schema defaults filled in. `optimizer` is a registered optimizer plugin and its
 * hyperparameters; `learningRate` is the shorthand for an LR-schedule callback (`schedule` its
 * registered schedule name, or `constant`; the other keys its options), whose schema is made
 * per registry.
 */
export type TrainingConfig = Static<typeof trainingSchema> & {
  learningRate?: { schedule: string; monitor?: string; [option: string]: unknown };
};

export const evaluationSchema = Options(
  {
    split: Enum(['test', 'validation'], { default: 'test' }),
    normalized: Type.Boolean({
      default: true,
      description: 'Also report skew-normalised (Norm) metrics.',
    }),
  },
  { description: 'How the best checkpoint is scored at the end.' },
);

const bounds = (
  description: string,
  item: TSchema = Type.Number({ minimum: -1e15, maximum: 1e15 }),
) => Type.Optional(FixedArray<[number, number]>(item, 2, { description }));

/** One parameter of a random sweep: exactly one of the four distributions. */
/** A random sweep's distribution of one parameter (bounds inclusive for `int`). */
export type SweepDistribution =
  | { choice: unknown[] }
  | { uniform: [number, number] }
  | { loguniform: [number, number] }
  | { int: [number, number] };

export const sweepDistributionSchema = Type.Unsafe<SweepDistribution>(
  Options(
    {
      choice: Type.Optional(
        Type.Unsafe<unknown[]>({
          type: 'array',
          minItems: 1,
          description: 'One of the values, equally likely.',
        }),
      ),
      uniform: bounds('[low, high]: a float, uniform between the bounds.'),
      loguniform: bounds(
        '[low, high], both > 0: a float whose logarithm is uniform.',
        Type.Number({ exclusiveMinimum: 0, maximum: 1e15 }),
      ),
      int: bounds(
        '[low, high]: an integer between the bounds, both included.',
        Type.Integer({ minimum: -1e15, maximum: 1e15 }),
      ),
    },
    {
      minProperties: 1,
      maxProperties: 1,
      description:
        'random mode: { choice: [a, b] }, { uniform: [low, high] }, { loguniform: [low, high] } or { int: [low, high] }',
    },
  ),
);

export const sweepSchema = Options(
  {
    mode: Enum(['grid', 'zip', 'random'], {
      default: 'grid',
      description:
        'grid: every combination of the lists; zip: the i-th values together; random: `trials` draws from the distributions',
    }),
    group: Type.Optional(Type.String({ description: 'Tag shared by the runs of the sweep.' })),
    trials: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: 'random mode: how many trials to draw.',
      }),
    ),
    seed: Type.Optional(
      Type.Integer({
        ...SEED_RANGE,
        description: "random mode: the seed of the draws (default: the experiment's seed).",
      }),
    ),
    repeat: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1,
      description:
        "Runs per combination, with seeds seed, seed+1, ... (the experiment's seed first); compare --sweep shows mean and sd.",
    }),
    scheduler: Type.Optional(
      Type.Unsafe<PluginRef>({
        $ref: '#/definitions/callback',
        description:
          'A callback every trial gets with the sweep as context, e.g. { type: asha } to stop weak trials early.',
      }),
    ),
    parameters: Type.Unsafe<Record<string, unknown[] | SweepDistribution>>({
      type: 'object',
      minProperties: 1,
      description:
        'Dotted path -> list of values, e.g. sampler.type: [imbalanced, weighted]; in random mode also a distribution',
      additionalProperties: {
        if: { type: 'array' },
        then: { minItems: 1 },
        else: sweepDistributionSchema,
      },
    }),
  },
  { description: 'Run the experiment once per combination of --set values.' },
);

/**
 * `training.learningRate`: `schedule` names a registered LR-schedule callback (its definition's
 * `schedule`) or `constant`; the other keys are the union of those callbacks' options.
 */
export function learningRateShorthandSchema(registry: Registry): JsonSchema {
  const schedules = registry.list('callback').filter((d) => d.schedule !== undefined);
  const properties: Record<string, unknown> = {};
  for (const d of schedules) {
    const own = (d.optionsSchema as { properties?: Record<string, unknown> }).properties ?? {};
    for (const [key, schema] of Object.entries(own)) properties[key] ??= schema;
  }
  return {
    description:
      'Learning-rate schedule applied at epoch boundaries; shorthand for the callback it names ' +
      `(${schedules.map((d) => `${d.schedule}: ${d.type}`).join(', ') || 'none registered'}).`,
    type: 'object',
    additionalProperties: false,
    required: ['schedule'],
    properties: {
      schedule: { enum: ['constant', ...schedules.map((d) => d.schedule)] },
      ...properties,
    },
    ...offOnlyRules(schedules, properties),
  };
}

/**
 * A shorthand key whose schema names its `x-off` value (warm-up epochs: 0) is refused at its
 * line with any other value under a schedule that does not take it (`constant` takes none), so
 * `validate` (and an editor) catches what the run would otherwise only find when it expands
 * the shorthand; `x-off-hint` is added to the message.
 */
function offOnlyRules(
  schedules: PluginDefinition[],
  properties: Record<string, unknown>,
): { allOf?: JsonSchema[] } {
  const rules: JsonSchema[] = [];
  for (const [key, schema] of Object.entries(properties)) {
    const { 'x-off': off, 'x-off-hint': hint } = schema as {
      'x-off'?: unknown;
      'x-off-hint'?: string;
    };
    if (off === undefined) continue;
    const takes = (d: PluginDefinition) =>
      Object.hasOwn((d.optionsSchema as { properties?: object }).properties ?? {}, key);
    const takers = schedules.filter(takes).map((d) => d.schedule);
    const others = ['constant', ...schedules.filter((d) => !takes(d)).map((d) => d.schedule)];
    rules.push({
      if: { required: ['schedule'], properties: { schedule: { enum: others } } },
      then: {
        properties: {
          [key]: {
            const: off,
            'x-message':
              `${key} needs a schedule that takes it (schedule: ${takers.join(' or ')}); ` +
              `${others.join(', ')} take${others.length === 1 ? 's' : ''} none` +
              (hint ? `; ${hint}` : ''),
          },
        },
      },
    });
  }
  return rules.length > 0 ? { allOf: rules } : {};
}

/** The schema of one plugin slot: a `type` discriminator over the registered plugins. */
export function pluginRefSchema(registry: Registry, kind: PluginKind): JsonSchema {
  const defs = registry.list(kind);
  const branches = defs.map((d) => {
    const opts = d.optionsSchema as { properties?: JsonSchema; required?: string[] };
    return {
      type: 'object',
      title: `${kind}: ${d.type}`,
      description: d.description,
      additionalProperties: false,
      required: ['type', ...(opts.required ?? [])],
      properties: {
        type: { const: d.type, description: d.description },
        ...(opts.properties ?? {}),
      },
    };
  });
  return {
    type: 'object',
    required: ['type'],
    properties: {
      // a registry without plugins of this kind (tests, embedders) leaves any name to the lookup
      type:
        defs.length > 0
          ? { enum: defs.map((d) => d.type), description: `Registered ${kind} plugin` }
          : { type: 'string', description: `Registered ${kind} plugin (none registered)` },
    },
    ...(branches.length > 0 ? { discriminator: { propertyName: 'type' }, oneOf: branches } : {}),
  };
}

/**
 * The experiment's own keys (the plugin slots are added per registry): with the sections
 * above, the JSON Schema of everything but the plugins' options and, as `ExperimentSections`,
 * its type.
 */
export const experimentSections = {
  name: Type.String({
    minLength: 1,
    // a folder name (runs/<name>/) and an MLflow experiment name: well under NAME_MAX (255)
    maxLength: MAX_NAME_LENGTH,
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
    description: 'Experiment name (runs/<name>/...).',
  }),
  description: Type.Optional(Type.String()),
  extends: Type.Optional(
    Type.Unsafe<string | string[]>({
      description: 'Base file(s), deep-merged in order; this file wins. Arrays are replaced.',
      oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    }),
  ),
  seed: Type.Integer({ ...SEED_RANGE, default: 42 }),
  plugins: Type.Optional(
    Type.Array(Type.String(), {
      description: 'Extra plugin modules: a path relative to this file, or a package name.',
    }),
  ),
  tags: Type.Optional(
    Type.Unsafe<Record<string, string>>({
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Free-form tags for the run.',
    }),
  ),
  runs: Type.Optional(
    Options({
      root: Type.String({ default: 'runs', description: 'Root directory of the local run store.' }),
    }),
  ),
  imageCache: Options(
    {
      maxGiB: Type.Number({
        minimum: 0,
        maximum: 1_000_000,
        default: 64,
        description:
          'Bound on the cache directory (entries already there count). Once reached, the ' +
          'remaining images are decoded every epoch (the cache stops growing; nothing is ' +
          'evicted). 0 turns the cache off. AffectNet training set at 256 px: ~54.5 GiB.',
      }),
    },
    {
      default: {},
      description:
        'The preprocessed-image cache (<cacheDir>/images): uint8 pixels after decode, crop and ' +
        'resize, 16 + height x width x channels bytes per image, read back from the second epoch on.',
    },
  ),
  // an experiment without `training:` trains with every default, so the type has it
  training: Type.Unsafe<TrainingConfig>({
    $ref: '#/definitions/training',
    default: {},
  }),
  evaluation: Type.Optional(
    Type.Unsafe<Static<typeof evaluationSchema>>({ $ref: '#/definitions/evaluation' }),
  ),
  sweep: Type.Optional(Type.Unsafe<Static<typeof sweepSchema>>({ $ref: '#/definitions/sweep' })),
};

/** `{ ...schema, default }`, or the schema as it is when there is no default. */
const withDefault = (schema: object, value: unknown): JsonSchema =>
  (value === undefined ? { ...schema } : { ...schema, default: value }) as JsonSchema;

/**
 * `training:` with the learning-rate shorthand of the registered schedules and the plugin
 * defaults the composition root chose (`Registry.setDefault`).
 */
function trainingWithDefaults(registry: Registry): JsonSchema {
  const properties = trainingSchema.properties as Record<string, JsonSchema>;
  const loss = properties.loss as JsonSchema & { properties: Record<string, JsonSchema> };
  const optimizer = registry.defaultFor('optimizer');
  const asName = (ref: PluginRef | undefined) =>
    ref && Object.keys(ref).length === 1 ? ref.type : ref;
  // optional either way: a default fills it in, or the run says none was given
  const required: string[] = (trainingSchema.required ?? []).filter((k) => k !== 'optimizer');
  const { required: _static, ...rest } = trainingSchema;
  return {
    ...rest,
    ...(required.length > 0 ? { required } : {}),
    properties: {
      ...properties,
      optimizer: withDefault(properties.optimizer, optimizer),
      loss: {
        ...loss,
        properties: {
          ...loss.properties,
          classification: withDefault(
            loss.properties.classification,
            asName(registry.defaultFor('classification-loss')),
          ),
          regression: withDefault(
            loss.properties.regression,
            asName(registry.defaultFor('regression-loss')),
          ),
        },
      },
      learningRate: learningRateShorthandSchema(registry),
    },
  } as JsonSchema;
}

/** The whole experiment schema, composed from core sections and each plugin's options. */
export function composeExperimentSchema(registry: Registry): JsonSchema {
  const definitions: Record<string, JsonSchema> = {};
  const properties: Record<string, JsonSchema> = { ...experimentSections };
  definitions.training = trainingWithDefaults(registry);
  definitions.evaluation = evaluationSchema;
  definitions.sweep = sweepSchema;
  definitions.optimizer = pluginRefSchema(registry, 'optimizer');
  definitions.loss = pluginRefSchema(registry, 'loss');
  const lossNames = registry.types('loss');
  definitions.lossChoice = {
    oneOf: [
      lossNames.length > 0
        ? { enum: lossNames, description: 'A registered loss plugin' }
        : { type: 'string', description: 'A registered loss plugin (none registered)' },
      { $ref: '#/definitions/loss' },
    ],
  };
  for (const slot of PLUGIN_SLOTS) {
    definitions[slot.kind] = pluginRefSchema(registry, slot.kind);
    properties[slot.key] = slot.list
      ? { type: 'array', items: { $ref: `#/definitions/${slot.kind}` } }
      : { $ref: `#/definitions/${slot.kind}` };
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://affectlab.dev/schemas/experiment.schema.json',
    title: 'affectlab experiment',
    type: 'object',
    additionalProperties: false,
    required: ['name', ...PLUGIN_SLOTS.filter((s) => s.required).map((s) => s.key)],
    properties,
    definitions,
  };
}
