import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compareTable, formatCompare, localRuns } from '../../reporting/compare.js';
import { UserError } from '../../errors.js';
import type { Runtime } from '../../plugin/runtime.js';
import { findSweep, readSweep } from '../../sweep/launch.js';
import { formatSweepCompare } from '../../sweep/compare.js';

interface CompareOptions {
  experiment?: string;
  group?: string;
  sweep?: string;
  runs: string;
  from: string;
  format: 'table' | 'markdown' | 'json' | 'html';
  sort?: string;
  out?: string;
  trackingUri?: string;
}

export function registerCompareCommand(program: Command, runtime: Runtime): void {
  runtime.runSources.local ??= localRuns;
  program
    .command('compare')
    .description(
      "compare runs: one row per run, the report's Appendix A metrics (Orig and Norm) and per-class recall",
    )
    .option('--experiment <glob>', 'experiment name glob, e.g. "affectnet-alexnet-*"')
    .option('--group <tag>', 'only the runs of one sweep')
    .option(
      '--sweep <id>',
      "one sweep's combinations: only the parameters that differ, metrics of each run's best epoch",
    )
    .option('--runs <dir>', 'root of the local run store', 'runs')
    .option('--from <source>', 'where runs come from: local or mlflow', 'local')
    .option('--tracking-uri <uri>', 'MLflow server for --from mlflow (default MLFLOW_TRACKING_URI)')
    .option('--format <format>', 'table, markdown, json or html', 'table')
    .option('--sort <metric>', 'sort by this metric (default f1_macro)')
    .option('--out <file>', 'write to a file (html defaults to compare.html)')
    .action(async (opts: CompareOptions) => {
      if (!['table', 'markdown', 'json', 'html'].includes(opts.format))
        throw new UserError(`unknown --format '${opts.format}' (table, markdown, json, html)`);
      if (opts.sweep) {
        const dir = findSweep(opts.sweep, opts.runs);
        if (!dir)
          throw new UserError(
            `no sweep '${opts.sweep}' (give its directory, or its id under ${opts.runs}/sweeps/)`,
          );
        if (opts.format !== 'table' && opts.format !== 'json')
          throw new UserError('--sweep prints --format table or json');
        process.stdout.write(formatSweepCompare(readSweep(dir), opts.format) + '\n');
        return;
      }
      const source = runtime.runSources[opts.from];
      if (!source)
        throw new UserError(
          `unknown --from '${opts.from}'; known: ${Object.keys(runtime.runSources).join(', ')}`,
        );
      const runs = (
        await source({
          experiment: opts.experiment,
          group: opts.group,
          runsRoot: opts.runs,
          trackingUri: opts.trackingUri ?? process.env.MLFLOW_TRACKING_URI,
        })
      ).filter((r) => Object.keys(r.metrics).length > 0);
      if (runs.length === 0)
        throw new UserError(
          `no finished runs with metrics found (${opts.from}${opts.experiment ? `, experiment ${opts.experiment}` : ''}${opts.group ? `, group ${opts.group}` : ''})`,
        );
      const text = formatCompare(compareTable(runs, opts.sort), opts.format);
      const out = opts.out ?? (opts.format === 'html' ? 'compare.html' : undefined);
      if (out) {
        writeFileSync(out, text);
        process.stdout.write(`wrote ${out} (${runs.length} runs)\n`);
      } else {
        process.stdout.write(text + '\n');
      }
    });
}
