import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { composeExperiment } from '../../../src/core/config/compose.js';
import { composeExperimentSchema } from '../../../src/core/config/schema.js';
import {
  MAX_CONFIG_BYTES,
  decodeUtf8Strict,
  firstInvalidUtf8,
  readRegularFile,
} from '../../../src/core/config/read-file.js';
import { ConfigError, UserError } from '../../../src/sdk/errors.js';
import { pluginSpecifierProblem } from '../../../src/core/host/loader.js';
import { Logger } from '../../../src/sdk/services.js';
import { isCredentialName, redactCredentials, scrubSecrets } from '../../../src/core/redact.js';
import { countTrials, iterateTrials } from '../../../src/core/sweep/sweep.js';
import type { SweepConfig } from '../../../src/core/config/types.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';

const EXPERIMENT = `name: e
dataset: { type: affectnet, root: /data/none, classes: report6, imageSize: 48 }
architecture: { type: vgg-type }
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

function userErrorOf(fn: () => unknown): UserError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UserError, `expected UserError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a UserError');
}

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, `mkfifo: ${String(r.stderr)}`);
}

describe('config files: regular, bounded, strict UTF-8', () => {
  it('a FIFO (no writer) and a character device are refused at once, unread', () => {
    const dir = tempDir();
    const fifo = join(dir, 'pipe.yaml');
    mkfifo(fifo);
    const start = Date.now();
    assert.match(userErrorOf(() => readRegularFile(fifo, 'experiment file', 100)).message, /FIFO/);
    assert.match(
      userErrorOf(() => readRegularFile('/dev/zero', 'experiment file', 100)).message,
      /\/dev\/zero: cannot read experiment file: it is a character device, not a file/,
    );
    assert.ok(Date.now() - start < 2000, 'refused without waiting');
  });

  it('a file over the limit is refused; one that reports size 0 is read only to the limit', () => {
    const dir = tempDir();
    const big = join(dir, 'big.yaml');
    writeFileSync(big, 'x'.repeat(MAX_CONFIG_BYTES + 1));
    assert.match(
      userErrorOf(() => readRegularFile(big, 'experiment file', MAX_CONFIG_BYTES)).message,
      /larger than 1048576 bytes/,
    );
    // /proc files say size 0; the read is still bounded
    assert.match(
      userErrorOf(() => readRegularFile('/proc/self/maps', 'experiment file', 16)).message,
      /larger than 16 bytes/,
    );
    assert.equal(readRegularFile(big, 'x', MAX_CONFIG_BYTES + 1).length, MAX_CONFIG_BYTES + 1);
  });

  it('invalid UTF-8 is file:line:col: invalid UTF-8, the column in characters', () => {
    assert.equal(firstInvalidUtf8(Buffer.from('ok é €')), -1);
    for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2]])
      assert.equal(firstInvalidUtf8(Uint8Array.from([0x61, ...bad])), 1, bad.join(','));
    const bytes = Buffer.concat([
      Buffer.from('name: x\ndescription: "é'),
      Buffer.from([0xe9, 0x22]),
    ]);
    try {
      decodeUtf8Strict(bytes, 'e.yaml');
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const [d] = error.diagnostics;
      assert.deepEqual([d.file, d.line, d.col], ['e.yaml', 2, 16]);
      assert.match(d.message, /^invalid UTF-8 \(byte 0xE9\)/);
    }
  });

  it('an experiment file with invalid UTF-8 fails composition at its line', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'e.yaml'), Buffer.from('name: e\ndescription: caf\xe9\n', 'latin1'));
    try {
      composeExperiment(join(dir, 'e.yaml'));
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      assert.deepEqual([error.diagnostics[0].line, error.diagnostics[0].col], [2, 17]);
    }
  });
});

