import { UserError, didYouMean } from '../../sdk/errors.js';
import { NamedRegistry } from './named-registry.js';
import {
  PLUGIN_KINDS,
  type PluginDefinition,
  type PluginKind,
  type PluginRef,
} from '../../sdk/contracts/plugin.js';
import { type ClassPresets } from '../../sdk/contracts/data.js';

export class UnknownPluginError extends UserError {
  constructor(
    readonly kind: PluginKind,
    readonly type: string,
    readonly known: string[],
  ) {
    const hint = didYouMean(type, known);
    super(
      `unknown ${kind} '${type}'` +
        (hint ? `; did you mean '${hint}'?` : '') +
        ` Registered ${kind} plugins: ${known.length ? known.join(', ') : '(none)'}`,
    );
    this.name = 'UnknownPluginError';
  }
}

/** Plugin definitions by kind and type. Registration is explicit; lookups fail loudly. */
/** Slots whose plugin the composition root picks when an experiment names none. */
export type DefaultSlot = 'optimizer' | 'classification-loss' | 'regression-loss';

export class Registry {
  private readonly defaults = new Map<DefaultSlot, PluginRef>();
  private readonly entries = new Map<PluginKind, NamedRegistry<PluginDefinition>>(
    PLUGIN_KINDS.map((kind) => [
      kind,
      new NamedRegistry(
        `${kind} plugin`,
        (type, known) => new UnknownPluginError(kind, type, known),
      ),
    ]),
  );

  register(definition: PluginDefinition): void {
    const { kind, type } = definition;
    const byType = this.entries.get(kind);
    if (!byType) {
      throw new UserError(
        `cannot register '${type}': unknown plugin kind '${kind}' (kinds: ${PLUGIN_KINDS.join(', ')})`,
      );
    }
    byType.register(type, definition);
  }

  registerAll(definitions: Iterable<PluginDefinition>): void {
    for (const d of definitions) this.register(d);
  }

  has(kind: PluginKind, type: string): boolean {
    return this.entries.get(kind)?.has(type) ?? false;
  }

  get(kind: PluginKind, type: string): PluginDefinition {
    const byType = this.entries.get(kind);
    if (!byType) throw new UnknownPluginError(kind, type, []);
    return byType.get(type);
  }

  /** Registered type names of one kind, sorted. */
  types(kind: PluginKind): string[] {
    return this.entries.get(kind)?.names() ?? [];
  }

  /**
   * The plugin a slot gets when an experiment names none (`training.optimizer`, each head's
   * loss). The composition root chooses them, so core names no plugin; the composed schema
   * carries them as the slots' defaults.
   */
  setDefault(slot: DefaultSlot, ref: PluginRef): void {
    this.defaults.set(slot, ref);
  }

  defaultFor(slot: DefaultSlot): PluginRef | undefined {
    return this.defaults.get(slot);
  }

  /** Hints of every plugin for unset environment variables, by variable name. */
  envHints(): Record<string, string> {
    return Object.assign({}, ...this.list().map((d) => d.envHints ?? {})) as Record<string, string>;
  }

  /** The class vocabularies of the registered dataset plugins, by dataset type. */
  classPresets(): { type: string; classPresets: ClassPresets }[] {
    return this.list('dataset').flatMap((d) =>
      d.classPresets ? [{ type: d.type, classPresets: d.classPresets }] : [],
    );
  }

  list(kind?: PluginKind): PluginDefinition[] {
    const kinds = kind ? [kind] : PLUGIN_KINDS;
    return kinds.flatMap((k) => this.types(k).map((t) => this.get(k, t)));
  }
}
