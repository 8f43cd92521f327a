/**
 * What plugins contribute besides plugin definitions: CLI commands, `affectlab doctor`
 * sections and `affectlab compare --from` run sources. The composition root (or an embedder)
 * hands each module's extensions to `Runtime.extend`; core's commands read them from there, so
 * core names no plugin's command, setting or server.
 */
import type { CommandModule } from '../cli/command.js';
import type { RunSource } from '../reporting/compare.js';
import type { Runtime } from './runtime.js';

/** A JSON-able value (what `doctor --json` prints under a section's name). */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined };

/**
 * One section of `affectlab doctor`: `collect` gathers the facts (never throws for a missing
 * server or device; says so in the value), `format` renders them as text lines.
 */
export interface DoctorSection<T extends JsonValue = JsonValue> {
  /** The section's key in `doctor --json` and its label in the text output. */
  name: string;
  collect(runtime: Runtime): Promise<T> | T;
  format(value: T): string[];
}

/** A command-line option a run source reads (`--tracking-uri <uri>`), added to `compare`. */
export interface RunSourceOption {
  /** Commander flags, e.g. `--tracking-uri <uri>`. */
  flags: string;
  description: string;
}

/** A source of finished runs for `affectlab compare --from <name>`. */
export interface RunSourceDefinition {
  name: string;
  description: string;
  source: RunSource;
  options?: RunSourceOption[];
}

/** What one plugin module contributes to the CLI. Every field is optional. */
export interface PluginExtensions {
  commands?: CommandModule[];
  doctorSections?: DoctorSection[];
  runSources?: RunSourceDefinition[];
}
