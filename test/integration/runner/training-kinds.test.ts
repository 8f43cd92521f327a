import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { ConfigError } from '../../../src/sdk/errors.js';
import { decideEngine } from '../../../src/core/engine/index.js';
import type { OptimizerPlugin } from '../../../src/sdk/contracts/optimisation.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import type { Runtime } from '../../../src/core/host/runtime.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { writeTinyExperiment } from '../../support/tiny-experiment.js';

let synth = '';
let backend = '';
const work = tempDir();
const index = new URL('../../../src/index.js', import.meta.url).href;

/** An optimizer from outside the repository: Adagrad, eager only (no graph form). */
const adagradModule = `import { tf, definePlugin, Options, Type, PLUGIN_OPTIONS } from '${index}';
export class Adagrad {
  constructor(options) { this.options = options; this.learningRate = options.learningRate; }
  createTfjsOptimizer() { return tf.train.adagrad(this.learningRate, this.options.initialAccumulatorValue); }
}
export default definePlugin({
  kind: 'optimizer',
  type: 'adagrad',
  description: 'Adagrad (tfjs), eager only',
  options: Options({
    learningRate: Type.Number({ exclusiveMinimum: 0, default: 0.01 }),
    initialAccumulatorValue: Type.Number({ exclusiveMinimum: 0, default: 0.1 }),
  }),
  implementation: Adagrad,
  inject: [PLUGIN_OPTIONS],
});
`;

/**
 * A loss from outside the repository with both forms: label-smoothed cross-entropy,
 * targets (1 - s) one-hot + s / C, written once for tfjs and once as graph ops.
 */
const smoothingModule = `import { tf, definePlugin, Options, Type, PLUGIN_OPTIONS } from '${index}';
const EPS = 1e-7;
export class LabelSmoothing {
  target = 'classes';
  constructor(options) { this.s = options.smoothing; }
  tfjs() {
    return (yTrue, yPred) => tf.tidy(() => {
      const c = yPred.shape[yPred.rank - 1];
      const t = yTrue.rank === 2 && yTrue.shape[1] === c ? yTrue : tf.oneHot(yTrue.reshape([-1]).toInt(), c).toFloat();
      const smoothed = t.mul(1 - this.s).add(this.s / c);
      return tf.neg(tf.mean(tf.sum(smoothed.mul(tf.log(tf.clipByValue(yPred, EPS, 1 - EPS))), -1)));
    });
  }
  graph({ b, predictions, targets, classes }) {
    const off = this.s / classes;
    const oneHot = b.op('OneHot', [targets, b.constI32(classes), b.constF32(1 - this.s + off), b.constF32(off)],
      [['T', 'type', 1], ['TI', 'type', 3], ['axis', 'int', -1]]);
    const clipped = b.minimum(b.maximum(predictions, b.constF32(EPS)), b.constF32(1 - EPS));
    return b.neg(b.reduce('Mean', b.reduce('Sum', b.mul(oneHot, b.log(clipped)), [1]), [0]));
  }
}
export default definePlugin({
  kind: 'loss',
  type: 'label-smoothing',
  description: 'label-smoothed cross-entropy',
  options: Options({ smoothing: Type.Number({ minimum: 0, maximum: 1, default: 0.1 }) }),
  implementation: LabelSmoothing,
  inject: [PLUGIN_OPTIONS],
});
`;

function experiment(
  name: string,
  training: string,
  plugins: string[] = [],
  dropout = 0.25,
): string {
  return writeTinyExperiment(work, {
    name,
    synth,
    runsRoot: join(work, 'runs'),
    plugins: plugins.length ? `[${plugins.join(', ')}]` : undefined,
    architecture: `{ type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8], convDropout: ${dropout}, denseDropout: ${dropout} }`,
    training: `  epochs: 1
  batchSize: 8
  stepsPerEpoch: 2
  validationSteps: 1
${training}`,
  });
}

