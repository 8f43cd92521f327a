import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { composeExperimentSchema } from '../../../src/core/config/schema.js';
import { Registry, UnknownPluginError } from '../../../src/core/host/registry.js';
import { Logger, Random, RunContext } from '../../../src/sdk/services.js';
import { ProbePlugin, fixturePlugins, fixtureRuntime } from '../../support/fixture-plugins.js';
import { tempDir, writeFiles } from '../../support/helpers.js';

describe('Registry', () => {
  it("the defaults of training.optimizer and the losses are the composition root's, not core's", () => {
    type Node = { default?: unknown; properties?: Record<string, Node> };
    const training = (registry: Registry) =>
      (composeExperimentSchema(registry) as { definitions: { training: Node } }).definitions
        .training.properties as Record<string, Node>;
    const bare = training(new Registry());
    assert.equal(bare.optimizer.default, undefined, 'core names no optimizer');
    assert.equal(bare.loss.properties?.classification.default, undefined);
    const registry = new Registry();
    registry.setDefault('optimizer', { type: 'sgd', learningRate: 0.1 });
    registry.setDefault('classification-loss', { type: 'focal' });
    registry.setDefault('regression-loss', { type: 'ccc', weight: 2 });
    const set = training(registry);
    assert.deepEqual(set.optimizer.default, { type: 'sgd', learningRate: 0.1 });
    assert.equal(set.loss.properties?.classification.default, 'focal');
    assert.deepEqual(set.loss.properties?.regression.default, { type: 'ccc', weight: 2 });
  });

  it('registers explicitly, lists by kind, and fails with known names and a did-you-mean', () => {
    const registry = new Registry();
    registry.registerAll(fixturePlugins);
    assert.deepEqual(registry.types('architecture'), ['small-cnn']);
    assert.equal(registry.list().length, 5);
    assert.deepEqual(registry.types('dataset'), ['csv-list', 'folder']);
    assert.throws(
      () => registry.get('architecture', 'smallcnn'),
      (e: unknown) => {
        assert.ok(e instanceof UnknownPluginError);
        assert.match(e.message, /did you mean 'small-cnn'\?/);
        assert.match(e.message, /Registered architecture plugins: small-cnn/);
        return true;
      },
    );
    assert.throws(
      () => registry.get('sampler', 'zzzzzzzz'),
      /unknown sampler 'zzzzzzzz' Registered sampler plugins: shuffle/,
    );
    assert.throws(() => registry.register({ ...fixturePlugins[0] }), /already registered/);
  });
});

