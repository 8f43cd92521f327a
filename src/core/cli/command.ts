import { InvalidArgumentError, Option } from 'commander';

export type { CommandModule } from './extensions.js';

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

/**
 * `--allow-plugins`: let a command that only reads an experiment (validate, config, summary,
 * run --dry-run) import the modules of its `plugins:` list. Without it nothing is imported:
 * validating a config runs no code from it.
 */
export const allowPluginsOption = (): Option =>
  new Option(
    '--allow-plugins',
    "import the experiment's plugins: modules (runs their code) so their sections are checked too",
  );

/** `--max-combinations <n>`: the most runs a sweep may make (default 10,000). */
export const maxCombinationsOption = (): Option =>
  new Option(
    '--max-combinations <n>',
    'refuse a sweep of more runs than this (default 10000)',
  ).argParser((value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1)
      throw new InvalidArgumentError('give a positive whole number');
    return n;
  });