async function train(runtime: Runtime, file: string) {
  const resolved = await runtime.resolve(file);
  const result = await runExperiment(runtime, resolved, { cacheDir: join(work, 'cache') });
  const log = readFileSync(join(result.runDir, 'log.txt'), 'utf8');
  const epochs = readFileSync(join(result.runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { metrics: Record<string, number> });
  return { result, log, epochs };
}

describe('optimizer and loss plugin kinds', () => {
  before(async () => {
    synth = await smallSyntheticSet();
    backend = await activateBackend();
    writeFileSync(join(work, 'adagrad.mjs'), adagradModule);
    writeFileSync(join(work, 'smoothing.mjs'), smoothingModule);
  });

  it('registers the built-in optimizers and losses; the experiment schema lists them', () => {
    const runtime = testRuntime();
    assert.deepEqual(runtime.registry.types('optimizer'), ['adam', 'adamw', 'rmsprop', 'sgd']);
    assert.deepEqual(runtime.registry.types('loss'), ['ccc', 'cross-entropy', 'mse']);
  });

  it('an unknown optimizer or loss name fails validation with the known names and a did-you-mean', async () => {
    const runtime = testRuntime();
    const bad = experiment(
      'bad',
      '  optimizer: { type: adamm, learningRate: 0.01 }\n  loss: { classification: cross-entropie }',
    );
    const error = await runtime.resolve(bad).then(
      () => assert.fail('validated'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(
      error.message,
      /bad\.yaml:\d+:\d+: \$\.training\.optimizer\.type: unknown optimizer 'adamm'; did you mean 'adam'\? Registered optimizer plugins: adam, adamw, rmsprop, sgd/,
    );
    assert.match(
      error.message,
      /\$\.training\.loss\.classification: unknown loss 'cross-entropie'; did you mean 'cross-entropy'\?/,
    );
    // a loss of the wrong head is refused before training
    const wrongHead = experiment('wrong-head', '  loss: { classification: mse }');
    await assert.rejects(
      runExperiment(runtime, await runtime.resolve(wrongHead), { cacheDir: join(work, 'cache') }),
      /training\.loss\.classification: loss mse compares valence-arousal, not classes/,
    );
  });

  it('an external optimizer without a graph form trains eagerly under execution: auto and is refused by execution: graph', async () => {
    const runtime = testRuntime();
    const file = experiment('adagrad', '  optimizer: { type: adagrad, learningRate: 0.05 }', [
      './adagrad.mjs',
    ]);
    const { result, log, epochs } = await train(runtime, file);
    assert.equal(result.status, 'FINISHED');
    assert.match(log, /execution: eager: optimizer adagrad has no graph form/);
    assert.ok(Number.isFinite(epochs[0].metrics.loss), JSON.stringify(epochs[0]));
    const config = readFileSync(join(result.runDir, 'config.yaml'), 'utf8');
    assert.match(config, /initialAccumulatorValue: 0\.1/, 'the plugin schema default is filled in');

    const again = testRuntime();
    const resolved = await again.resolve(file);
    const plugin = again.instantiate<OptimizerPlugin>(
      again.container,
      'optimizer',
      resolved.config.training.optimizer,
    );
    await assert.rejects(
      decideEngine('graph', backend, undefined, undefined, {
        optimizer: { type: 'adagrad', plugin },
      }),
      /training\.execution is graph, but optimizer adagrad has no graph form/,
    );
  });

  it('an external loss with a graph form trains on both engines, which agree', async (t) => {
    if (backend !== 'tensorflow' && backend !== 'tensorflow-gpu') {
      t.skip(`the graph engine needs the native backend (active: ${backend})`);
      return;
    }
    const loss = '  loss: { classification: { type: label-smoothing, smoothing: 0.2 } }';
    const graph = await train(
      testRuntime(),
      experiment('smooth-graph', `  execution: graph\n${loss}`, ['./smoothing.mjs'], 0),
    );
    const eager = await train(
      testRuntime(),
      experiment('smooth-eager', `  execution: eager\n${loss}`, ['./smoothing.mjs'], 0),
    );
    assert.equal(graph.result.status, 'FINISHED');
    assert.match(graph.log, /execution: graph/);
    const g = graph.epochs[0].metrics.loss;
    const e = eager.epochs[0].metrics.loss;
    // two steps from the same weights, no dropout (the engines draw their masks differently):
    // the engines agree to float rounding (graph-engine.test)
    assert.ok(Math.abs(g - e) <= 1e-4 * Math.abs(e), `graph ${g} vs eager ${e}`);
    // smoothing changes the loss: the plain cross-entropy of the same run differs
    const plain = await train(
      testRuntime(),
      experiment('plain-eager', '  execution: eager', [], 0),
    );
    assert.ok(
      Math.abs(plain.epochs[0].metrics.loss - e) > 1e-3,
      `${plain.epochs[0].metrics.loss} vs ${e}`,
    );
    assert.equal(readdirSync(join(work, 'runs')).length >= 3, true);
  });
});
