import type { CommandModule } from '../../core/cli/command.js';
import { registerMlflowRunSource } from './mlflow/run-source.js';
import { registerSyncCommand } from './mlflow/sync.js';

/** CLI commands contributed by the reporter plugins. */
export const reporterCommands: CommandModule[] = [registerSyncCommand, registerMlflowRunSource];
