import { writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { ConfigError, type Diagnostic } from '../../errors.js';
import { composeExperimentSchema } from '../../config/schema.js';
import { schemaMarkdown } from '../../config/schema-markdown.js';
import { partialExperimentSchema } from '../../config/schema-partial.js';
import { unresolvedEnvDiagnostics } from '../../config/compose.js';
import { formatDiagnostic } from '../../errors.js';
import type { Runtime } from '../../plugin/runtime.js';
import { collect, setOption } from '../command.js';
import { loadPluginModules } from '../../plugin/loader.js';
import { experimentFileNotes, formatFileNote } from '../../plugin/file-notes.js';

/** `--plugin <module>`: also load a plugin module that no experiment names (repeatable). */
const pluginOption = (): Option =>
  new Option(
    '--plugin <module>',
    'also load a plugin module: a path or a package name (repeatable)',
  ).argParser(collect);

export function registerConfigCommands(program: Command, runtime: Runtime): void {
  program
    .command('validate')
    .description('validate experiment files; prints file:line:col: path: message for each error')
    .argument('<file...>', 'experiment YAML files')
    .addOption(setOption())
    .action(async (files: string[], opts: { set?: string[] }) => {
      let failed = 0;
      for (const file of files) {
        try {
          const resolved = await runtime.resolve(file, {
            overrides: opts.set,
            allowUnresolvedEnv: true,
          });
          const warnings = unresolvedEnvDiagnostics(resolved.composed, runtime.registry.envHints());
          for (const w of warnings) process.stderr.write(`warning: ${formatDiagnostic(w)}\n`);
          process.stdout.write(`${file}: ok\n`);
          for (const note of experimentFileNotes(runtime.registry, resolved.config))
            process.stdout.write(`  ${formatFileNote(note)}\n`);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          failed++;
          process.stdout.write(
            error.diagnostics.map((d: Diagnostic) => formatDiagnostic(d)).join('\n') + '\n',
          );
        }
      }
      if (failed > 0) {
        process.stderr.write(`${failed} of ${files.length} experiment file(s) invalid\n`);
        process.exitCode = 1;
      }
    });

  program
    .command('config')
    .description(
      'print the fully resolved experiment (extends, --set overrides, ${env:...}, defaults)',
    )
    .argument('<file>', 'experiment YAML file')
    .addOption(setOption())
    .option('--json', 'print JSON instead of YAML')
    .action(async (file: string, opts: { set?: string[]; json?: boolean }) => {
      const resolved = await runtime.resolve(file, {
        overrides: opts.set,
        allowUnresolvedEnv: true,
      });
      for (const w of unresolvedEnvDiagnostics(resolved.composed, runtime.registry.envHints()))
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
