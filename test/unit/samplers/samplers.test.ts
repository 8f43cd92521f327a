import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SamplerPlugin, SamplingContext } from '../../../src/sdk/contracts/data.js';
import { Logger } from '../../../src/sdk/services.js';
import { UserError } from '../../../src/sdk/errors.js';
import { DownSampleSampler } from '../../../src/plugins/samplers/down-sample.js';
import { ImbalancedSampler } from '../../../src/plugins/samplers/imbalanced.js';
import { samplerPlugins } from '../../../src/plugins/samplers/index.js';
import { UpSampleSampler } from '../../../src/plugins/samplers/up-sample.js';
import {
  WeightedSampler,
  classBalancedWeights,
  inverseFrequencyWeights,
} from '../../../src/plugins/samplers/weighted.js';
import { testRuntime } from '../../support/helpers.js';

/** A logger that records warnings instead of printing them. */
function quietLogger(): Logger & { warnings: string[] } {
  const logger = new Logger() as Logger & { warnings: string[] };
  logger.warnings = [];
  logger.warn = (message: string) => void logger.warnings.push(message);
  return logger;
}

// 10 examples of class 0, 4 of class 1, 1 of class 2, none of class 3; interleaved.
const LABELS = [0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0];
const NUM_CLASSES = 4;
const SEED = 1234;

function classCounts(indices: readonly number[]): number[] {
  const counts = new Array<number>(NUM_CLASSES).fill(0);
  for (const i of indices) counts[LABELS[i]]++;
  return counts;
}

/** What the runner gives a sampler for one epoch of LABELS. */
function context(epoch: number, seed: number): SamplingContext {
  return { labels: LABELS, numClasses: NUM_CLASSES, epoch, seed };
}

function assertDeterministic(make: () => SamplerPlugin): void {
  const a = make();
  const b = make();
  // Asking for epoch 3 first on one instance must not change what epoch 1 gives (pure in its inputs).
  const b3 = b.epochPlan(context(3, SEED));
  assert.deepEqual(a.epochPlan(context(1, SEED)), b.epochPlan(context(1, SEED)));
  assert.deepEqual(a.epochPlan(context(3, SEED)), b3);
  assert.notDeepEqual(a.epochPlan(context(1, SEED)), a.epochPlan(context(2, SEED)));
  assert.notDeepEqual(a.epochPlan(context(1, SEED)), a.epochPlan(context(1, SEED + 1)));
}

describe('imbalanced sampler', () => {
  const sampler = new ImbalancedSampler();

  it('yields every example exactly once per epoch, shuffled', () => {
    const indices = sampler.epochPlan({
      labels: LABELS,
      numClasses: NUM_CLASSES,
      epoch: 0,
      seed: SEED,
    });
    assert.deepEqual(
      [...indices].sort((x, y) => x - y),
      LABELS.map((_, i) => i),
    );
    assert.notDeepEqual(
      indices,
      LABELS.map((_, i) => i),
    );
    assert.deepEqual(classCounts(indices), [10, 4, 1, 0]);
    assert.equal((sampler as SamplerPlugin).lossWeighting, undefined);
  });

  it('is deterministic under a seed, fresh per epoch', () =>
    assertDeterministic(() => new ImbalancedSampler()));

  it('rejects labels outside the classes', () => {
    assert.throws(
      () => sampler.epochPlan({ labels: [0, 4], numClasses: NUM_CLASSES, epoch: 0, seed: SEED }),
      /training example 1 has label 4, not a class index in 0..3/,
    );
  });
});

