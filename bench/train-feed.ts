/**
 * The data side of the training loop from a warm image cache: whole epochs of `trainEpoch` on the
 * graph engine with a model so small (global average pooling + one dense layer) that the step is
 * mostly feeding, fed uint8 batches (the engine's in-graph /255) or float32 batches (the
 * pipeline's /255 in JavaScript, `floatBatches`), alternating in every repetition so machine
 * load hits both alike, and uint8 batches with the affectnet dataset's default augmentation, which
 * the step applies itself (a second engine compiled with it). Also the step alone on one batch
 * held in memory, for each of the three.
 *
 * Input: a synthetic AffectNet-format set of `--count` 512 px JPEGs under `--data` (made on first
 * use).
 *
 *   node dist/bench/train-feed.js [--data DIR] [--count 1000] [--size 256] [--batch 64] [--reps 3]
 */
import 'reflect-metadata';
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  ImagePipeline,
  activateBackend,
  batchAugmentParams,
  buildTrainingPlugins,
  createRuntime,
  loadGraphModule,
  openDataset,
  pluginScope,
  toUnitFloat,
  trainEpoch,
  type AugmentOptions,
  type Example,
  type ImageSpec,
  type Task,
  type TrainingConfig,
} from '../src/index.js';
// the synthetic set's generator is the affectnet plugin's own tool (no plugin kind offers it)
import { ensureSyntheticAffectNet } from '../src/plugins/datasets/affectnet/index.js';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join('.cache', 'affectlab', 'bench-train-feed') },
    count: { type: 'string', default: '1000' },
    size: { type: 'string', default: '256' },
    batch: { type: 'string', default: '64' },
    reps: { type: 'string', default: '3' },
  },
});
const size = Number(values.size);
const batchSize = Number(values.batch);
const reps = Number(values.reps);
const image: ImageSpec = { height: size, width: size, channels: 3 };

const runtime = createRuntime();
runtime.logger.level = 'warn';

async function examples(root: string): Promise<{ list: Example[]; augment: AugmentOptions }> {
  const dataset = openDataset(
    runtime,
    {
      type: 'affectnet',
      root,
      classes: 'affectnet11',
      split: { policy: 'official', validationPerClass: 1 },
    },
    { name: 'bench', seed: 1, cacheDir: tmpdir() },
  );
  const augment = dataset.pipeline.augment;
  if (!augment) throw new Error('the affectnet dataset has no default augmentation');
  return { list: (await dataset.prepare()).train, augment };
}

const FEEDS = ['uint8', 'uint8 + augmentation', 'float32'] as const;
type Feed = (typeof FEEDS)[number];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  await activateBackend(runtime);
  const graph = await loadGraphModule();
  if (graph instanceof Error) throw graph;
  const root = join(values.data, `synth-${values.count}-512`);
  await ensureSyntheticAffectNet({
    out: root,
    count: Number(values.count),
    validationCount: 0,
    size: 512,
    seed: 1,
  });
  const { list, augment } = await examples(root);
  const classes = Array.from({ length: 11 }, (_, i) => ({ index: i, code: i, name: `c${i}` }));
  const task: Task = { kind: 'classification', classes };
  const input = tf.input({ shape: [size, size, 3] });
  const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 11, activation: 'softmax' }).apply(pooled);
  const model = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
  // SGD at 0.01; the default losses (cross-entropy, mse)
  const training = {
    batchSize,
    epochs: 1,
    backend: 'tensorflow',
    execution: 'graph',
    optimizer: { type: 'sgd', learningRate: 0.01 },
  } satisfies TrainingConfig;
  const { optimizer, classification, regression } = buildTrainingPlugins(
    runtime,
    pluginScope(runtime),
    training,
  );
  const options = {
    model,
    task,
    loss: { classification, regression, expressionWeight: 1, regressionWeight: 1 },
    optimizer,
    seed: 1,
  };
  const engine = await graph.createGraphEngine(options);
  const augmenting = await graph.createGraphEngine({ ...options, augment });
  const cacheDir = join(tmpdir(), `affectlab-train-feed-${process.pid}`);
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(cacheDir, { recursive: true });
  const pipeline = new ImagePipeline({ image, margin: 0.1, cacheDir, workers: 2 });
  const order = list.map((_, i) => i);
  for await (const b of pipeline.uint8Batches(list, order, batchSize)) void b;
  const epoch = async (kind: Feed, e: number): Promise<number> => {
    const floatBatches = kind === 'float32';
    const r = await trainEpoch({
      engine: kind === 'uint8 + augmentation' ? augmenting : engine,
      ...(kind === 'uint8 + augmentation' ? { augment } : {}),
      task,
      examples: list,
      order,
      source: pipeline,
      training,
      epoch: e,
      seed: 1,
      shouldStop: () => false,
      floatBatches,
    });
    return r.images / r.seconds;
  };
  const rates: Record<Feed, number[]> = { uint8: [], 'uint8 + augmentation': [], float32: [] };
  const loads: number[] = [loadavg()[0]];
  for (let rep = 0; rep < reps; rep++) {
    for (const [k, kind] of FEEDS.entries()) rates[kind].push(await epoch(kind, 3 * rep + k));
    loads.push(loadavg()[0]);
  }

  // the step alone, on one batch in memory
  const pixels = new Uint8Array(batchSize * size * size * 3);
  for await (const b of pipeline.uint8Batches(list, order, batchSize)) {
    pixels.set(b.x);
    break;
  }
  const unit = toUnitFloat(pixels);
  const shape: [number, number, number, number] = [batchSize, size, size, 3];
  const targets = { classes: Int32Array.from({ length: batchSize }, (_, i) => i % 11) };
  const stepMs: Record<Feed, number[]> = { uint8: [], 'uint8 + augmentation': [], float32: [] };
  const positions = Array.from({ length: batchSize }, (_, i) => i);
  for (let rep = 0; rep < 5 * reps; rep++) {
    for (const name of FEEDS) {
      const started = performance.now();
      if (name === 'uint8 + augmentation') {
        // the parameter draws are part of the step's cost here, as in the pipeline
        const params = batchAugmentParams(augment, rep, positions, size, size);
        await augmenting.trainStep({ x: pixels, shape, augment: params }, targets, rep);
      } else await engine.trainStep({ x: name === 'uint8' ? pixels : unit, shape }, targets, rep);
      stepMs[name].push(performance.now() - started);
    }
  }
  loads.push(loadavg()[0]);
  await pipeline.close();
  engine.dispose();
  augmenting.dispose();
  rmSync(cacheDir, { recursive: true, force: true });

  let text = `\ntraining loop from the warm cache: ${list.length} images at ${size} px, batch ${batchSize}, graph engine, GAP + dense model, ${reps} repetitions alternating, load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}\n\n`;
  text += `augmentation (affectnet default): ${JSON.stringify(augment)}\n\n`;
  text +=
    '| batches | epoch, min / **median** / max images/s | one step on a batch in memory, median ms |\n|---|---:|---:|\n';
  for (const name of FEEDS) {
    const r = rates[name];
    text += `| ${name} | ${Math.min(...r).toFixed(0)} / **${median(r).toFixed(0)}** / ${Math.max(...r).toFixed(0)} | ${median(stepMs[name]).toFixed(1)} |\n`;
  }
  process.stdout.write(text);
}

await main();
