/** What every plugin is: its definition (kind, type name, options schema, implementation) and the injection token its options come under. */
import type { InjectionToken } from 'tsyringe';
import type { ClassPresets } from './data.js';

/** `{ type: <registered name>, ...options }` */
export interface PluginRef {
  type: string;
  [option: string]: unknown;
}

/** A class whose instances tsyringe can build. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- constructor parameters are resolved by the container
export type Constructor<T> = new (...args: any[]) => T;

/** The kinds of plugin the runtime resolves. Core knows these interfaces, never a plugin by name. */
export const PLUGIN_KINDS = [
  'dataset',
  'sampler',
  'architecture',
  'reporter',
  'launcher',
  'callback',
  'optimizer',
  'loss',
  'detector',
] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

/** A JSON Schema fragment (draft-07 subset used by ajv and editors). */
export type JsonSchema = { [key: string]: unknown };

/** The options object a plugin receives: its YAML mapping without `type`, after validation. */
export type PluginOptions = Record<string, unknown>;

/**
 * Token under which a plugin's validated options are registered in the per-plugin child
 * container, so a plugin class asks for them with `@inject(PLUGIN_OPTIONS)`.
 */
export const PLUGIN_OPTIONS: InjectionToken<PluginOptions> = Symbol('affectlab.pluginOptions');

/**
 * What a plugin module exports. `implementation` is an `@injectable()` class: its constructor
 * receives `@inject(PLUGIN_OPTIONS)` options and any core service by type (Logger, Rng, ...).
 */
export interface PluginDefinition<T = unknown> {
  kind: PluginKind;
  /** The name used in YAML (`type: vgg-type`). */
  type: string;
  description: string;
  /** JSON Schema of the options (an object schema, without the `type` key). */
  optionsSchema: JsonSchema;
  implementation: Constructor<T>;
  /**
   * Constructor parameters as injection tokens, for plugins written without decorators (plain
   * JavaScript): the runtime resolves each and calls `new implementation(...resolved)`.
   */
  inject?: InjectionToken<unknown>[];
  /**
   * Hints shown when an environment variable this plugin's options usually come from is unset
   * (`AFFECTNET_ROOT` -> how to get the data or try synthetic data). `{file}` is replaced by
   * the experiment file.
   */
  envHints?: Record<string, string>;
  /**
   * Callbacks that schedule the learning rate: the name that selects this callback in the
   * `training.learningRate` shorthand (`schedule: step` for step-decay), whose other keys are
   * this callback's options.
   */
  schedule?: string;
  /**
   * A dataset's class codes and named class lists, so commands that take `--classes` without
   * an experiment (`affectlab metrics`) learn them from the registered datasets.
   */
  classPresets?: ClassPresets;
  /**
   * Files these options make the run fetch on first use (`weights: imagenet`), for `validate`
   * and `run --dry-run` to say whether each is cached. A pure look at the cache: no network,
   * no file read beyond a stat.
   */
  fileNotes?(options: PluginOptions): FileNote[];
}

/** A file a plugin fetches on first use, as `validate` and `--dry-run` report it. */
export interface FileNote {
  /** The option that asks for it: `weights`. */
  option: string;
  /** What it is: `Keras' ImageNet weights for resnet50`. */
  what: string;
  cached: boolean;
  /** Where it is kept (or will be). */
  path: string;
  /** Where it comes from when not cached. */
  url: string;
  /** `md5 …`, `sha256 …` or a note that there is none. */
  hash: string;
}

/** A dataset plugin's class vocabulary: codes, their names and named class lists. */