describe('extends: only YAML files inside the project or a configured root', () => {
  const compose = (file: string, env: Record<string, string | undefined> = {}) => {
    try {
      composeExperiment(file, { env });
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.diagnostics;
    }
    return [];
  };

  it('refuses a base that is not .yaml/.yml, or outside the project, at the extends line', () => {
    const outside = tempDir();
    writeFiles(outside, { 'secret.yaml': 'password: hunter2\nname: x\n' });
    const project = tempDir();
    writeFiles(project, {
      'package.json': '{}',
      'shared/base.yaml': 'seed: 3\n',
      'exp/a.yaml': `extends: /etc/passwd\n${EXPERIMENT}`,
      'exp/b.yaml': `extends: ${join(outside, 'secret.yaml')}\n${EXPERIMENT}`,
      'exp/c.yaml': `extends: ../shared/base.yaml\n${EXPERIMENT}`,
    });
    const [a] = compose(join(project, 'exp/a.yaml'));
    assert.deepEqual([a.line, a.path], [1, '$.extends']);
    assert.match(a.message, /a base must be a \.yaml or \.yml file/);
    const [b] = compose(join(project, 'exp/b.yaml'));
    assert.deepEqual([b.line, b.path], [1, '$.extends']);
    assert.match(b.message, /is outside the folders a base may come from/);
    assert.match(b.message, /AFFECTLAB_CONFIG_ROOTS/);
    assert.doesNotMatch(b.message, /hunter2|password/);
    // the project root (the folder holding package.json) is allowed, above the experiment
    assert.deepEqual(compose(join(project, 'exp/c.yaml')), []);
    // and a folder listed in AFFECTLAB_CONFIG_ROOTS
    assert.deepEqual(compose(join(project, 'exp/b.yaml'), { AFFECTLAB_CONFIG_ROOTS: outside }), []);
  });

  it('a symlink inside the project that points outside it is refused', () => {
    const outside = tempDir();
    writeFiles(outside, { 'x.yaml': 'seed: 1\n' });
    const project = tempDir();
    writeFiles(project, { 'e.yaml': `extends: link.yaml\n${EXPERIMENT}` });
    spawnSync('ln', ['-s', join(outside, 'x.yaml'), join(project, 'link.yaml')]);
    assert.match(compose(join(project, 'e.yaml'))[0].message, /outside the folders/);
  });

  it('a base that is not a mapping is not quoted back; a FIFO base fails at the extends line', () => {
    const dir = tempDir();
    writeFiles(dir, {
      'list.yaml': '- root:x:0:0:root:/root:/bin/bash\n- daemon:x:1:1\n',
      'a.yaml': `extends: list.yaml\n${EXPERIMENT}`,
      'b.yaml': `extends: pipe.yaml\n${EXPERIMENT}`,
    });
    mkfifo(join(dir, 'pipe.yaml'));
    const a = compose(join(dir, 'a.yaml'));
    assert.equal(a.length, 1);
    assert.match(
      a[0].message,
      /an extends base must be a YAML mapping \(its content is not shown\)/,
    );
    assert.doesNotMatch(JSON.stringify(a), /root:x|daemon/);
    const [b] = compose(join(dir, 'b.yaml'));
    assert.deepEqual([b.line, b.path], [1, '$.extends']);
    assert.match(b.message, /FIFO/);
  });
});

