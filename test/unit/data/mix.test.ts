import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { mixImages } from '../../../src/core/engine/augment.js';
import { loadGraphModule } from '../../../src/core/engine/index.js';
import {
  betaSample,
  drawMix,
  isMixActive,
  mixRandom,
  mixStep,
  partnerTargets,
  pixelMix,
  type MixDraw,
} from '../../../src/core/pipeline/mix.js';
import { Random } from '../../../src/sdk/services.js';
import { activateBackend, tempDir, testRuntime, writeFiles } from '../../support/helpers.js';

const N = 6;
const H = 10;
const W = 14;
const C = 3;

function batch(): Float32Array {
  const random = new Random(5);
  return Float32Array.from({ length: N * H * W * C }, () => random.next());
}

describe('mixup and CutMix draws', () => {
  it('lambda ~ Beta(alpha, alpha): mean 1/2 and variance 1 / (4 (2 alpha + 1))', () => {
    for (const alpha of [0.05, 0.2, 1, 4]) {
      const rng = new Random(17);
      const n = 20000;
      const xs = Array.from({ length: n }, () => betaSample(alpha, rng));
      assert.ok(
        xs.every((x) => x >= 0 && x <= 1),
        `alpha ${alpha}: a sample outside [0, 1]`,
      );
      const mean = xs.reduce((s, x) => s + x, 0) / n;
      const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / n;
      const expected = 1 / (4 * (2 * alpha + 1));
      // the mean within 5 standard errors, the variance within 5 %
      assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(expected / n), `alpha ${alpha}: mean ${mean}`);
      assert.ok(
        Math.abs(variance / expected - 1) < 0.05,
        `alpha ${alpha}: variance ${variance}, expected ${expected}`,
      );
    }
  });

  it('the same step seed draws the same mix; pairs are a permutation of the batch', () => {
    const options = { mixup: { alpha: 0.4, probability: 0.5 }, cutmix: { probability: 0.5 } };
    const kinds = new Set<string>();
    for (let step = 0; step < 40; step++) {
      const a = drawMix(options, N, H, W, mixRandom(1000 + step));
      const b = drawMix(options, N, H, W, mixRandom(1000 + step));
      assert.deepEqual(a, b);
      assert.ok(a, 'probabilities summing to 1 mix every batch');
      kinds.add(a.kind);
      assert.deepEqual(
        [...a.partner].sort((x, y) => x - y),
        Array.from({ length: N }, (_, i) => i),
      );
      assert.equal(a.lambda, Math.fround(a.lambda));
    }
    assert.deepEqual([...kinds].sort(), ['cutmix', 'mixup']);
    assert.notDeepEqual(
      drawMix(options, N, H, W, mixRandom(1)),
      drawMix(options, N, H, W, mixRandom(2)),
    );
  });

  it('each method fires with its probability; probability 0 is off', () => {
    const options = { mixup: { probability: 0.3 }, cutmix: { probability: 0.2 } };
    const counts = { mixup: 0, cutmix: 0, none: 0 };
    const n = 4000;
    for (let s = 0; s < n; s++) counts[drawMix(options, N, H, W, mixRandom(s))?.kind ?? 'none']++;
    // within 5 standard errors
    assert.ok(Math.abs(counts.mixup / n - 0.3) < 5 * Math.sqrt(0.21 / n), JSON.stringify(counts));
    assert.ok(Math.abs(counts.cutmix / n - 0.2) < 5 * Math.sqrt(0.16 / n), JSON.stringify(counts));
    assert.equal(isMixActive({ mixup: { probability: 0 } }), false);
    assert.equal(isMixActive({ mixup: {} }), true);
    assert.equal(isMixActive({ cutmix: { probability: 0.1 } }), true);
    assert.equal(isMixActive({ flip: true }), false);
    assert.equal(drawMix({ mixup: { probability: 0 } }, N, H, W, mixRandom(3)), undefined);
  });
});

/** A batch mixed as `draw` says, by each engine's step: [eager, graph]. */
async function mixBatches(x: Float32Array, draw: MixDraw): Promise<Float32Array[]> {
  await activateBackend();
  const graph = await loadGraphModule();
  if (graph instanceof Error) throw graph;
  const mix = pixelMix(draw);
  const shape: [number, number, number, number] = [N, H, W, C];
  const eager = tf.tidy(
    () => mixImages(tf.tensor4d(x, shape), mix, H, W).dataSync() as Float32Array,
  );
  return [eager, await graph.augmentInGraph(x, shape, new Float32Array(0), {}, 0, mix)];
}

