import { UserError, didYouMean } from '../../sdk/errors.js';

/**
 * Entries of one kind by name, the one registration style of affectlab (plugins by kind, export
 * formats, graph layer forms, Keras layer classes, the CLI's doctor sections and run sources):
 * registration is explicit, a name is taken once (registering the same entry again is a no-op,
 * a different one is refused), and a lookup of an unknown name fails with the known names and
 * a did-you-mean.
 */
export class NamedRegistry<T> {
  private readonly entries = new Map<string, T>();

  /**
   * `what` names an entry in messages (`export format`, `graph form of layer class`); `unknown`
   * builds the error of a failed lookup when the kind has its own (UnknownPluginError).
   */
  constructor(
    private readonly what: string,
    private readonly unknown?: (name: string, known: string[]) => Error,
  ) {}

  register(name: string, entry: T): void {
    const existing = this.entries.get(name);
    if (existing !== undefined && existing !== entry)
      throw new UserError(
        `${/^[aeiou]/i.test(this.what) ? 'an' : 'a'} ${this.what} named '${name}' is already registered`,
      );
    this.entries.set(name, entry);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The entry, or undefined when none has the name. */
  find(name: string): T | undefined {
    return this.entries.get(name);
  }

  get(name: string): T {
    const found = this.entries.get(name);
    if (found !== undefined) return found;
    const known = this.names();
    if (this.unknown) throw this.unknown(name, known);
    const hint = didYouMean(name, known);
    throw new UserError(
      `unknown ${this.what} '${name}'${hint ? `; did you mean '${hint}'?` : ''} ` +
        `(known: ${known.length ? known.join(', ') : '(none)'})`,
    );
  }

  /** The names, sorted. */
  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** The entries in registration order. */
  values(): T[] {
    return [...this.entries.values()];
  }
}
