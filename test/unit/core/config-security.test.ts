import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import {
  applyOverride,
  deepMerge,
  parseOverridePath,
  type ConfigObject,
} from '../../../src/core/config/compose.js';
import { SourceMap, parseYamlText } from '../../../src/core/config/source.js';
import { expandSweep } from '../../../src/core/sweep/sweep.js';
import { ConfigError, UserError } from '../../../src/sdk/errors.js';
import { fixtureRuntime } from '../../support/fixture-plugins.js';
import { tempDir, writeFiles } from '../../support/helpers.js';

const BASE = `name: base
dataset:
  type: folder
  root: /data/x
architecture:
  type: small-cnn
reporters:
  - type: memory
    label: one
  - type: memory
    label: two
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

const polluted = () => ({}) as Record<string, unknown>;

function assertClean(): void {
  assert.equal(polluted().polluted, undefined, 'Object.prototype.polluted was set');
  assert.equal(
    (Object.prototype as unknown as Record<string, unknown>).polluted,
    undefined,
    'Object.prototype was written',
  );
}

afterEach(() => {
  // A failing attempt must not leak into the next test's check.
  delete (Object.prototype as unknown as Record<string, unknown>).polluted;
});

describe('config keys cannot reach Object.prototype', () => {
  for (const override of [
    '__proto__.polluted=1',
    'constructor.prototype.polluted=1',
    'training.__proto__.polluted=1',
    'reporters.0.__proto__.polluted=1',
    'reporters[0].constructor.prototype.polluted=1',
    'tags={__proto__: {polluted: 1}}',
  ]) {
    it(`--set ${override} is refused, naming the flag`, async () => {
      const dir = tempDir();
      writeFiles(dir, { 'e.yaml': BASE });
      const d = await diagnosticsOf(
        fixtureRuntime().resolve(join(dir, 'e.yaml'), { overrides: [override] }),
      );
      assertClean();
      assert.equal(d[0].file, `--set ${override}`);
      assert.match(d[0].message, /the key '(__proto__|constructor)' is not allowed/);
    });
  }

  for (const [name, text, line, col, path] of [
    ['top level', 'name: x\n__proto__:\n  polluted: 1\n', 2, 1, '$.__proto__'],
    [
      'nested',
      'name: x\ntraining:\n  constructor:\n    prototype: 1\n',
      3,
      3,
      '$.training.constructor',
    ],
    [
      'in a list',
      'name: x\nreporters:\n  - type: memory\n    prototype: 1\n',
      4,
      5,
      '$.reporters[0].prototype',
    ],
    [
      'flow mapping',
      'name: x\ntags: {a: b, __proto__: {polluted: 1}}\n',
      2,
      14,
      '$.tags.__proto__',
    ],
    [
      'alias as key',
      'name: x\nk: &k __proto__\ntags:\n  *k : {polluted: 1}\n',
      4,
      3,
      '$.tags.__proto__',
    ],
  ] as const) {
    it(`a YAML key __proto__/constructor/prototype (${name}) is an error at file:line:col`, () => {
      try {
        parseYamlText(text, 'x.yaml');
        assert.fail('expected a ConfigError');
      } catch (error) {
        assertClean();
        assert.ok(error instanceof ConfigError, String(error));
        const [d] = error.diagnostics;
        assert.deepEqual([d.file, d.line, d.col, d.path], ['x.yaml', line, col, path]);
        assert.match(d.message, /is not allowed/);
      }
    });
  }

  it('a __proto__ key in an extended base names the base file and line', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'base.yaml': BASE + 'training:\n  __proto__:\n    polluted: 1\n',
      'top.yaml': 'extends: base.yaml\nname: top\n',
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'top.yaml')));
    assertClean();
    assert.match(d[0].file, /base\.yaml$/);
    assert.deepEqual([d[0].line, d[0].col, d[0].path], [13, 3, '$.training.__proto__']);
  });

  it('every refused key of a file is reported, not only the first', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': BASE + '__proto__: {polluted: 1}\ntags:\n  constructor: x\n',
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.deepEqual(
      d.map((x) => [x.line, x.path]),
      [
        [12, '$.__proto__'],
        [14, '$.tags.constructor'],
      ],
    );
  });

  it('a sweep parameter key through __proto__ fails validation at the key', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': BASE + 'sweep:\n  parameters:\n    __proto__.polluted: [1]\n',
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assertClean();
    assert.equal(d.length, 1);
    assert.deepEqual([d[0].line, d[0].col], [14, 5]);
    assert.match(d[0].message, /sweep parameter '__proto__\.polluted': the key '__proto__'/);
    // expandSweep refuses it too, for a caller that skipped validation
    assert.throws(
      () => expandSweep({ mode: 'grid', repeat: 1, parameters: { '__proto__.polluted': [1] } }),
      /sweep parameter '__proto__\.polluted'/,
    );
    assertClean();
  });

  it('deepMerge and applyOverride refuse such keys even when a caller skips the parsers', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": 1}}') as ConfigObject;
    assert.throws(() => deepMerge({ a: 1 }, hostile), UserError);
    assert.throws(
      () => deepMerge({ training: {} }, { training: hostile }),
      /'__proto__' is not allowed/,
    );
    assert.throws(
      () => applyOverride({}, 'prototype.polluted=1', new SourceMap()),
      /'prototype' is not allowed/,
    );
    assert.throws(() => parseOverridePath('a.constructor'), /'constructor' is not allowed/);
    assertClean();
  });

  it('${env:X} holding a mapping with __proto__ stays text', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE + 'tags:\n  t: ${env:HOSTILE}\n' });
    const r = await fixtureRuntime().resolve(join(dir, 'e.yaml'), {
      env: { HOSTILE: '{__proto__: {polluted: 1}}' },
    });
    assertClean();
    assert.equal(r.config.tags?.t, '{__proto__: {polluted: 1}}');
  });
});

describe('--set list indices', () => {
  async function resolveWith(overrides: string[]) {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': BASE });
    return fixtureRuntime().resolve(join(dir, 'e.yaml'), { overrides });
  }

  it('an index past the end is an error naming the flag and the list length', async () => {
    const d = await diagnosticsOf(resolveWith(['reporters.5.type=memory']));
    assert.equal(d[0].file, '--set reporters.5.type=memory');
    assert.match(
      d[0].message,
      /index 5 is past the end of \$\.reporters, which has 2 entries; use 0\.\.1 to change one, or 2 to append/,
    );
  });

  it('the index one past the end appends', async () => {
    const r = await resolveWith(['reporters.2.type=memory', 'reporters.2.label=three']);
    assert.deepEqual(
      r.config.reporters?.map((x) => x.label),
      ['one', 'two', 'three'],
    );
  });

  it('a negative index is an error naming the flag', async () => {
    const d = await diagnosticsOf(resolveWith(['reporters.-1.type=memory']));
    assert.equal(d[0].file, '--set reporters.-1.type=memory');
    assert.match(d[0].message, /negative index -1: \$\.reporters has 2 entries/);
    const d2 = await diagnosticsOf(resolveWith(['reporters[-1].label=x']));
    assert.match(d2[0].message, /negative index -1/);
  });

  it('a list needs a numeric index', async () => {
    const d = await diagnosticsOf(resolveWith(['reporters.first.type=memory']));
    assert.equal(d[0].file, '--set reporters.first.type=memory');
    assert.match(d[0].message, /\$\.reporters is a list: give an index/);
  });

  it('a new list starts at index 0', async () => {
    const d = await diagnosticsOf(resolveWith(['plugins.3=./x.mjs']));
    assert.match(d[0].message, /index 3 is past the end of \$\.plugins, which has 0 entries/);
  });

  it('bracket indices work like dotted ones', async () => {
    const r = await resolveWith(['reporters[1].label=second', 'architecture.filters[0]=3']);
    assert.equal(r.config.reporters?.[1].label, 'second');
    assert.deepEqual(r.config.architecture.filters, [3]);
    assert.deepEqual(parseOverridePath('a[0][1].b'), ['a', 0, 1, 'b']);
    for (const bad of ['a[x].b', 'a[0', 'a]', '[0]', 'a..b', 'a[0]b'])
      assert.throws(() => parseOverridePath(bad), UserError, bad);
  });

  it('a bad bracket path is blamed on the flag', async () => {
    const d = await diagnosticsOf(resolveWith(['reporters[first].type=x']));
    assert.equal(d[0].file, '--set reporters[first].type=x');
    assert.match(d[0].message, /\[first\] is not a list index/);
  });

  it('schema errors in values set with --set point at the flag', async () => {
    const cases: [string, RegExp][] = [
      ['reporters[0].type=x', /unknown reporter 'x'/],
      ['reporters.2.label=3', /missing required key 'type'|must be string/],
      ['training.epochs=0', /must be >= 1/],
      ['trainin.epochs=3', /unknown key 'trainin'; did you mean 'training'/],
      // the optimizer is a plugin ref now: without a type, no plugin's keys to check 'typo' against
      ['training.optimizer.typo=1', /missing required key 'type'/],
      ['architecture.filters=[0]', /must be >= 1/],
    ];
    for (const [override, message] of cases) {
      const d = await diagnosticsOf(resolveWith([override]));
      assert.ok(d.length > 0, override);
      for (const x of d) {
        assert.equal(x.file, `--set ${override}`, `${override}: ${x.file}: ${x.message}`);
        assert.equal(x.line, undefined);
      }
      assert.ok(
        d.some((x) => message.test(x.message)),
        `${override}: ${d.map((x) => x.message).join(' | ')}`,
      );
    }
  });

  it('a sweep parameter whose index is out of range fails validation at the key', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': BASE + 'sweep:\n  parameters:\n    reporters.4.label: [a, b]\n',
    });
    const d = await diagnosticsOf(fixtureRuntime().resolve(join(dir, 'e.yaml')));
    assert.deepEqual([d[0].line, d[0].col], [14, 5]);
    assert.match(d[0].message, /sweep parameter 'reporters\.4\.label': index 4 is past the end/);
  });

  it('sweep string values that YAML would read as another type arrive as strings', () => {
    assert.deepEqual(
      expandSweep({ mode: 'zip', repeat: 1, parameters: { 'tags.a': ['3', '[x]', 'plain'] } }),
      [['tags.a="3"'], ['tags.a="[x]"'], ['tags.a=plain']],
    );
  });
});
