#!/usr/bin/env node
// Training throughput of the report's VGG-type model on the native TensorFlow backend
// (@tensorflow/tfjs-node, 'tensorflow') versus the pure-JS backend ('cpu').
//
//   node bench/backend.mjs [--sizes 64,128] [--steps 8] [--batch 32] [--channels 3]
//                          [--cpu-sizes 64] [--cpu-steps 1] [--cpu-batch 4]
//
// Random data, 1 warm-up step then a fixed number of timed trainOnBatch steps per
// (backend, size). Prints a table and writes bench/results/backend.json.
// The pure-JS backend is two to three orders of magnitude slower (one batch-32 step at 64 px takes
// many minutes on 2 cores: its conv2d filter gradient is a naive loop, ~60 s per image for the
// second conv), so by default it runs 1 step of batch 1 at 64 px only; its images/s does not depend
// on the batch size (it is single-threaded, work scales with the batch). Use --cpu-batch 32 for a
// like-for-like batch if you have the time (~1 h).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}
const list = (s) => String(s).split(',').filter(Boolean).map(Number);
const SIZES = list(opt('sizes', '64,128'));
const CPU_SIZES = list(opt('cpu-sizes', '64'));
const STEPS = Number(opt('steps', '8'));
const CPU_STEPS = Number(opt('cpu-steps', '1'));
const BATCH = Number(opt('batch', '32'));
const CPU_BATCH = Number(opt('cpu-batch', '1'));
const CHANNELS = Number(opt('channels', '3'));
const CLASSES = 6;

process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

let nativeError = null;
let tfjsNodeVersion = null;
try {
  const node = await import('@tensorflow/tfjs-node');
  tfjsNodeVersion = (node.default ?? node).version?.['tfjs-node'] ?? null;
} catch (err) {
  nativeError = err.message.split('\n')[0];
}

/** The report's VGG-type model. */
function buildModel(size) {
  const L = tf.layers;
  const m = tf.sequential();
  m.add(
    L.conv2d({ inputShape: [size, size, CHANNELS], filters: 64, kernelSize: 3, padding: 'valid' }),
  );
  m.add(L.reLU());
  m.add(L.batchNormalization());
  m.add(L.maxPooling2d({ poolSize: 2 }));

  m.add(L.conv2d({ filters: 128, kernelSize: 3, padding: 'valid' }));
  m.add(L.dropout({ rate: 0.3 }));
  m.add(L.reLU());
  m.add(L.batchNormalization());
  m.add(L.maxPooling2d({ poolSize: 2 }));

  for (let i = 0; i < 2; i++) {
    m.add(L.conv2d({ filters: 256, kernelSize: 3, padding: 'valid' }));
    m.add(L.reLU());
    m.add(L.batchNormalization());
    m.add(L.maxPooling2d({ poolSize: 2 }));
  }

  m.add(L.flatten());
  m.add(L.dense({ units: 128 }));
  m.add(L.reLU());
  m.add(L.batchNormalization());
  m.add(L.dropout({ rate: 0.25 }));
  m.add(L.dense({ units: 64 }));
  m.add(L.reLU());
  m.add(L.batchNormalization());
  m.add(L.dense({ units: CLASSES, activation: 'softmax' }));
  m.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
  return m;
}

async function benchOne(backend, size, steps, batch) {
  if (!(await tf.setBackend(backend))) throw new Error(`cannot set backend ${backend}`);
  await tf.ready();
  const model = buildModel(size);
  const x = tf.randomUniform([batch, size, size, CHANNELS]);
  const y = tf.oneHot(tf.randomUniform([batch], 0, CLASSES, 'int32'), CLASSES).toFloat();
  const t0 = performance.now();
  const warmLoss = await model.trainOnBatch(x, y);
  const warmupSeconds = (performance.now() - t0) / 1000;
  const losses = [];
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) losses.push(await model.trainOnBatch(x, y));
  const seconds = (performance.now() - t1) / 1000;
  const result = {
    backend,
    size,
    batch: batch,
    channels: CHANNELS,
    params: model.countParams(),
    steps,
    warmupSeconds: round(warmupSeconds, 3),
    seconds: round(seconds, 3),
    msPerStep: round((seconds * 1000) / steps, 1),
    imagesPerSec: sig((batch * steps) / seconds),
    loss: { warmup: round(Number(warmLoss), 4), last: round(Number(losses.at(-1)), 4) },
  };
  if (!losses.every((l) => Number.isFinite(Number(l)))) result.error = 'non-finite loss';
  tf.dispose([x, y]);
  model.dispose();
  return result;
}

