import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/sdk/errors.js';
import { fixtureRuntime } from '../../support/fixture-plugins.js';
import { tempDir, writeFiles } from '../../support/helpers.js';

const BASE = `# yaml-language-server: $schema=../schemas/experiment.schema.json
name: base
seed: 7
dataset:
  type: folder
  root: /data/x
architecture:
  type: small-cnn
  filters: [4, 8]
training:
  epochs: 2
  batchSize: 16
reporters:
  - type: memory
    label: one
`;

async function diagnosticsOf(promise: Promise<unknown>): Promise<ConfigError['diagnostics']> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.diagnostics;
  }
  assert.fail('expected a ConfigError');
}

describe('experiment composition', () => {
  it('merges extends chains (later wins, arrays replaced) and fills schema defaults', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'base.yaml': BASE,
      'mid.yaml': 'extends: base.yaml\nname: mid\ntraining:\n  epochs: 3\n',
      'top.yaml': 'extends: [mid.yaml]\nname: top\narchitecture:\n  filters: [32]\n',
    });
    const r = await fixtureRuntime().resolve(join(dir, 'top.yaml'));
    assert.equal(r.config.name, 'top');
    assert.equal(r.config.seed, 7);
    assert.equal(r.config.training.epochs, 3);
    assert.equal(r.config.training.batchSize, 16);
    assert.deepEqual(r.config.architecture, { type: 'small-cnn', filters: [32] });
    assert.equal(r.config.training.backend, 'auto', 'default from the schema');
    assert.equal(r.config.training.optimizer.learningRate, 0.001, "the registry's default");
    assert.deepEqual(
      r.composed.files.map((f) => f.split('/').pop()),
      ['base.yaml', 'mid.yaml', 'top.yaml'],
    );
  });

  it('applies --set overrides with YAML-typed values, and a changed plugin type drops old options', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE });
    const r = await fixtureRuntime().resolve(join(dir, 'e.yaml'), {
      overrides: [
        'training.epochs=9',
        'architecture.dropout=0.5',
        'reporters.0.label=two',
        'dataset.imageSize=64',
      ],
    });
    assert.equal(r.config.training.epochs, 9);
    assert.equal(r.config.architecture.dropout, 0.5);
    assert.equal(r.config.reporters?.[0].label, 'two');
    assert.equal(r.config.dataset.imageSize, 64);
    const same = await fixtureRuntime().resolve(join(dir, 'e.yaml'), {
      overrides: ['dataset.type=folder'],
    });
    assert.equal(same.config.dataset.root, '/data/x', 'same type keeps options');
    // another type: folder's root (and its filled defaults) would be unknown options there
    const swapped = await fixtureRuntime().resolve(join(dir, 'e.yaml'), {
      overrides: ['dataset.type=csv-list', 'dataset.file=/data/x.csv'],
    });
    assert.deepEqual(swapped.config.dataset, { type: 'csv-list', file: '/data/x.csv' });
  });

  it('interpolates ${env:NAME} and ${env:NAME:-default}, typed when alone', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': BASE.replace('root: /data/x', 'root: ${env:DATA_DIR}/faces').replace(
        'epochs: 2',
        'epochs: ${env:EPOCHS:-4}',
      ),
    });
    const r = await fixtureRuntime().resolve(join(dir, 'e.yaml'), { env: { DATA_DIR: '/mnt' } });
    assert.equal(r.config.dataset.root, '/mnt/faces');
    assert.equal(r.config.training.epochs, 4);
  });

  it('interpolates ${env:...} in schema defaults, then checks the value like a written one', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE });
    const fallback = await fixtureRuntime().resolve(join(dir, 'e.yaml'), { env: {} });
    assert.equal(fallback.config.dataset.cacheSize, 64);
    const fromEnv = await fixtureRuntime().resolve(join(dir, 'e.yaml'), {
      env: { FIXTURE_CACHE_SIZE: '128' },
    });
    assert.equal(fromEnv.config.dataset.cacheSize, 128);
    const d = await diagnosticsOf(
      fixtureRuntime().resolve(join(dir, 'e.yaml'), { env: { FIXTURE_CACHE_SIZE: 'lots' } }),
    );
    assert.match(d[0].path, /dataset\.cacheSize/);
    assert.match(d[0].message, /integer/);
  });

  it('an unset ${env:X} is a warning for validate and an error naming the line for run', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE.replace('root: /data/x', 'root: ${env:AFFECTNET_ROOT}') });
    const ok = await fixtureRuntime().resolve(join(dir, 'e.yaml'), {
      env: {},
      allowUnresolvedEnv: true,
    });
    assert.equal(ok.composed.unresolvedEnv.length, 1);
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml'), { env: {} }));
    assert.equal(d[0].line, 6);
    assert.match(d[0].message, /AFFECTNET_ROOT is not set/);
    assert.match(d[0].message, /--set dataset\.root=/);
  });
});

