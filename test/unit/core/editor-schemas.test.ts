import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { composeExperimentSchema } from '../../../src/core/config/schema.js';
import { schemaMarkdown } from '../../../src/core/config/schema-markdown.js';
import {
  FULL_SCHEMA_FILE,
  PARTIAL_SCHEMA_FILE,
  partialExperimentSchema,
} from '../../../src/core/config/schema-partial.js';
import { loadPluginModules } from '../../../src/core/host/loader.js';
import { repoRoot, testRuntime } from '../../support/helpers.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith('.yaml') || name.endsWith('.yml') ? [path] : [];
  });
}

const shipped = [
  ...yamlFiles(join(repoRoot, 'experiments')),
  ...yamlFiles(join(repoRoot, 'examples')),
];

/** As the YAML language server reads it: the `# yaml-language-server: $schema=` header. */
function headerSchema(file: string): string | undefined {
  const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(readFileSync(file, 'utf8'));
  return m ? resolve(dirname(file), m[1]) : undefined;
}

const validators = new Map<string, ValidateFunction>();
/** An editor's validator: plain JSON Schema draft-07, no ajv extensions, no defaults filled. */
function editorValidator(schemaFile: string): ValidateFunction {
  let v = validators.get(schemaFile);
  if (!v) {
    const ajv = new Ajv({ allErrors: true, strict: false });
    v = ajv.compile(JSON.parse(readFileSync(schemaFile, 'utf8')) as object);
    validators.set(schemaFile, v);
  }
  return v;
}

function errorsOf(schemaFile: string, doc: unknown): string[] {
  const v = editorValidator(schemaFile);
  return v(doc) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

describe('schemas for editors', () => {
  it('every shipped experiment names an existing schema and is clean under it, as the YAML language server checks', () => {
    assert.ok(shipped.length >= 13, shipped.join(', '));
    for (const file of shipped) {
      const rel = relative(repoRoot, file);
      const schema = headerSchema(file);
      assert.ok(schema, `${rel}: no # yaml-language-server: $schema= header`);
      assert.ok(existsSync(schema), `${rel}: its schema ${schema} does not exist`);
      const text = readFileSync(file, 'utf8');
      const extendsOrBase = /^extends:/m.test(text) || rel.startsWith('experiments/base/');
      if (extendsOrBase)
        assert.match(schema, /partial/, `${rel} extends or is extended: the partial schema fits`);
      assert.deepEqual(errorsOf(schema, parse(text)), [], rel);
    }
  });

  it('the partial schema keeps the key rules: unknown keys, ranges and plugin options', () => {
    const partial = join(repoRoot, PARTIAL_SCHEMA_FILE);
    assert.deepEqual(errorsOf(partial, { dataset: { classes: 'report6' } }), []);
    assert.deepEqual(errorsOf(partial, { sampler: { type: 'weighted', beta: 0.9 } }), []);
    assert.notDeepEqual(errorsOf(partial, { epochz: 3 }), []);
    assert.notDeepEqual(errorsOf(partial, { training: { epochs: 0 } }), []);
    assert.notDeepEqual(errorsOf(partial, { dataset: { clases: 'report6' } }), []);
    assert.notDeepEqual(errorsOf(partial, { sampler: { type: 'weighted', gamma: 1 } }), []);
    assert.notDeepEqual(errorsOf(partial, { sampler: { type: 'no-such-sampler' } }), []);
    // the full schema still wants the keys a runnable experiment needs
    assert.notDeepEqual(errorsOf(join(repoRoot, FULL_SCHEMA_FILE), { seed: 1 }), []);
  });

  it('the checked-in schemas and configuration reference equal what `npm run schemas` writes', async () => {
    const full = composeExperimentSchema(testRuntime().registry);
    const same = (file: string, generated: unknown, what: string) =>
      assert.deepEqual(
        JSON.parse(readFileSync(join(repoRoot, file), 'utf8')),
        JSON.parse(JSON.stringify(generated)),
        `${file} is stale: run \`npm run schemas\` (${what})`,
      );
    same(PARTIAL_SCHEMA_FILE, partialExperimentSchema(full), 'schema --partial');
    const withExample = testRuntime();
    await loadPluginModules(['examples/plugins/tiny-cnn.mjs'], repoRoot, withExample.registry);
    same(
      'examples/experiments/tiny-cnn.schema.json',
      composeExperimentSchema(withExample.registry),
      'schema --plugin examples/plugins/tiny-cnn.mjs',
    );
    assert.equal(
      readFileSync(join(repoRoot, 'docs/configuration.md'), 'utf8'),
      schemaMarkdown(full, 'npm run docs:config'),
      'docs/configuration.md is stale: run `npm run docs:config`',
    );
  });
});
