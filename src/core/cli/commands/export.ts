/** `affectlab export --run <run> --format <name>`: write a trained run's model in another format. */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../../sdk/errors.js';
import type { ExportFormat, ExportResult } from '../../inference/export-formats.js';
import { openTrainedRun } from '../../inference/open-trained-run.js';
import type { Runtime } from '../../host/runtime.js';
import { guardWrite } from '../../write-failure.js';
import { processAlive } from '../../../sdk/process.js';

export interface ExportOptions {
  run: string;
  format: string;
  /** Default: <run>/export/<format>. A path ending in the format's file extension names that file. */
  out?: string;
  /** Replace a non-empty output directory (or an existing output file). */
  force?: boolean;
  runsRoot?: string;
}

/** `path` with symlinks resolved, also when its last parts do not exist yet. */
function realPath(path: string): string {
  const absolute = resolve(path);
  if (existsSync(absolute)) return realpathSync(absolute);
  const parent = dirname(absolute);
  return parent === absolute ? absolute : join(realPath(parent), basename(absolute));
}

const isWithin = (inner: string, outer: string): boolean =>
  inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : outer + sep);

/**
 * Refuse an output that is, or contains, something export must never replace: the run
 * folder, the runs root, the current directory, $HOME, `/`; or, inside the run folder, any of
 * the run's own files (only `export/` and new names are the export's).
 */
export function checkOutputPath(out: string, runDir: string, runsRoot: string): void {
  const target = realPath(out);
  const run = realPath(runDir);
  const guarded: [string, string][] = [
    [run, 'the run folder'],
    [realPath(runsRoot), 'the runs root'],
    [realPath(process.cwd()), 'the current directory'],
    [realPath(homedir()), 'your home directory'],
    [sep, 'the root directory'],
  ];
  // what the output is, else the first thing it contains
  const hit =
    guarded.find(([path]) => path === target) ?? guarded.find(([path]) => isWithin(path, target));
  if (hit)
    throw new UserError(
      `refusing --out ${out}: it ${hit[0] === target ? 'is' : 'contains'} ${hit[1]} (${hit[0]}), which ` +
        `export would replace; give a folder of its own (default: <run>/export/<format>)`,
    );
  if (isWithin(target, run)) {
    const top = relative(run, target).split(sep)[0];
    if (top !== 'export' && existsSync(join(run, top)))
      throw new UserError(
        `refusing --out ${out}: it would replace the run's own ${top}; write under ${join(run, 'export')} or outside the run`,
      );
  }
}

/** What is at `out` now, checked against what the export will put there. */
function checkExisting(out: string, asFile: boolean, format: ExportFormat, force?: boolean): void {
  const found = statSync(out, { throwIfNoEntry: false });
  if (!found) return;
  if (asFile) {
    if (found.isDirectory())
      throw new UserError(
        `--out ${out} is a folder; a ${format.fileExtension} file cannot replace it`,
      );
    if (!force) throw new UserError(`${out} exists (pass --force to replace it)`);
    return;
  }
  if (!found.isDirectory())
    throw new UserError(
      `--out ${out} is a file, but --format ${format.name} writes a folder` +
        (format.fileExtension
          ? ` (or a file: give an --out ending in ${format.fileExtension})`
          : ''),
    );
  if (readdirSync(out).length > 0 && !force)
    throw new UserError(`${out} is not empty (pass --force to replace it, or --out <dir>)`);
}

/** The result with the temporary folder's paths replaced by where they ended up. */
function moved(result: ExportResult, from: string, to: string, files?: string[]): ExportResult {
  const swap = (text: string): string => text.split(from).join(to);
  return {
    path: swap(result.path),
    files: files ?? result.files,
    ...(result.notes ? { notes: result.notes.map(swap) } : {}),
  };
}

/**
 * The temporary siblings an export killed mid-way left (`.<out>.tmp-<pid>`, `.<out>.old-<pid>`
 * of a process that no longer exists) are removed before the next export of `out`; those of an
 * export still running are left alone. Returns the names removed.
 */
export function removeStaleExportTemporaries(out: string): string[] {
  const prefix = `.${basename(out)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(out));
  } catch {
    return [];
  }
  return names.filter((name) => {
    if (!name.startsWith(prefix)) return false;
    const match = /^(tmp|old)-(\d+)$/.exec(name.slice(prefix.length));
    if (!match || processAlive(Number(match[2]))) return false;
    rmSync(join(dirname(out), name), { recursive: true, force: true });
    return true;
  });
}

/** Put the finished folder at `out`, replacing what was there only now that it exists. */
function placeFolder(tmp: string, out: string): void {
  guardWrite(out, () => {
    const old = join(dirname(out), `.${basename(out)}.old-${process.pid}`);
    const replacing = existsSync(out);
    if (replacing) renameSync(out, old);
    try {
      renameSync(tmp, out);
    } catch (error) {
      if (replacing) renameSync(old, out);
      throw error;
    }
    rmSync(old, { recursive: true, force: true });
  });
}

/**
 * Export one run in one format; returns what the format wrote. The format writes into a
 * temporary sibling of the output, which replaces the output only once complete: a failed
 * export leaves the previous output as it was.
 */
export async function exportRun(runtime: Runtime, options: ExportOptions): Promise<ExportResult> {
  const format = runtime.exportFormats.get(options.format);
  const run = await openTrainedRun(runtime, options.run, { runsRoot: options.runsRoot });
  const out = resolve(options.out ?? run.store.path(`export/${format.name}`));
  const extension = format.fileExtension?.toLowerCase();
  const asFile =
    options.out !== undefined && extension !== undefined && out.toLowerCase().endsWith(extension);
  checkOutputPath(out, run.store.dir, options.runsRoot ?? 'runs');
  checkExisting(out, asFile, format, options.force);
  for (const name of removeStaleExportTemporaries(out))
    runtime.logger.info(`removed ${name}, left by an export that was killed`);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  guardWrite(tmp, () => mkdirSync(tmp, { recursive: true }));
  try {
    const result = await format.export({
      run,
      outDir: tmp,
      logger: runtime.logger,
      formats: runtime.exportFormats,
    });
    if (!asFile) {
      placeFolder(tmp, out);
      return moved(result, tmp, out);
    }
    if (!result.path.toLowerCase().endsWith(extension))
      throw new Error(
        `export format ${format.name} returned ${result.path}, not a ${extension} file`,
      );
    guardWrite(out, () => renameSync(result.path, out));
    return moved(result, result.path, out, [basename(out)]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
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
    .option(
      '--out <path>',
      "output directory (default: <run>/export/<format>), or the file itself where it ends in the format's extension (keras: model.keras)",
    )
    .option('--force', 'replace a non-empty output directory or an existing output file')
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