describe('bad input', () => {
  it('malformed YAML gives file:line:col', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'bad.yaml': 'name: x\ndataset:\n  type: folder\n  root: [unclosed\n' });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'bad.yaml')));
    assert.match(d[0].file, /bad\.yaml$/);
    assert.ok(d[0].line && d[0].line >= 4, `line ${d[0].line}`);
    assert.match(d[0].message, /invalid YAML/);
  });

  it('a missing extends file names the extends line', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': 'name: x\nextends: nope.yaml\n' });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d[0].line, 2);
    assert.match(d[0].message, /file not found: .*nope\.yaml/);
  });

  it('a cycle in extends is reported with the chain', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'a.yaml': 'extends: b.yaml\nname: a\n',
      'b.yaml': 'extends: a.yaml\nname: b\n',
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'a.yaml')));
    assert.match(d[0].message, /cycle in extends: .*a\.yaml -> .*b\.yaml -> .*a\.yaml/);
  });

  it('unknown keys are errors at the key, with a did-you-mean', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE.replace('  batchSize: 16', '  batchSize: 16\n  epoch: 3') });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d.length, 1);
    assert.equal(d[0].path, '$.training.epoch');
    assert.equal(d[0].line, 13);
    assert.equal(d[0].col, 3);
    assert.match(d[0].message, /unknown key 'epoch'; did you mean 'epochs'\?/);
  });

  it('a removed key (training.checkpoint.saveLast) says why, at its line', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': BASE.replace(
        '  batchSize: 16',
        '  batchSize: 16\n  checkpoint:\n    saveLast: false',
      ),
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d.length, 1, JSON.stringify(d));
    assert.equal(d[0].path, '$.training.checkpoint.saveLast');
    assert.equal(d[0].line, 14);
    assert.equal(d[0].col, 5);
    assert.match(d[0].message, /removed key: checkpoints\/last is always written/);
  });

  it('a wrong type names the value', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE.replace('epochs: 2', 'epochs: two') });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d[0].path, '$.training.epochs');
    assert.equal(d[0].line, 11);
    assert.equal(d[0].col, 11);
    assert.match(d[0].message, /must be integer/);
  });

  it('an unknown plugin lists the registered ones with a did-you-mean', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE.replace('type: small-cnn', 'type: smal-cnn') });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d.length, 1, JSON.stringify(d));
    assert.equal(d[0].path, '$.architecture.type');
    assert.equal(d[0].line, 8);
    assert.match(
      d[0].message,
      /unknown architecture 'smal-cnn'; did you mean 'small-cnn'\? Registered architecture plugins: small-cnn/,
    );
  });

  it('an unknown plugin option is an error inside that plugin', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': BASE.replace('  filters: [4, 8]', '  filters: [4, 8]\n  filtres: 3'),
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d[0].path, '$.architecture.filtres');
    assert.match(d[0].message, /did you mean 'filters'/);
  });

  it('a --set path that is not in the schema names the override', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE });
    const d = await diagnosticsOf(
      fixtureRuntime().resolve(join(dir, 'e.yaml'), { overrides: ['training.epoks=3'] }),
    );
    assert.equal(d[0].file, '--set training.epoks=3');
    assert.match(d[0].message, /unknown key 'epoks'; did you mean 'epochs'/);
    const d2 = await diagnosticsOf(
      fixtureRuntime().resolve(join(dir, 'e.yaml'), { overrides: ['noequals'] }),
    );
    assert.match(d2[0].message, /expected --set path\.to\.key=value/);
  });

  it('a plugin module that fails to load names the plugins entry', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'broken.mjs': 'throw new Error("boom at import");\n',
      'e.yaml': BASE + 'plugins:\n  - ./broken.mjs\n',
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.equal(d[0].path, '$.plugins[0]');
    assert.equal(d[0].line, 17);
    assert.match(d[0].message, /cannot load plugin module '\.\/broken\.mjs': boom at import/);
  });
});
