/**
 * What plugins contribute besides plugin definitions: CLI commands, `affectlab doctor`
 * sections and `affectlab compare --from` run sources. The composition root (or an embedder)
 * hands each module's extensions to `CliExtensions.extend`; core's commands read them from
 * there, so core names no plugin's command, setting or server.
 */
import type { Command } from 'commander';
import { NamedRegistry } from '../host/named-registry.js';
import type { Runtime } from '../host/runtime.js';
import type { RunSource } from '../reporting/compare.js';

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

/**
 * Something that adds subcommands to the CLI. Core's commands and plugins' commands are both
 * this shape; the program (program.ts) imports the commands, never the other way round.
 */
export type CommandModule = (program: Command, runtime: Runtime, cli: CliExtensions) => void;

/**
 * What the plugins added to the CLI: commands, doctor sections, run sources. The CLI owns it
 * (the runtime knows nothing of the CLI); the composition root fills it (`Runtime` is handed to
 * commands beside it).
 */
export class CliExtensions {
  /** Sources of finished runs for `affectlab compare --from` (`local`; plugins add others). */
  readonly runSources = new NamedRegistry<RunSourceDefinition>('run source');

  /** Sections of `affectlab doctor` after core's (backends, engine), in registration order. */
  readonly doctorSections = new NamedRegistry<DoctorSection>('doctor section');

  /** CLI commands plugins contribute (the program adds them after core's). */
  readonly commands: CommandModule[] = [];

  /** Take a plugin module's commands, doctor sections and run sources; names must be new. */
  extend(extensions: PluginExtensions): this {
    for (const section of extensions.doctorSections ?? [])
      this.doctorSections.register(section.name, section);
    for (const source of extensions.runSources ?? []) this.runSources.register(source.name, source);
    this.commands.push(...(extensions.commands ?? []));
    return this;
  }
}
