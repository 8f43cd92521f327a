import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { kerasPython } from '../../../src/plugins/exporters/python.js';
import { crossEntropyLoss } from '../../../src/plugins/losses/cross-entropy.js';
import { AdamWOptimizer } from '../../../src/plugins/optimizers/adamw.js';
import { activateBackend, tempDir } from '../../support/helpers.js';

/**
 * The recipe parts against Python Keras itself (.venv-keras, or AFFECTLAB_KERAS_PYTHON):
 * AdamW's decoupled weight decay and label-smoothed cross-entropy, step by step to 1e-5.
 */

const skipPython = process.env.AFFECTLAB_SKIP_KERAS === '1' ? 'AFFECTLAB_SKIP_KERAS=1' : false;

const KERAS_SCRIPT = `
import json, sys
import numpy as np
import keras
job = json.load(open(sys.argv[1]))
out = {}
# label smoothing alone: the loss of fixed probabilities
loss = keras.losses.CategoricalCrossentropy(label_smoothing=job["smoothing"])
out["loss"] = float(loss(np.array(job["y"], "float32"), np.array(job["p"], "float32")))
# AdamW + smoothed cross-entropy: a few train_on_batch steps from the same weights
model = keras.Sequential([
    keras.Input((job["inputs"],)),
    keras.layers.Dense(job["hidden"], activation="tanh"),
    keras.layers.Dense(job["classes"], activation="softmax"),
])
model.set_weights([np.array(w, "float32").reshape(s) for w, s in zip(job["weights"], job["shapes"])])
o = job["adamw"]
model.compile(
    optimizer=keras.optimizers.AdamW(learning_rate=o["lr"], weight_decay=o["wd"], beta_1=o["b1"],
                                     beta_2=o["b2"], epsilon=o["eps"]),
    loss=keras.losses.CategoricalCrossentropy(label_smoothing=job["smoothing"]),
)
x = np.array(job["x"], "float32")
y = np.array(job["y_train"], "float32")
out["losses"] = [float(model.train_on_batch(x, y)) for _ in range(job["steps"])]
out["weights"] = [w.flatten().tolist() for w in model.get_weights()]
json.dump(out, open(sys.argv[2], "w"))
`;

function runKeras(job: Record<string, unknown>): {
  loss: number;
  losses: number[];
  weights: number[][];
} {
  const python = kerasPython();
  if (!python)
    throw new Error(
      'no .venv-keras: run bash scripts/setup-keras.sh, or set AFFECTLAB_KERAS_PYTHON',
    );
  const dir = tempDir();
  const [script, input, output] = ['reference.py', 'job.json', 'out.json'].map((f) => join(dir, f));
  writeFileSync(script, KERAS_SCRIPT);
  writeFileSync(input, JSON.stringify(job));
  const run = spawnSync(python, [script, input, output], {
    encoding: 'utf8',
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', KERAS_BACKEND: 'tensorflow' },
    timeout: 300_000,
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(readFileSync(output, 'utf8')) as {
    loss: number;
    losses: number[];
    weights: number[][];
  };
}

/** Deterministic values in [-1, 1) (a small LCG), so both sides start from the same numbers. */
function values(n: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  });
}

interface AdamWSettings {
  lr: number;
  wd: number;
  b1: number;
  b2: number;
  eps: number;
}

/** `steps` trainOnBatch steps of `model` from `initial` with AdamW and smoothed cross-entropy. */
async function trainTfjs(
  model: tf.LayersModel,
  initial: number[][],
  shapes: number[][],
  x: number[],
  yTrain: number[],
  o: AdamWSettings,
  smoothing: number,
  steps: number,
): Promise<{ losses: number[]; weights: Float32Array[] }> {
  model.setWeights(initial.map((w, i) => tf.tensor(w, shapes[i])));
  model.compile({
    optimizer: new AdamWOptimizer(o.lr, o.b1, o.b2, o.eps, o.wd),
    loss: crossEntropyLoss(undefined, smoothing),
  });
  const classes = shapes[shapes.length - 1][0];
  const xs = tf.tensor2d(x, [yTrain.length / classes, x.length / (yTrain.length / classes)]);
  const ys = tf.tensor2d(yTrain, [yTrain.length / classes, classes]);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push((await model.trainOnBatch(xs, ys)) as number);
  tf.dispose([xs, ys]);
  return { losses, weights: model.getWeights().map((w) => w.dataSync() as Float32Array) };
}