/** 4 significant digits (the pure-JS backend runs at ~0.01 images/s). */
function sig(v) {
  return Number(v.toPrecision(4));
}

function round(v, d) {
  const f = 10 ** d;
  return Math.round(v * f) / f;
}

const results = [];
const plan = [];
if (nativeError === null && tf.findBackendFactory('tensorflow')) {
  for (const s of SIZES) plan.push(['tensorflow', s, STEPS, BATCH]);
} else {
  console.log(
    `native backend unavailable: ${nativeError ?? "'tensorflow' backend not registered"}`,
  );
}
for (const s of CPU_SIZES) plan.push(['cpu', s, CPU_STEPS, CPU_BATCH]);

for (const [backend, size, steps, batch] of plan) {
  process.stdout.write(
    `${backend.padEnd(10)} ${size}px: 1 warm-up + ${steps} steps of ${batch} ... `,
  );
  try {
    const r = await benchOne(backend, size, steps, batch);
    results.push(r);
    console.log(
      `${r.imagesPerSec} img/s (${r.msPerStep} ms/step, warm-up ${r.warmupSeconds}s, loss ${r.loss.warmup} -> ${r.loss.last})`,
    );
  } catch (err) {
    results.push({ backend, size, batch, steps, error: err.message });
    console.log(`failed: ${err.message}`);
  }
}

const ratios = {};
for (const s of new Set([...SIZES, ...CPU_SIZES])) {
  const n = results.find((r) => r.backend === 'tensorflow' && r.size === s && !r.error);
  const c = results.find((r) => r.backend === 'cpu' && r.size === s && !r.error);
  ratios[s] = n && c ? Math.round((n.imagesPerSec / c.imagesPerSec) * 10) / 10 : null;
}

let libtensorflow = null;
try {
  if (nativeError === null) {
    await tf.setBackend('tensorflow');
    libtensorflow = tf.backend().binding?.TF_Version ?? null;
  }
} catch {
  /* ignore */
}

console.log('\nbackend      size  batch  steps  ms/step    images/s');
for (const r of results) {
  if (r.error) {
    console.log(`${r.backend.padEnd(12)} ${String(r.size).padStart(4)}  error: ${r.error}`);
    continue;
  }
  console.log(
    `${r.backend.padEnd(12)} ${String(r.size).padStart(4)}  ${String(r.batch).padStart(5)}  ` +
      `${String(r.steps).padStart(5)}  ${String(r.msPerStep).padStart(7)}  ${String(r.imagesPerSec).padStart(10)}`,
  );
}
for (const [s, v] of Object.entries(ratios)) {
  console.log(
    `native / pure-JS images/s at ${s}px: ${v === null ? 'n/a (not measured on both)' : `${v}x`}`,
  );
}

const out = {
  date: new Date().toISOString(),
  node: process.version,
  tfjs: tf.version.tfjs,
  tfjsNode: tfjsNodeVersion,
  libtensorflow,
  nativeError,
  cpu: { model: os.cpus()[0]?.model ?? null, cores: os.cpus().length },
  options: {
    sizes: SIZES,
    cpuSizes: CPU_SIZES,
    steps: STEPS,
    cpuSteps: CPU_STEPS,
    batch: BATCH,
    cpuBatch: CPU_BATCH,
    channels: CHANNELS,
  },
  results,
  ratioNativeOverCpu: ratios,
};
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'backend.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`\nwrote ${path.relative(process.cwd(), path.join(dir, 'backend.json'))}`);
