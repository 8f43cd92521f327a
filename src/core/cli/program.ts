import { Command } from 'commander';
import { ConfigError, UserError } from '../../sdk/errors.js';
import { asWriteFailure } from '../write-failure.js';
import type { Runtime } from '../host/runtime.js';
import { CliExtensions, type CommandModule } from './extensions.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerMetricsCommand } from './commands/metrics.js';
import { registerRunCommand } from './commands/run.js';
import { registerCompareCommand } from './commands/compare.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerEvaluateCommand } from './commands/evaluate.js';
import { registerExportCommand } from './commands/export.js';
import { registerSetupCommand } from './commands/setup.js';
import { finishHelp } from './help.js';

/**
 * The program: core's commands, then those the plugins added (`cli`), then `extraCommands`.
 * `cli` holds what the plugin modules contributed (the composition root fills it).
 */
export function createCli(
  runtime: Runtime,
  extraCommands: CommandModule[] = [],
  cli: CliExtensions = new CliExtensions(),
): Command {
  const program = new Command('affectlab')
    .description('Facial-expression experiments on AffectNet as YAML files')
    .version('0.1.0')
    .option('--debug', "show stack traces for errors (and TensorFlow's own log lines)")
    .option('--verbose', "debug messages, and TensorFlow's own log lines (hidden by default)")
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
    ...cli.commands,
    registerSetupCommand,
    ...extraCommands,
  ]) {
    register(program, runtime, cli);
  }
  finishHelp(program);
  return program;
}

/** Run the CLI; user errors print one clear message (no stack unless --debug) and exit 1. */
export async function main(
  runtime: Runtime,
  argv: string[],
  extraCommands: CommandModule[] = [],
  cli: CliExtensions = new CliExtensions(),
): Promise<number> {
  const program = createCli(runtime, extraCommands, cli);
  program.exitOverride();
  const debug = argv.includes('--debug');
  if (argv.includes('--verbose')) runtime.logger.level = 'debug';
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (caught) {
    // a write the user can fix (disk full, read-only, permissions) is theirs, not ours
    const error = asWriteFailure(caught) ?? caught;
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
