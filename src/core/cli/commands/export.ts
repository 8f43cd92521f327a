/** `affectlab export --run <run> --format <name>`: write a trained run's model in another format. */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import type { ExportResult } from '../../inference/export-formats.js';
import { openTrainedRun } from '../../inference/trained-run.js';
import type { Runtime } from '../../plugin/runtime.js';

export interface ExportOptions {
  run: string;
  format: string;
  /** Default: <run>/export/<format>. */
  out?: string;
  /** Replace a non-empty output directory. */
  force?: boolean;
  runsRoot?: string;
}

/** Export one run in one format; returns what the format wrote. */
export async function exportRun(runtime: Runtime, options: ExportOptions): Promise<ExportResult> {
  const format = runtime.exportFormats.get(options.format);
  const run = await openTrainedRun(runtime, options.run, { runsRoot: options.runsRoot });
  const outDir = resolve(options.out ?? run.store.path(`export/${format.name}`));
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    if (!options.force)
      throw new UserError(`${outDir} is not empty (pass --force to replace it, or --out <dir>)`);
    rmSync(outDir, { recursive: true, force: true });
  }
  mkdirSync(outDir, { recursive: true });
  return format.export({ run, outDir, logger: runtime.logger, formats: runtime.exportFormats });
}

export function registerExportCommand(program: Command, runtime: Runtime): void {
  const formats = runtime.exportFormats.list();
  program
    .command('export')
    .description(
      "write a trained run's model in another format: " +
        (formats.length
          ? formats.map((f) => `${f.name} (${f.description})`).join('; ')
          : '(no format registered)'),
    )
    .requiredOption('--run <run>', 'the run: its directory, or its id under --runs')
    .requiredOption('--format <name>', `one of: ${runtime.exportFormats.names().join(', ')}`)
    .option('--out <dir>', 'output directory (default: <run>/export/<format>)')
    .option('--force', 'replace a non-empty output directory')
    .option('--runs <dir>', 'root of the local run store', 'runs')
    .action(
      async (opts: {
        run: string;
        format: string;
        out?: string;
        force?: boolean;
        runs: string;
      }) => {
        const result = await exportRun(runtime, {
          run: opts.run,
          format: opts.format,
          out: opts.out,
          force: opts.force,
          runsRoot: opts.runs,
        });
        for (const note of result.notes ?? []) process.stderr.write(`${note}\n`);
        process.stdout.write(`${result.path}\n`);
      },
    );
}