describe('plugins: imported only when asked, and only from files or packages', () => {
  function pluginProject(spec = './probe.mjs') {
    const dir = tempDir();
    const marker = join(dir, 'IMPORTED');
    writeFiles(dir, {
      'probe.mjs':
        `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\n` +
        'export default [];\n',
      'e.yaml': `plugins: [${JSON.stringify(spec)}]\n${EXPERIMENT.replace('vgg-type', 'probe-arch')}`,
    });
    return { dir, marker, file: join(dir, 'e.yaml') };
  }

  it('loadPlugins: false imports nothing and notes the sections it could not check', async () => {
    const { marker, file } = pluginProject();
    const resolved = await testRuntime().resolve(file, {
      loadPlugins: false,
      allowUnresolvedEnv: true,
    });
    assert.equal(existsSync(marker), false, 'the module was not imported');
    assert.deepEqual(
      resolved.unchecked.map((d) => [d.path, d.line]),
      [
        ['$.plugins', 1],
        ['$.architecture.type', 4],
      ],
    );
    assert.match(resolved.unchecked[1].message, /not checked: unknown architecture 'probe-arch'/);
    assert.match(resolved.unchecked[1].message, /--allow-plugins/);
    // other errors are still found
    const d = await diagnosticsOf(
      testRuntime().resolve(file, { loadPlugins: false, overrides: ['training.epochs=0'] }),
    );
    assert.deepEqual(
      d.map((x) => x.path),
      ['$.training.epochs'],
    );
    // a run (the default) imports it
    await testRuntime()
      .resolve(file)
      .catch(() => undefined);
    assert.equal(existsSync(marker), true, 'the module was imported to run');
  });

  it('a file: URL loads; data:, http:, node: and built-in names never do, with file:line', async () => {
    const probe = pluginProject();
    const url = pluginProject(pathToFileURL(join(probe.dir, 'probe.mjs')).href);
    await testRuntime()
      .resolve(url.file)
      .catch(() => undefined);
    assert.equal(existsSync(probe.marker), true, 'file: URL imported');
    for (const spec of [
      'data:text/javascript,export default []',
      'https://example.com/p.mjs',
      'node:child_process',
      'child_process',
      'a b',
    ]) {
      assert.ok(pluginSpecifierProblem(spec), spec);
      const p = pluginProject(spec);
      for (const loadPlugins of [true, false]) {
        const d = await diagnosticsOf(testRuntime().resolve(p.file, { loadPlugins }));
        assert.deepEqual([d[0].line, d[0].path], [1, '$.plugins[0]'], spec);
        assert.match(d[0].message, /never loaded|built-in|not a package name/);
      }
    }
    for (const ok of [
      './x.mjs',
      '../x.mjs',
      '/abs/x.mjs',
      'pkg',
      '@scope/pkg/sub.js',
      'file:///x.mjs',
    ])
      assert.equal(pluginSpecifierProblem(ok), undefined, ok);
  });
});

describe('credentials: never interpolated, scrubbed from what is written', () => {
  it('credential-looking names', () => {
    for (const n of [
      'MLFLOW_TRACKING_PASSWORD',
      'MLFLOW_TRACKING_TOKEN',
      'MLFLOW_TRACKING_USERNAME',
      'GITHUB_TOKEN',
      'DB_PASSWD',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_ACCESS_KEY_ID',
      'OPENAI_API_KEY',
      'api_key',
    ])
      assert.ok(isCredentialName(n), n);
    for (const n of ['AFFECTNET_ROOT', 'MLFLOW_TRACKING_URI', 'HOME', 'KEYBOARD', 'MONKEY'])
      assert.equal(isCredentialName(n), false, n);
  });

  it('${env:NAME} of a credential is refused at its file:line, with or without a default', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml': `${EXPERIMENT}tags:\n  a: "\${env:MLFLOW_TRACKING_PASSWORD}"\ndescription: "x \${env:MY_TOKEN:-none}"\n`,
    });
    const d = await diagnosticsOf(
      testRuntime().resolve(join(dir, 'e.yaml'), {
        env: { MLFLOW_TRACKING_PASSWORD: 'hunter2-pw', MY_TOKEN: 'tok-123456' },
        allowUnresolvedEnv: true,
      }),
    );
    assert.deepEqual(
      d.map((x) => [x.line, x.path]),
      [
        [5, '$.tags.a'],
        [6, '$.description'],
      ],
    );
    assert.match(d[0].message, /MLFLOW_TRACKING_PASSWORD looks like a credential/);
    assert.doesNotMatch(JSON.stringify(d), /hunter2-pw|tok-123456/);
  });

  it('values of credential variables set in the process are scrubbed (config, logs)', () => {
    const env = { SERVICE_TOKEN: 's3cr3t-value', HOME: '/home/u', SHORT_KEY: 'ab' };
    assert.equal(scrubSecrets('a s3cr3t-value b ab', env), 'a *** b ab');
    const saved = process.env.SERVICE_TOKEN;
    process.env.SERVICE_TOKEN = 's3cr3t-value';
    try {
      assert.deepEqual(redactCredentials({ tags: { leak: 'x-s3cr3t-value' }, n: 3 }), {
        tags: { leak: 'x-***' },
        n: 3,
      });
      const logger = new Logger();
      const lines: string[] = [];
      logger.level = 'error';
      logger.sink = (line) => lines.push(line);
      logger.info('connecting with s3cr3t-value');
      assert.match(lines[0], /connecting with \*\*\*$/);
    } finally {
      if (saved === undefined) delete process.env.SERVICE_TOKEN;
      else process.env.SERVICE_TOKEN = saved;
    }
  });
});

