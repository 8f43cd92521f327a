import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../../src/sdk/errors.js';
import type { ArchitecturePlugin, Task } from '../../../src/sdk/contracts/data.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, repoRoot, testRuntime } from '../../support/helpers.js';

/** Exactly the files docs/adding-an-architecture.md walks through. */
const EXAMPLE_EXPERIMENT = join(repoRoot, 'examples/experiments/tiny-cnn.yaml');
const EXAMPLE_PLUGIN = 'examples/plugins/tiny-cnn.mjs';

const sixClasses: Task = {
  kind: 'classification',
  classes: ['Neutral', 'Happy', 'Sad', 'Surprise', 'Fear', 'Anger'].map((name, index) => ({
    index,
    code: index,
    name,
  })),
};

describe('the example architecture plugin (docs/adding-an-architecture.md)', () => {
  before(async () => {
    await activateBackend();
  });

  it("loads from the experiment's plugins: list by relative path, validated and registered", async () => {
    const runtime = testRuntime();
    assert.equal(runtime.registry.has('architecture', 'tiny-cnn'), false);
    const resolved = await runtime.resolve(EXAMPLE_EXPERIMENT, { allowUnresolvedEnv: true });
    assert.deepEqual(resolved.externalPlugins, ['architecture:tiny-cnn']);
    assert.ok(runtime.registry.has('architecture', 'tiny-cnn'));
    // schema defaults filled in for the options the file leaves out
    assert.deepEqual(resolved.config.architecture, {
      type: 'tiny-cnn',
      filters: [16, 32, 64],
      dense: 64,
      dropout: 0.25,
      regressionHead: 'linear',
    });
    const scope = runtime.createRunContainer(resolved, join(repoRoot, '.cache', 'affectlab'));
    const architecture = runtime.instantiate<ArchitecturePlugin>(
      scope,
      'architecture',
      resolved.config.architecture,
    );
    const model = await architecture.build({ inputShape: [48, 48, 3], task: sixClasses });
    assert.deepEqual(model.outputNames, ['expression']);
    const y = model.predict(tf.zeros([2, 48, 48, 3])) as tf.Tensor;
    assert.deepEqual(y.shape, [2, 6]);
    const both = await architecture.build({
      inputShape: [48, 48, 3],
      task: { ...sixClasses, kind: 'expression+valence-arousal' },
    });
    assert.deepEqual(
      both.outputs.map((o) => o.shape),
      [
        [null, 6],
        [null, 2],
      ],
    );
    tf.dispose(y);
    model.dispose();
    both.dispose();
  });

  it('has its options validated like a built-in', async () => {
    const runtime = testRuntime();
    await assert.rejects(
      runtime.resolve(EXAMPLE_EXPERIMENT, {
        allowUnresolvedEnv: true,
        overrides: ['architecture.dense=0'],
      }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /\/architecture\/dense|architecture\.dense/.test(e.message) &&
        /must be >= 1/.test(e.message),
    );
  });

  it('shows in affectlab plugins and in the schema written for the editor', () => {
    const listed = affectlab(['plugins', '--plugin', EXAMPLE_PLUGIN, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const plugins = JSON.parse(listed.stdout) as {
      kind: string;
      type: string;
      optionsSchema: { properties: object };
    }[];
    const tiny = plugins.find((p) => p.kind === 'architecture' && p.type === 'tiny-cnn');
    assert.ok(tiny, 'tiny-cnn listed');
    assert.deepEqual(Object.keys(tiny.optionsSchema.properties), [
      'filters',
      'dense',
      'dropout',
      'regressionHead',
    ]);
    for (const builtin of ['vgg-type', 'resnet50', 'alexnet']) {
      assert.ok(
        plugins.some((p) => p.kind === 'architecture' && p.type === builtin),
        `${builtin} listed`,
      );
    }

    const schema = affectlab(['schema', '--plugin', EXAMPLE_PLUGIN]);
    assert.equal(schema.code, 0, schema.stderr);
    const branches = (
      JSON.parse(schema.stdout) as {
        definitions: { architecture: { oneOf: { title: string; properties: object }[] } };
      }
    ).definitions.architecture.oneOf;
    const branch = branches.find((b) => b.title === 'architecture: tiny-cnn');
    assert.ok(branch, 'the schema has a tiny-cnn branch');
    assert.ok('filters' in branch.properties && 'dropout' in branch.properties);

    const missing = affectlab(['plugins', '--plugin', './no-such-plugin.mjs']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot load plugin module '\.\/no-such-plugin\.mjs'/);
  });
});