describe('mixing a batch (in the engines)', () => {
  it('mixup: every value is lambda x own + (1 - lambda) x partner', async () => {
    const x = batch();
    const draw = drawMix({ mixup: { alpha: 1 } }, N, H, W, mixRandom(8));
    assert.ok(draw && draw.kind === 'mixup');
    for (const out of await mixBatches(x, draw)) {
      const per = H * W * C;
      for (let r = 0; r < N; r++)
        for (let k = 0; k < per; k++) {
          const expected =
            draw.lambda * x[r * per + k] + (1 - draw.lambda) * x[draw.partner[r] * per + k];
          assert.ok(Math.abs(out[r * per + k] - expected) < 1e-6, `row ${r} value ${k}`);
        }
    }
  });

  it("CutMix: the box holds the partner's pixels, the rest the image's own; lambda is the area left", async () => {
    const x = batch();
    let boxes = 0;
    for (let s = 0; s < 30; s++) {
      const draw = drawMix({ cutmix: { alpha: 1 } }, N, H, W, mixRandom(s));
      assert.ok(draw?.kind === 'cutmix' && draw.box);
      const { top, left, height, width } = draw.box;
      assert.ok(top >= 0 && left >= 0 && top + height <= H && left + width <= W);
      assert.equal(draw.lambda, Math.fround(1 - (height * width) / (H * W)));
      if (height * width > 0) boxes++;
      const per = H * W * C;
      for (const out of await mixBatches(x, draw))
        for (let r = 0; r < N; r++)
          for (let y = 0; y < H; y++)
            for (let c = 0; c < W; c++) {
              const inBox = y >= top && y < top + height && c >= left && c < left + width;
              const from: number = inBox ? draw.partner[r] : r;
              for (let k = 0; k < C; k++) {
                const i = (y * W + c) * C + k;
                assert.equal(out[r * per + i], x[from * per + i]);
              }
            }
    }
    assert.ok(boxes > 20, `${boxes} of 30 draws pasted a box`);
  });

  it('partner targets follow the permutation; mixStep with the same seed gives the same mix', () => {
    const targets = {
      classes: Int32Array.of(0, 1, 2, 3, 4, 5),
      valenceArousal: Float32Array.from({ length: 2 * N }, (_, i) => i / 10),
    };
    const partner = [3, 0, 5, 1, 2, 4];
    const p = partnerTargets(targets, partner);
    assert.deepEqual([...p.classes!], partner);
    assert.deepEqual(
      [...p.valenceArousal!],
      partner.flatMap((q) => [targets.valenceArousal[2 * q], targets.valenceArousal[2 * q + 1]]),
    );
    const options = { mixup: { probability: 0.5 }, cutmix: { probability: 0.5 } };
    const inputs = { x: batch(), shape: [N, H, W, C] as [number, number, number, number] };
    const a = mixStep(options, inputs, targets, 77);
    const b = mixStep(options, inputs, targets, 77);
    assert.deepEqual(a.inputs, b.inputs);
    assert.equal(a.inputs.x, inputs.x, 'the pixels are mixed in the step, not here');
    assert.deepEqual(a.inputs.mix, pixelMix(a.draw!));
    assert.deepEqual(a.targets, b.targets);
    assert.ok(a.targets.mix && a.draw);
    assert.equal(a.targets.mix.lambda, a.draw.lambda);
    assert.deepEqual(a.targets.mix.partner, partnerTargets(targets, a.draw.partner));
    // no mix drawn: the batch and targets go through untouched
    const off = mixStep({ mixup: { probability: 0 } }, inputs, targets, 77);
    assert.equal(off.inputs, inputs);
    assert.equal(off.targets, targets);
  });
});

describe('dataset.augment.mixup and cutmix in a config', () => {
  it('are validated: bounds by the schema, the two probabilities together at most 1', async () => {
    const dir = tempDir();
    const yaml = (augment: string) => `name: mix
dataset: { type: affectnet, root: ${join(dir, 'none')}, augment: { ${augment} } }
architecture: { type: vgg-type }
training: { epochs: 1, batchSize: 8 }
`;
    writeFiles(dir, {
      'sum.yaml': yaml('mixup: { probability: 0.7 }, cutmix: { probability: 0.6 }'),
      'alpha.yaml': yaml('mixup: { alpha: 0 }'),
      'good.yaml': yaml('mixup: { alpha: 0.2, probability: 0.5 }, cutmix: { probability: 0.5 }'),
    });
    await assert.rejects(
      testRuntime().resolve(join(dir, 'sum.yaml')),
      /dataset\.augment: mixup\.probability 0\.7 \+ cutmix\.probability 0\.6 is more than 1/,
    );
    await assert.rejects(testRuntime().resolve(join(dir, 'alpha.yaml')), /alpha/);
    const resolved = await testRuntime().resolve(join(dir, 'good.yaml'));
    assert.deepEqual(
      (resolved.config.dataset as unknown as { augment: Record<string, unknown> }).augment.cutmix,
      { alpha: 1, probability: 0.5 },
    );
  });
});