describe('numbers finite and bounded', () => {
  const cases: [string, string[], RegExp][] = [
    ['.inf epochs', ['training.epochs=.inf'], /finite number \(got Infinity\)/],
    ['1e309 batch size', ['training.batchSize=1e309'], /finite number/],
    ['-.inf margin', ['dataset.margin=-.inf'], /finite number \(got -Infinity\)/],
    ['.nan learning rate', ['training.optimizer.learningRate=.nan'], /finite number \(got NaN\)/],
    ['NaN in a sweep list', ['sweep.parameters.seed=[1, .nan]'], /finite number \(got NaN\)/],
    ['epochs above the maximum', ['training.epochs=1000000'], /must be <= 100000/],
    ['imageSize 4096', ['dataset.imageSize=4096'], /must be <= 1024/],
    ['a 300-character name', [`name=${'a'.repeat(300)}`], /must NOT have more than 128/],
    ['100,000 filters', ['architecture.filters=[100000, 8, 8, 8]'], /must be <= 65536/],
    [
      'a 10^8 per-class up-sample',
      ['sampler={type: up-sample, perClass: 100000000}'],
      /<= 10000000/,
    ],
    [
      'a learning rate of 1e31',
      ['training.optimizer={type: adam, learningRate: 1e31}'],
      /must be <= 1e\+30/,
    ],
  ];
  for (const [name, overrides, message] of cases) {
    it(`${name} is refused`, async () => {
      const dir = tempDir();
      writeFiles(dir, { 'e.yaml': EXPERIMENT });
      const d = await diagnosticsOf(
        testRuntime().resolve(join(dir, 'e.yaml'), { overrides, allowUnresolvedEnv: true }),
      );
      assert.ok(
        d.some((x) => message.test(x.message)),
        d.map((x) => x.message).join('\n'),
      );
    });
  }

  it('every number of the composed schema has a minimum and a maximum', () => {
    const unbounded: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      const schema = node as Record<string, unknown>;
      if (schema.type === 'number' || schema.type === 'integer') {
        const low = schema.minimum ?? schema.exclusiveMinimum;
        const high = schema.maximum ?? schema.exclusiveMaximum;
        if (typeof low !== 'number' || typeof high !== 'number') unbounded.push(path);
      }
      for (const [key, value] of Object.entries(schema)) walk(value, `${path}/${key}`);
    };
    walk(composeExperimentSchema(testRuntime().registry), '#');
    assert.deepEqual(unbounded, []);
  });

  it('.inf written in the YAML is refused at its line', async () => {
    const dir = tempDir();
    writeFiles(dir, { 'e.yaml': `${EXPERIMENT}training:\n  epochs: .inf\n` });
    const d = await diagnosticsOf(testRuntime().resolve(join(dir, 'e.yaml')));
    const inf = d.find((x) => /finite/.test(x.message));
    assert.deepEqual([inf?.line, inf?.col, inf?.path], [5, 11, '$.training.epochs']);
  });
});

