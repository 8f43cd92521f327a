import 'reflect-metadata';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { architectureEngines } from '../../../src/core/cli/doctor-architectures.js';
import { createCli } from '../../../src/core/cli/program.js';
import type { ModelRequest } from '../../../src/sdk/contracts/data.js';
import type { PluginDefinition } from '../../../src/sdk/contracts/plugin.js';
import type { Runtime } from '../../../src/core/host/runtime.js';
import { activateBackend, testRuntime } from '../../support/helpers.js';

/** An architecture with a layer the graph compiler has no form for (Gaussian noise). */
class NoisyNet {
  build({ inputShape, task }: ModelRequest): tf.LayersModel {
    const input = tf.input({ shape: inputShape });
    let x = tf.layers.flatten().apply(input) as tf.SymbolicTensor;
    x = tf.layers.gaussianNoise({ stddev: 0.1, name: 'noise' }).apply(x) as tf.SymbolicTensor;
    const out = tf.layers
      .dense({ units: task.classes.length, activation: 'softmax' })
      .apply(x) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }
}

const noisyNet: PluginDefinition = {
  kind: 'architecture',
  type: 'noisy-net',
  description: 'a layer without a graph form',
  optionsSchema: { type: 'object', properties: {} },
  implementation: NoisyNet,
  inject: [],
};

async function doctorJson(runtime: Runtime, args: string[]): Promise<Record<string, unknown>> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    if (typeof chunk !== 'string') return write(chunk);
    chunks.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    const program = createCli(runtime);
    program.exitOverride();
    await program.parseAsync(['doctor', '--json', ...args], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return JSON.parse(chunks.join('')) as Record<string, unknown>;
}

describe('doctor names the engine of each architecture', () => {
  let backend = '';
  before(async () => {
    backend = await activateBackend();
  });

  it('every built-in backbone compiles to the graph; a layer without a graph form is named', async () => {
    const runtime = testRuntime();
    runtime.registry.register(noisyNet);
    const engines = await architectureEngines(runtime, backend);
    const byName = new Map(engines.map((e) => [e.architecture, e]));
    assert.deepEqual(
      engines.map((e) => e.architecture),
      runtime.registry.list('architecture').map((d) => d.type),
    );
    for (const type of ['vgg-type', 'alexnet', 'resnet50', 'mobilenet-v2', 'efficientnet-b0']) {
      const e = byName.get(type);
      assert.equal(e?.compiles, true, `${type}: ${JSON.stringify(e)}`);
      if (backend === 'tensorflow') assert.equal(e?.engine, 'graph', type);
    }
    const noisy = byName.get('noisy-net');
    assert.equal(noisy?.engine, 'eager');
    assert.equal(noisy?.compiles, false);
    assert.equal(noisy?.layer, 'noise (GaussianNoise)');
    assert.match(
      noisy?.reason ?? '',
      /^eager fallback: layer noise \(GaussianNoise\): no graph form/,
    );
    // an architecture built from a file it needs says so instead of guessing
    const fromFile = byName.get('keras-model');
    assert.equal(fromFile?.engine, 'unknown');
    assert.match(fromFile?.reason ?? '', /its layers come from its path/);
  });

  it('on a backend without the graph engine the layers still compile, the run is eager', async () => {
    const runtime = testRuntime();
    runtime.registry.register(noisyNet);
    const json = await doctorJson(runtime, ['--backend', 'cpu']);
    const engines = json.engines as { architecture: string; engine: string; reason: string }[];
    const vgg = engines.find((e) => e.architecture === 'vgg-type');
    assert.equal(vgg?.engine, 'eager');
    assert.match(
      vgg?.reason ?? '',
      /every layer compiles, but this machine runs eager .*cpu backend/,
    );
    const noisy = engines.find((e) => e.architecture === 'noisy-net');
    assert.match(noisy?.reason ?? '', /layer noise \(GaussianNoise\): no graph form/);
    const skipped = await doctorJson(testRuntime(), ['--backend', 'cpu', '--no-architectures']);
    assert.deepEqual(skipped.engines, []);
  });
});
