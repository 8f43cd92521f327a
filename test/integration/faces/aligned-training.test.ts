import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import type { DatasetPlugin } from '../../../src/sdk/contracts/data.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';

const work = tempDir('affectlab-aligned-');
const sample1 = join(
  dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')),
  'demo',
  'sample1.jpg',
);

async function alignedRun(execution: 'graph' | 'eager'): Promise<{ runDir: string }> {
  const synth = await smallSyntheticSet();
  await activateBackend();
  const file = join(work, `aligned-${execution}.yaml`);
  writeFileSync(
    file,
    `name: aligned-${execution}
seed: 5
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${synth}
  classes: report6
  imageSize: 48
  crop: aligned
  split: { validationPerClass: 4, limit: { test: 24 } }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training:
  epochs: 1
  batchSize: 8
  stepsPerEpoch: 2
  execution: ${execution}
  optimizer: { type: adam, learningRate: 0.003 }
reporters: [{ type: console, progress: none }]
`,
  );
  const runtime = testRuntime();
  const resolved = await runtime.resolve(file);
  // every synthetic row has landmarks: every example's box carries the eye-line angle
  const scope = runtime.createRunContainer(resolved, join(work, 'cache'));
  const dataset = runtime.instantiate<DatasetPlugin>(scope, 'dataset', resolved.config.dataset);
  const splits = await dataset.prepare();
  const all = [...splits.train, ...splits.validation, ...splits.test];
  assert.ok(all.length > 0 && all.every((e) => Number.isFinite(e.crop?.angle)));
  assert.ok(
    all.some((e) => Math.abs(e.crop?.angle ?? 0) > 0.1),
    'synthetic faces are turned',
  );
  const result = await runExperiment(runtime, resolved, { cacheDir: join(work, 'cache') });
  assert.equal(result.status, 'FINISHED');
  return { runDir: result.runDir };
}

describe('training on aligned faces (dataset.crop: aligned)', () => {
  for (const execution of ['graph', 'eager'] as const)
    it(`trains with the ${execution} engine and records the crop mode`, async () => {
      const { runDir } = await alignedRun(execution);
      assert.match(readFileSync(join(runDir, 'config.yaml'), 'utf8'), /crop: aligned/);
      if (execution === 'eager') {
        // predict prepares detected faces as the run trained: aligned by the detector's landmarks
        const r = affectlab(['predict', '--run', runDir, sample1]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(parseCsv(r.stdout, 'stdout').records.length, 3);
        assert.doesNotMatch(r.stderr, /without landmarks/);
      }
    });
});
