import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, UserError, type Diagnostic } from '../../../sdk/errors.js';
import { composeExperimentSchema } from '../../config/schema.js';
import { schemaMarkdown } from '../../config/schema-markdown.js';
import { partialExperimentSchema } from '../../config/schema-partial.js';
import { unresolvedEnvDiagnostics } from '../../config/compose.js';
import { formatDiagnostic } from '../../../sdk/errors.js';
import type { Runtime } from '../../host/runtime.js';
import { allowPluginsOption, collect, maxCombinationsOption, setOption } from '../command.js';
import {
  VALIDATE_FORMATS,
  printReports,
  reportedProblem,
  type FileReport,
  type ValidateFormat,
} from '../validate-report.js';
import { loadPluginModules } from '../../host/loader.js';
import { experimentFileNotes, formatFileNote } from '../../host/file-notes.js';

/** `--plugin <module>`: also load a plugin module that no experiment names (repeatable). */
const pluginOption = (): Option =>
  new Option(
    '--plugin <module>',
    'also load a plugin module: a path or a package name (repeatable)',
  ).argParser(collect);

interface ConfigCommandOptions {
  set?: string[];
  json?: boolean;
  allowPlugins?: boolean;
  maxCombinations?: number;
}

interface ValidateCommandOptions extends ConfigCommandOptions {
  format: ValidateFormat;
}

/**
 * One file's result. A file that cannot be read (missing, a FIFO, too large...) is an error of
 * that file; the other files are still checked.
 */
async function validateOne(
  runtime: Runtime,
  file: string,
  opts: ValidateCommandOptions,
): Promise<FileReport> {
  try {
    const resolved = await runtime.resolve(file, {
      overrides: opts.set,
      allowUnresolvedEnv: true,
      loadPlugins: opts.allowPlugins === true,
      maxCombinations: opts.maxCombinations,
    });
    const warnings = [
      ...unresolvedEnvDiagnostics(resolved.composed, runtime.registry.envHints()),
      ...resolved.unchecked,
    ];
    return {
      file,
      ok: true,
      errors: [],
      warnings: warnings.map(reportedProblem),
      unchecked: resolved.unchecked.filter((d) => d.path !== '$.plugins').length,
      notes: experimentFileNotes(runtime.registry, resolved.config).map(formatFileNote),
    };
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    // a file that cannot be read: its message starts with the file's name, said once
    const message = error.message.startsWith(`${file}: `)
      ? error.message.slice(file.length + 2)
      : error.message;
    const diagnostics: Diagnostic[] =
      error instanceof ConfigError ? error.diagnostics : [{ file, path: '$', message }];
    return {
      file,
      ok: false,
      errors: diagnostics.map(reportedProblem),
      warnings: [],
      unchecked: 0,
      notes: [],
    };
  }
}

export function registerConfigCommands(program: Command, runtime: Runtime): void {
  program
    .command('validate')
    .description(
      'validate experiment files (no code of theirs runs: plugins: modules are not imported ' +
        'unless --allow-plugins); prints file:line:col: path: message for each error',
    )
    .argument('<file...>', 'experiment YAML files')
    .addOption(setOption())
    .addOption(allowPluginsOption())
    .addOption(maxCombinationsOption())
    .addOption(
      new Option('--format <format>', 'text, json (an array of per-file results) or github')
        .choices(VALIDATE_FORMATS)
        .default('text'),
    )
    .action(async (files: string[], opts: ValidateCommandOptions) => {
      const reports: FileReport[] = [];
      for (const file of files) reports.push(await validateOne(runtime, file, opts));
      printReports(
        reports,
        opts.format,
        (t) => process.stdout.write(t),
        (t) => process.stderr.write(t),
      );
      const failed = reports.filter((r) => !r.ok).length;
      if (failed > 0) {
        if (opts.format !== 'json')
          process.stderr.write(`${failed} of ${files.length} experiment file(s) invalid\n`);
        process.exitCode = 1;
      }
    });

  program
    .command('config')
    .description(
      'print the fully resolved experiment (extends, --set overrides, ${env:...}, defaults); ' +
        'plugins: modules are not imported unless --allow-plugins',
    )
    .argument('<file>', 'experiment YAML file')
    .addOption(setOption())
    .addOption(allowPluginsOption())
    .addOption(maxCombinationsOption())
    .option('--json', 'print JSON instead of YAML')
    .action(async (file: string, opts: ConfigCommandOptions) => {
      const resolved = await runtime.resolve(file, {
        overrides: opts.set,
        allowUnresolvedEnv: true,
        loadPlugins: opts.allowPlugins === true,
        maxCombinations: opts.maxCombinations,
      });
      for (const w of [
        ...unresolvedEnvDiagnostics(resolved.composed, runtime.registry.envHints()),
        ...resolved.unchecked,
      ])
        process.stderr.write(`warning: ${formatDiagnostic(w)}\n`);
      process.stdout.write(
        opts.json ? JSON.stringify(resolved.config, null, 2) + '\n' : stringify(resolved.config),
      );
    });

  program
    .command('plugins')
    .description('list registered plugins by kind and type, with their option schemas')
    .option('--json', 'print JSON')
    .addOption(pluginOption())
    .action(async (opts: { json?: boolean; plugin?: string[] }) => {
      await loadPluginModules(opts.plugin ?? [], process.cwd(), runtime.registry);
      const defs = runtime.registry.list();
      if (opts.json) {
        const out = defs.map((d) => ({
          kind: d.kind,
          type: d.type,
          description: d.description,
          optionsSchema: d.optionsSchema,
        }));
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      let kind = '';
      for (const d of defs) {
        if (d.kind !== kind) {
          kind = d.kind;
          process.stdout.write(`\n${kind}\n`);
        }
        const props = Object.keys((d.optionsSchema as { properties?: object }).properties ?? {});
        process.stdout.write(`  ${d.type.padEnd(22)} ${d.description}\n`);
        if (props.length) process.stdout.write(`  ${''.padEnd(22)} options: ${props.join(', ')}\n`);
      }
    });

  program
    .command('schema')
    .description('print the experiment JSON Schema composed from the registered plugins')
    .option('--write <file>', 'write it to a file instead of stdout')
    .option(
      '--partial',
      'the schema of a file that extends others or is extended: every key optional, same key rules',
    )
    .option('--markdown <file>', 'write the configuration reference (Markdown) to this file')
    .addOption(pluginOption())
    .action(
      async (opts: { write?: string; partial?: boolean; markdown?: string; plugin?: string[] }) => {
        await loadPluginModules(opts.plugin ?? [], process.cwd(), runtime.registry);
        const full = composeExperimentSchema(runtime.registry);
        if (opts.markdown) {
          writeFileSync(opts.markdown, schemaMarkdown(full, 'npm run docs:config'));
          if (!opts.write) return;
        }
        const schema = opts.partial ? partialExperimentSchema(full) : full;
        const text = JSON.stringify(schema, null, 2) + '\n';
        if (opts.write) writeFileSync(opts.write, text);
        else process.stdout.write(text);
      },
    );
}

export { ConfigError };
