import { Option, type Command } from 'commander';
import type { Runtime } from '../plugin/runtime.js';

/**
 * Something that adds subcommands to the CLI. Core's commands and plugins' commands are both
 * this shape; the program (program.ts) imports the commands, never the other way round.
 */
export type CommandModule = (program: Command, runtime: Runtime) => void;

/** Commander argument parser for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--set path=value`, shared by every command that reads an experiment. */
export const setOption = (): Option =>
  new Option(
    '--set <path=value>',
    'override a config value (repeatable), e.g. --set training.epochs=3',
  ).argParser(collect);