function largestDifference(a: Float32Array[], b: number[][]): number {
  let worst = 0;
  a.forEach((w, i) => w.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[i][k])))));
  return worst;
}

describe('recipe parts against Keras', () => {
  before(async () => {
    await activateBackend();
  });

  it(
    "AdamW and label smoothing match Keras' AdamW and CategoricalCrossentropy(label_smoothing) to 1e-5",
    { skip: skipPython },
    async () => {
      const [inputs, hidden, classes, batch, steps] = [5, 6, 4, 8, 6];
      const smoothing = 0.1;
      const adamw = { lr: 0.01, wd: 0.1, b1: 0.9, b2: 0.999, eps: 1e-7 };
      const model = tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [inputs], units: hidden, activation: 'tanh' }),
          tf.layers.dense({ units: classes, activation: 'softmax' }),
        ],
      });
      const shapes = model.getWeights().map((w) => w.shape);
      const initial = shapes.map((shape, i) =>
        values(
          shape.reduce((a, b) => a * b, 1),
          i + 1,
        ).map((v) => v * 0.7),
      );
      model.setWeights(initial.map((w, i) => tf.tensor(w, shapes[i])));
      const x = values(batch * inputs, 42);
      const labels = Array.from({ length: batch }, (_, i) => (i * 3) % classes);
      const yTrain = labels.flatMap((l) => Array.from({ length: classes }, (_, c) => +(c === l)));
      // the loss alone on fixed probabilities, one of them 0 (clipped)
      const p = [
        [0.7, 0.1, 0.2, 0],
        [0.25, 0.25, 0.25, 0.25],
      ];
      const y = [
        [1, 0, 0, 0],
        [0, 0, 0, 1],
      ];
      const keras = runKeras({
        smoothing,
        p,
        y,
        inputs,
        hidden,
        classes,
        weights: initial,
        shapes,
        adamw,
        x: Array.from({ length: batch }, (_, i) => x.slice(i * inputs, (i + 1) * inputs)),
        y_train: Array.from({ length: batch }, (_, i) =>
          yTrain.slice(i * classes, (i + 1) * classes),
        ),
        steps,
      });

      const loss = crossEntropyLoss(undefined, smoothing)(tf.tensor(y), tf.tensor(p));
      assert.ok(
        Math.abs(loss.dataSync()[0] - keras.loss) < 1e-5,
        `${loss.dataSync()[0]} vs ${keras.loss}`,
      );
      // and smoothing changes it (the test would notice a smoothing that does nothing)
      const plain = crossEntropyLoss()(tf.tensor(y), tf.tensor(p)).dataSync()[0];
      assert.ok(Math.abs(plain - keras.loss) > 1e-2);

      const trained = await trainTfjs(model, initial, shapes, x, yTrain, adamw, smoothing, steps);
      trained.losses.forEach((l, step) =>
        assert.ok(
          Math.abs(l - keras.losses[step]) < 1e-5,
          `step ${step}: ${l} vs ${keras.losses[step]}`,
        ),
      );
      const worst = largestDifference(trained.weights, keras.weights);
      assert.ok(worst < 1e-5, `weights differ from Keras' by ${worst}`);
      // the decay matters at this tolerance: Adam without it ends far from Keras' AdamW
      const adam = await trainTfjs(
        model,
        initial,
        shapes,
        x,
        yTrain,
        { ...adamw, wd: 0 },
        smoothing,
        steps,
      );
      assert.ok(largestDifference(adam.weights, keras.weights) > 1e-4);
    },
  );
});