describe('down-sample sampler', () => {
  it('defaults to the smallest non-empty class and warns about empty classes', () => {
    const logger = quietLogger();
    const sampler = new DownSampleSampler({}, logger);
    const indices = sampler.epochPlan({
      labels: LABELS,
      numClasses: NUM_CLASSES,
      epoch: 0,
      seed: SEED,
    });
    assert.deepEqual(classCounts(indices), [1, 1, 1, 0]);
    sampler.epochPlan({ labels: LABELS, numClasses: NUM_CLASSES, epoch: 1, seed: SEED });
    assert.equal(logger.warnings.length, 1);
    assert.match(logger.warnings[0], /class\(es\) 3 have no training examples/);
  });

  it('takes at most perClass per class, without replacement, a fresh draw each epoch', () => {
    const sampler = new DownSampleSampler({ perClass: 3 }, quietLogger());
    const seen = new Set<number>();
    for (let epoch = 0; epoch < 20; epoch++) {
      const indices = sampler.epochPlan({
        labels: LABELS,
        numClasses: NUM_CLASSES,
        epoch: epoch,
        seed: SEED,
      });
      assert.deepEqual(classCounts(indices), [3, 3, 1, 0]);
      assert.equal(new Set(indices).size, indices.length, 'no repeats within an epoch');
      indices.filter((i) => LABELS[i] === 0).forEach((i) => seen.add(i));
    }
    assert.equal(seen.size, 10, 'over 20 epochs every class-0 example is drawn at some point');
  });

  it('is deterministic under a seed', () =>
    assertDeterministic(() => new DownSampleSampler({ perClass: 3 }, quietLogger())));
});

describe('up-sample sampler', () => {
  it('raises every non-empty class to the largest class, keeping every original example', () => {
    const logger = quietLogger();
    const sampler = new UpSampleSampler({}, logger);
    const indices = sampler.epochPlan({
      labels: LABELS,
      numClasses: NUM_CLASSES,
      epoch: 0,
      seed: SEED,
    });
    assert.deepEqual(classCounts(indices), [10, 10, 10, 0]);
    for (let i = 0; i < LABELS.length; i++) assert.ok(indices.includes(i), `example ${i} is kept`);
    assert.equal(
      indices.filter((i) => i === 4).length,
      10,
      'the one class-2 example is repeated 10 times',
    );
    assert.match(
      logger.warnings[0],
      /class\(es\) 3 have no training examples and cannot be up-sampled/,
    );
  });

  it('with perClass below the largest class keeps the larger classes whole', () => {
    const sampler = new UpSampleSampler({ perClass: 5 }, quietLogger());
    assert.deepEqual(
      classCounts(
        sampler.epochPlan({ labels: LABELS, numClasses: NUM_CLASSES, epoch: 0, seed: SEED }),
      ),
      [10, 5, 5, 0],
    );
  });

  it('is deterministic under a seed', () =>
    assertDeterministic(() => new UpSampleSampler({}, quietLogger())));
});

