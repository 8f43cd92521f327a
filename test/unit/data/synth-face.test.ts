import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Random } from '../../../src/sdk/services.js';
import { pearsonCorrelation as pearson } from '../../../src/core/metrics/index.js';
import { sampleExpression } from '../../../src/plugins/datasets/affectnet/synth-face.js';

function faces(code: number, n: number): ReturnType<typeof sampleExpression>[] {
  const rng = Random.fork(5, 'synth-face-test', code);
  return Array.from({ length: n }, () => sampleExpression(code, rng));
}

test('the affect a synthetic face carries is readable from the face it draws', () => {
  // within one class, valence follows the drawn smile and arousal the drawn eye opening:
  // what a regression model has to learn is in the picture, not only in the category
  const happy = faces(1, 400);
  const smile = pearson(
    happy.map((f) => f.params.mouthCurve),
    happy.map((f) => f.valence),
  );
  assert.ok(smile !== null && smile > 0.7, `Happy: corr(mouthCurve, valence) = ${smile}`);
  const surprise = faces(3, 400);
  const eyes = pearson(
    surprise.map((f) => f.params.eyeOpen),
    surprise.map((f) => f.arousal),
  );
  assert.ok(eyes !== null && eyes > 0.5, `Surprise: corr(eyeOpen, arousal) = ${eyes}`);
  // and the classes sit where the circumplex puts them
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(happy.map((f) => f.valence)) > 0.5);
  assert.ok(mean(faces(2, 200).map((f) => f.valence)) < -0.45, 'Sad');
  assert.ok(mean(surprise.map((f) => f.arousal)) > 0.5);
  assert.ok(Math.abs(mean(faces(0, 200).map((f) => f.valence))) < 0.05, 'Neutral');
  for (const code of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    for (const f of faces(code, 50)) {
      assert.ok(f.valence >= -1 && f.valence <= 1 && f.arousal >= -1 && f.arousal <= 1);
    }
});
