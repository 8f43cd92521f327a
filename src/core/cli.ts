import { Command, Option } from 'commander';
import { ConfigError, UserError } from './errors.js';
import type { Runtime } from './runtime.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerMetricsCommand } from './commands/metrics.js';
import { registerRunCommand } from './commands/run.js';
import { registerCompareCommand } from './commands/compare.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerEvaluateCommand } from './commands/evaluate.js';
import { registerExportCommand } from './commands/export.js';

/** Something that adds subcommands to the CLI. Each command module exports one. */
export type CommandModule = (program: Command, runtime: Runtime) => void;

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const setOption = (): Option =>
  new Option(
    '--set <path=value>',
    'override a config value (repeatable), e.g. --set training.epochs=3',
  ).argParser(collect);

export function createCli(runtime: Runtime, extraCommands: CommandModule[] = []): Command {
  const program = new Command('affectlab')
    .description('Facial-expression experiments on AffectNet as YAML files')
    .version('0.1.0')
    .option('--debug', 'show stack traces for errors')
    .showHelpAfterError('(add --help for usage)');
  for (const register of [
    registerConfigCommands,
    registerRunCommand,
    registerDoctorCommand,
    registerMetricsCommand,
    registerCompareCommand,
    registerPredictCommand,
    registerEvaluateCommand,
    registerExportCommand,
    ...extraCommands,
  ]) {
    register(program, runtime);
  }
  return program;
}

/** Run the CLI; user errors print one clear message (no stack unless --debug) and exit 1. */
export async function main(
  runtime: Runtime,
  argv: string[],
  extraCommands: CommandModule[] = [],
): Promise<number> {
  const program = createCli(runtime, extraCommands);
  program.exitOverride();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (
      code === 'commander.helpDisplayed' ||
      code === 'commander.version' ||
      code === 'commander.help'
    )
      return 0;
    if (code?.startsWith('commander.')) return 1;
    if (error instanceof ConfigError) {
      process.stderr.write(error.message + '\n');
    } else if (error instanceof UserError) {
      process.stderr.write(`affectlab: ${error.message}\n`);
    } else {
      process.stderr.write(
        `affectlab: internal error: ${(error as Error).message ?? String(error)}\n`,
      );
      if (!debug) process.stderr.write('(run again with --debug for the stack trace)\n');
    }
    if (debug) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return 1;
  }
}