describe('weighted sampler and class weights', () => {
  it("reproduces the report's Appendix B normalized weights (beta 0.9999) to 1e-6", () => {
    const counts = [75374, 134915, 25959, 14590, 6878, 25382];
    const expected = [0.802518525, 0.802092228, 0.866721731, 1.045004055, 1.612773364, 0.870890096];
    const weights = classBalancedWeights(counts, 0.9999);
    weights.forEach((w, c) =>
      assert.ok(Math.abs(w - expected[c]) < 1e-6, `class ${c}: ${w} != ${expected[c]}`),
    );
    // The full-precision values in the report's Keras code.
    const keras = [
      0.802518525169482, 0.802092227896231, 0.866721731456969, 1.0450040554419, 1.6127733638543,
      0.870890096181114,
    ];
    weights.forEach((w, c) =>
      assert.ok(Math.abs(w - keras[c]) < 1e-9, `class ${c}: ${w} != ${keras[c]}`),
    );
    const sampler = new WeightedSampler({}, quietLogger());
    assert.deepEqual(
      sampler.lossWeighting.classWeights(counts),
      weights,
      'class-balanced with beta 0.9999 is the default',
    );
  });

  it('inverse frequency: w_c proportional to 1/n_c, mean 1', () => {
    assert.deepEqual(inverseFrequencyWeights([1, 3]), [1.5, 0.5]);
    const w = inverseFrequencyWeights([10, 20, 40]);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) / 3 - 1) < 1e-12);
    assert.ok(Math.abs(w[0] / w[2] - 4) < 1e-12);
  });

  it('class-balanced: beta 0 gives equal weights; beta near 1 approaches inverse frequency', () => {
    assert.deepEqual(classBalancedWeights([5, 500, 50], 0), [1, 1, 1]);
    const nearOne = classBalancedWeights([10, 20, 40], 1 - 1e-9);
    const inverse = inverseFrequencyWeights([10, 20, 40]);
    nearOne.forEach((w, c) => assert.ok(Math.abs(w - inverse[c]) < 1e-6));
    assert.throws(() => classBalancedWeights([1, 2], 1), /beta must be in \[0, 1\)/);
  });

  it('gives a class without training examples weight 0 and averages 1 over the others', () => {
    const logger = quietLogger();
    const sampler = new WeightedSampler({ scheme: 'inverse-frequency' }, logger);
    assert.deepEqual(sampler.lossWeighting.classWeights([1, 0, 3]), [1.5, 0, 0.5]);
    assert.match(
      logger.warnings[0],
      /class\(es\) 1 have no training examples; their loss weight is 0/,
    );
    const cb = classBalancedWeights([100, 0, 50], 0.99);
    assert.equal(cb[1], 0);
    assert.ok(Math.abs((cb[0] + cb[2]) / 2 - 1) < 1e-12);
    assert.throws(() => inverseFrequencyWeights([0, 0]), /no examples in any class/);
  });

  it('uses explicit weights as written and checks their length against the classes', () => {
    const sampler = new WeightedSampler({ weights: [1, 2, 3] }, quietLogger());
    assert.deepEqual(sampler.lossWeighting.classWeights([5, 5, 5]), [1, 2, 3]);
    assert.throws(
      () => sampler.lossWeighting.classWeights([5, 5, 5, 5]),
      (e: unknown) =>
        e instanceof UserError &&
        /weights has 3 entries but the dataset has 4 classes/.test(e.message),
    );
  });

  it('yields every example once per epoch, deterministically', () => {
    const sampler = new WeightedSampler({}, quietLogger());
    assert.deepEqual(
      classCounts(
        sampler.epochPlan({ labels: LABELS, numClasses: NUM_CLASSES, epoch: 0, seed: SEED }),
      ),
      [10, 4, 1, 0],
    );
    assertDeterministic(() => new WeightedSampler({}, quietLogger()));
  });
});

describe('sampler registration', () => {
  it('registers the four samplers and builds them through the container with their options', () => {
    const runtime = testRuntime();
    assert.deepEqual(runtime.registry.types('sampler'), [
      'down-sample',
      'imbalanced',
      'up-sample',
      'weighted',
    ]);
    assert.equal(samplerPlugins.length, 4);
    const scope = runtime.container.createChildContainer();
    const down = runtime.instantiate<SamplerPlugin>(scope, 'sampler', {
      type: 'down-sample',
      perClass: 2,
    });
    assert.deepEqual(classCounts(down.epochPlan(context(0, SEED))), [2, 2, 1, 0]);
    const weighted = runtime.instantiate<SamplerPlugin>(scope, 'sampler', {
      type: 'weighted',
      scheme: 'inverse-frequency',
    });
    assert.deepEqual(weighted.lossWeighting?.classWeights([1, 3]), [1.5, 0.5]);
  });

  it('plans from the richer context as from the labels alone; only weighted weights the loss', () => {
    const runtime = testRuntime();
    const scope = runtime.container.createChildContainer();
    for (const type of ['imbalanced', 'down-sample', 'up-sample', 'weighted']) {
      const a = runtime.instantiate<SamplerPlugin>(scope, 'sampler', { type });
      const b = runtime.instantiate<SamplerPlugin>(scope, 'sampler', {
        type,
      });
      const rich: SamplingContext = {
        ...context(2, SEED),
        strata: LABELS.map((l) => (l + 1) % NUM_CLASSES),
        exampleWeights: LABELS.map(() => 1),
      };
      assert.deepEqual(
        a.epochPlan(rich),
        b.epochPlan({ labels: LABELS, numClasses: NUM_CLASSES, epoch: 2, seed: SEED }),
        type,
      );
      assert.equal(a.lossWeighting !== undefined, type === 'weighted', type);
    }
  });
});
