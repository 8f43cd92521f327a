import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { compareTable, formatCompare, localRuns, splitLabel } from '../../reporting/compare.js';
import { UserError, didYouMean } from '../../../sdk/errors.js';
import type { CliExtensions } from '../extensions.js';
import type { Runtime } from '../../host/runtime.js';
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
  split?: string;
  out?: string;
  [sourceOption: string]: unknown;
}

const camelCase = (flags: string): string =>
  (/--([a-z0-9-]+)/.exec(flags)?.[1] ?? flags).replace(/-([a-z0-9])/g, (_, c: string) =>
    c.toUpperCase(),
  );

export function registerCompareCommand(
  program: Command,
  runtime: Runtime,
  cli: CliExtensions,
): void {
  if (!cli.runSources.has('local'))
    cli.runSources.register('local', {
      name: 'local',
      description: 'the local run store (--runs)',
      source: localRuns,
    });
  // local first, then the plugins' in registration order
  const sources = [...cli.runSources.values()].sort(
    (a, b) => Number(b.name === 'local') - Number(a.name === 'local'),
  );
  const command = program
    .command('compare')
    .description(
      "compare runs: one row per run, the split its metrics scored, the report's Appendix A metrics (Orig and Norm) and per-class recall",
    )
    .option('--experiment <glob>', 'experiment name glob, e.g. "affectnet-alexnet-*"')
    .option('--group <tag>', 'only the runs of one sweep')
    .option(
      '--sweep <id>',
      "one sweep's combinations: only the parameters that differ, metrics of each run's best epoch",
    )
    .option('--runs <dir>', 'root of the local run store', 'runs')
    .option(
      '--from <source>',
      `where runs come from: ${sources.map((s) => `${s.name} (${s.description})`).join(', ')}`,
      'local',
    );
  // each source's own options (--tracking-uri for a tracking server's runs)
  for (const s of sources)
    for (const o of s.options ?? []) command.option(o.flags, `--from ${s.name}: ${o.description}`);
  command
    .option('--format <format>', 'table, markdown, json or html', 'table')
    .option('--sort <metric>', 'sort by this metric (default f1_macro)')
    .option(
      '--split <name>',
      'only the runs whose final metrics scored this split (test, validation); runs scored on different splits are warned about',
    )
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
      const source = cli.runSources.find(opts.from);
      if (!source) {
        const known = sources.map((s) => s.name);
        const hint = didYouMean(opts.from, known);
        throw new UserError(
          `unknown --from '${opts.from}'${hint ? `; did you mean '${hint}'?` : ''} Registered run sources: ${known.join(', ')}`,
        );
      }
      const options = Object.fromEntries(
        (source.options ?? []).map((o) => {
          const key = camelCase(o.flags);
          const value = opts[key];
          return [key, typeof value === 'string' ? value : undefined];
        }),
      );
      const runs = (
        await source.source({
          experiment: opts.experiment,
          group: opts.group,
          runsRoot: opts.runs,
          options,
        })
      ).filter((r) => Object.keys(r.metrics).length > 0);
      if (runs.length === 0)
        throw new UserError(
          `no finished runs with metrics found (${opts.from}${opts.experiment ? `, experiment ${opts.experiment}` : ''}${opts.group ? `, group ${opts.group}` : ''})`,
        );
      const kept = opts.split ? runs.filter((r) => r.split === opts.split) : runs;
      if (kept.length === 0)
        throw new UserError(
          `none of the ${runs.length} run(s) was scored on the ${opts.split} split (they were: ${[...new Set(runs.map(splitLabel))].join(', ')})`,
        );
      const table = compareTable(kept, opts.sort);
      if (table.warning) runtime.logger.warn(table.warning);
      const text = formatCompare(table, opts.format);
      const out = opts.out ?? (opts.format === 'html' ? 'compare.html' : undefined);
      if (out) {
        writeFileSync(out, text);
        process.stdout.write(`wrote ${out} (${kept.length} runs)\n`);
      } else {
        process.stdout.write(text + '\n');
      }
    });
}