describe('sweeps: counted without expanding, bounded, expanded lazily', () => {
  const grid = (lists: number, values: number): SweepConfig =>
    ({
      mode: 'grid',
      repeat: 1,
      parameters: Object.fromEntries(
        Array.from({ length: lists }, (_, i) => [
          `tags.p${i}`,
          Array.from({ length: values }, (_, v) => `v${v}`),
        ]),
      ),
    }) as SweepConfig;

  it('a 10^20 grid is counted at once, and its first runs come without building the rest', () => {
    const start = Date.now();
    const sweep = grid(10, 100);
    assert.equal(countTrials(sweep), 1e20);
    const first: string[][] = [];
    for (const t of iterateTrials(sweep, 42)) {
      first.push(t.overrides);
      if (first.length === 3) break;
    }
    assert.deepEqual(first[2].slice(-2), ['tags.p8=v0', 'tags.p9=v2']);
    assert.ok(Date.now() - start < 1000);
    assert.equal(countTrials({ ...grid(2, 3), repeat: 4 }), 36);
    assert.equal(countTrials({ ...grid(2, 3), mode: 'zip' }), 3);
    assert.equal(countTrials({ ...grid(2, 3), mode: 'random', trials: 7 }), 7);
  });

  it('the lazy grid has the order and size of the full product', () => {
    const all = [...iterateTrials(grid(3, 2), 1)].map((t) => t.overrides.join(' '));
    assert.equal(all.length, 8);
    assert.equal(all[0], 'tags.p0=v0 tags.p1=v0 tags.p2=v0');
    assert.equal(all[1], 'tags.p0=v0 tags.p1=v0 tags.p2=v1');
    assert.equal(all[7], 'tags.p0=v1 tags.p1=v1 tags.p2=v1');
  });

  it('validation refuses a sweep above the limit at its parameters; the limit can be raised', async () => {
    const dir = tempDir();
    const values = `[${Array.from({ length: 100 }, (_, i) => i + 1).join(', ')}]`;
    writeFiles(dir, {
      'e.yaml': `${EXPERIMENT}sweep:\n  parameters:\n    seed: ${values}\n    training.epochs: ${values}\n    training.batchSize: ${values}\n`,
    });
    const d = await diagnosticsOf(testRuntime().resolve(join(dir, 'e.yaml')));
    assert.deepEqual([d[0].line, d[0].path], [5, '$.sweep.parameters']);
    assert.match(d[0].message, /makes 1,000,000 runs, more than the limit of 10,000/);
    const ok = await testRuntime().resolve(join(dir, 'e.yaml'), {
      maxCombinations: 1_000_000,
      allowUnresolvedEnv: true,
    });
    assert.equal(countTrials(ok.config.sweep), 1_000_000);
  });
});

describe('one rule for learning-rate bounds', () => {
  it('learningRate 0 passes validation and builds (as in Keras); a negative one fails validation', async () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFiles(dir, {
      'e.yaml': `${EXPERIMENT}training:\n  optimizer: { type: adam, learningRate: 0 }\n`,
    });
    const runtime = testRuntime();
    const resolved = await runtime.resolve(join(dir, 'e.yaml'), { allowUnresolvedEnv: true });
    const { buildTrainingPlugins } = await import('../../../src/core/runner/training-plugins.js');
    const built = buildTrainingPlugins(
      runtime,
      runtime.createRunContainer(resolved, join(dir, 'cache')),
      resolved.config.training,
    );
    assert.equal(built.optimizer.plugin.learningRate, 0);
    const d = await diagnosticsOf(
      runtime.resolve(join(dir, 'e.yaml'), { overrides: ['training.optimizer.learningRate=-1'] }),
    );
    assert.match(d[0].message, /must be >= 0/);
  });
});