describe('Runtime container', () => {
  it('injects validated options and core services through the constructor', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml':
        'name: inj\nseed: 5\ndataset: { type: folder, root: /r }\narchitecture: { type: small-cnn }\ntraining: {}\n',
    });
    const runtime = fixtureRuntime();
    const resolved = await runtime.resolve(join(dir, 'e.yaml'));
    const scope = runtime.createRunContainer(resolved, join(dir, 'cache'));
    const arch = runtime.instantiate<ProbePlugin>(
      scope,
      'architecture',
      resolved.config.architecture,
    );
    assert.ok(arch instanceof ProbePlugin);
    assert.deepEqual(arch.options, { filters: [8, 16] }, 'options without type, defaults filled');
    assert.ok(arch.logger instanceof Logger);
    assert.equal(arch.logger, runtime.logger, 'Logger is a root singleton');
    assert.ok(arch.rng instanceof Random);
    assert.ok(arch.context instanceof RunContext);
    assert.equal(arch.context.seed, 5);
    assert.equal(arch.context.experiment, 'inj');
    const dataset = runtime.instantiate<ProbePlugin>(scope, 'dataset', resolved.config.dataset);
    assert.equal(dataset.rng, arch.rng, 'one Random per run');
    const otherRun = runtime.createRunContainer(resolved, join(dir, 'cache'));
    assert.notEqual(
      runtime.instantiate<ProbePlugin>(otherRun, 'dataset', resolved.config.dataset).rng,
      arch.rng,
    );
  });

  it('fills schema defaults into a ref made in code (not validated YAML) and refuses bad options', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'e.yaml':
        'name: inj\nseed: 5\ndataset: { type: folder, root: /r }\narchitecture: { type: small-cnn }\n',
    });
    const runtime = fixtureRuntime();
    const resolved = await runtime.resolve(join(dir, 'e.yaml'));
    const scope = runtime.createRunContainer(resolved, join(dir, 'cache'));
    const ref = { type: 'small-cnn', dropout: 0.5 };
    const arch = runtime.instantiate<ProbePlugin>(scope, 'architecture', ref);
    assert.deepEqual(arch.options, { filters: [8, 16], dropout: 0.5 });
    assert.deepEqual(ref, { type: 'small-cnn', dropout: 0.5 }, 'the ref itself is left as it was');
    assert.throws(
      () => runtime.instantiate(scope, 'architecture', { type: 'small-cnn', dropout: 2 }),
      /architecture 'small-cnn': invalid options: \/dropout must be <= 1/,
    );
  });

  it('loads an external plugin module from a path in plugins: and validates its options', async () => {
    const dir = tempDir();
    writeFiles(dir, {
      'ext/my-arch.mjs': `
import { PLUGIN_OPTIONS, Logger } from '${new URL('../../../src/index.js', import.meta.url).href}';
export class MyArch { constructor(options, logger) { this.options = options; this.logger = logger; } }
export default {
  inject: [PLUGIN_OPTIONS, Logger],
  kind: 'architecture',
  type: 'my-arch',
  description: 'external test architecture',
  optionsSchema: { type: 'object', properties: { width: { type: 'integer', minimum: 1 } }, required: ['width'] },
  implementation: MyArch,
};
`,
      'e.yaml':
        'name: ext\nplugins: [./ext/my-arch.mjs]\ndataset: { type: folder, root: /r }\narchitecture: { type: my-arch, width: 3 }\ntraining: {}\n',
      'bad.yaml':
        'name: ext\nplugins: [./ext/my-arch.mjs]\ndataset: { type: folder, root: /r }\narchitecture: { type: my-arch, width: 0 }\ntraining: {}\n',
    });
    const runtime = fixtureRuntime();
    const resolved = await runtime.resolve(join(dir, 'e.yaml'));
    assert.deepEqual(resolved.externalPlugins, ['architecture:my-arch']);
    assert.ok(runtime.registry.has('architecture', 'my-arch'));
    const scope = runtime.createRunContainer(resolved, join(dir, 'cache'));
    const built = runtime.instantiate<{ options: object; logger: unknown }>(
      scope,
      'architecture',
      resolved.config.architecture,
    );
    assert.deepEqual(built.options, { width: 3 });
    assert.equal(built.logger, runtime.logger);
    await assert.rejects(
      fixtureRuntime().resolve(join(dir, 'bad.yaml')),
      /bad\.yaml:4:\d+: \$\.architecture\.width: must be >= 1/,
    );
  });

  it('Random is deterministic, forkable and restorable', () => {
    const a = new Random(1);
    const b = new Random(1);
    const seqA = Array.from({ length: 5 }, () => a.nextUint32());
    assert.deepEqual(
      Array.from({ length: 5 }, () => b.nextUint32()),
      seqA,
    );
    const state = a.getState();
    const next = a.next();
    const c = new Random(0);
    c.setState(state);
    assert.equal(c.next(), next);
    assert.notEqual(Random.fork(1, 'x').next(), Random.fork(1, 'y').next());
    const u = Array.from({ length: 2000 }, () => a.next());
    assert.ok(Math.min(...u) >= 0 && Math.max(...u) < 1);
    assert.ok(Math.abs(u.reduce((s, x) => s + x, 0) / u.length - 0.5) < 0.05);
  });
});
