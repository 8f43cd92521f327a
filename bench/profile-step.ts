/**
 * Where one training step goes on the native backend.
 *
 *   npm run build && node dist/bench/profile-step.js [--engine graph|eager] [--size 64]
 *        [--batch 64] [--architecture vgg-type] [--steps 5] [--top 15]
 *
 * graph (default): the compiled step as a run builds it (bench/step-engine.ts), each session run
 * traced with RunOptions FULL_TRACE; TensorFlow's step stats give every node's op time and
 * thread, summed by op type and by kind (convolution forward / input gradient / filter gradient,
 * pooling, batch norm, matmul, optimizer, the rest). The wall time of untraced steps is printed
 * beside it, and the op time's share of wall x threads says how busy the cores were.
 *
 * eager: the tfjs-layers step (trainOnBatch) under tf.profile: kernel times by kind and the
 * JavaScript left over (wall time minus kernel time). tfjs-node runs each kernel synchronously,
 * so a kernel's time is its TensorFlow time.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  BackendService,
  buildPlugin,
  createRuntime,
  setRunTracer,
  type ArchitecturePlugin,
  type LossPlugin,
  type Task,
} from '../src/index.js';
// the synthetic set's generator is the affectnet plugin's own tool (no plugin kind offers it)
import { ensureSyntheticAffectNet } from '../src/plugins/datasets/affectnet/index.js';
import { buildStepEngine } from './step-engine.js';
import { stepTimings, type NodeTiming } from './step-stats.js';
import { benchExperimentYaml } from './train-common.js';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'graph' },
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '64' },
    architecture: { type: 'string', default: 'vgg-type' },
    steps: { type: 'string', default: '5' },
    top: { type: 'string', default: '15' },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
const steps = Number(values.steps);
const top = Number(values.top);

/** Kernel kinds; anything else is elementwise or a reduction. */
const KINDS: [string, RegExp][] = [
  ['convolution (forward and both gradients)', /^(FusedConv2D|Conv2D|Conv2DBackprop\w+)$/],
  ['max pooling (forward and gradient)', /^MaxPool/],
  ['dense (matmul)', /MatMul/],
  ['batch norm kernel (forward)', /^FusedBatchNorm/],
];

/** Op kinds of the compiled step (TensorFlow op types). */
const GRAPH_KINDS: [string, RegExp][] = [
  ['convolution forward', /^(_FusedConv2D|Conv2D|DepthwiseConv2dNative)$/],
  ['convolution input gradient', /^(Conv2DBackpropInput|DepthwiseConv2dNativeBackpropInput)$/],
  ['convolution filter gradient', /^(Conv2DBackpropFilter|DepthwiseConv2dNativeBackpropFilter)$/],
  ['pooling (forward and gradient)', /Pool/],
  ['batch norm (forward and gradient)', /BatchNorm/],
  ['matmul (dense)', /MatMul/],
  ['optimizer updates', /^(ResourceApply|Apply|Assign|ResourceScatter)/],
  ['variable reads', /^(ReadVariableOp|VarHandleOp|Identity)$/],
];

interface Row {
  kernel: string;
  count: number;
  ms: number;
}

async function profileEager(): Promise<void> {
  const runtime = createRuntime();
  await runtime.container.resolve(BackendService).activate('tensorflow');
  const classes = ['neutral', 'happy', 'sad', 'surprise', 'fear', 'anger'];
  const task: Task = {
    kind: 'classification',
    classes: classes.map((name, index) => ({ index, code: index, name })),
  };
  // the plugin's schema defaults: the report's Appendix C net
  const vgg = buildPlugin<ArchitecturePlugin>(runtime, 'architecture', { type: 'vgg-type' });
  const model = await vgg.build({ inputShape: [size, size, 3], task });
  const crossEntropy = buildPlugin<LossPlugin>(runtime, 'loss', { type: 'cross-entropy' });
  model.compile({
    optimizer: tf.train.adam(0.001, 0.9, 0.999, 1e-7),
    loss: crossEntropy.tfjs(),
    metrics: ['accuracy'],
  });
  const x = tf.randomUniform([batch, size, size, 3]);
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 6, 'int32'), 6).toFloat());
  await model.trainOnBatch(x, y);

  const started = performance.now();
  const info = await tf.profile(async () => {
    await model.trainOnBatch(x, y);
  });
  const wallMs = performance.now() - started;
  const byKernel = new Map<string, Row>();
  for (const k of info.kernels) {
    // customGrad wrappers (`fusedConv2d__op`) record the kernel they wrap a second time
    if (k.name.includes('__op')) continue;
    const ms = await k.kernelTimeMs;
    const key = `${k.name} [${(k.inputShapes[0] ?? []).join(',')}]`;
    const row = byKernel.get(key) ?? { kernel: key, count: 0, ms: 0 };
    row.count++;
    row.ms += typeof ms === 'number' ? ms : 0;
    byKernel.set(key, row);
  }
  const rows = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
  const kernelMs = rows.reduce((s, r) => s + r.ms, 0);
  const kinds = new Map<string, number>();
  for (const r of rows) {
    const name = r.kernel.split(' ')[0];
    const kind = KINDS.find(([, re]) => re.test(name))?.[0] ?? 'elementwise and reductions';
    kinds.set(kind, (kinds.get(kind) ?? 0) + r.ms);
  }
  const pct = (ms: number): string => `${((100 * ms) / wallMs).toFixed(0)}%`;
  const out: string[] = [
    `one training step, VGG-type at ${size} px, batch ${batch}: ${wallMs.toFixed(0)} ms wall, ` +
      `${info.kernels.length} kernels, ${kernelMs.toFixed(0)} ms in kernels`,
    '',
    '| where | ms | share of the step |',
    '|---|---:|---:|',
  ];
  for (const [kind, ms] of [...kinds].sort((a, b) => b[1] - a[1])) {
    out.push(`| ${kind} | ${ms.toFixed(0)} | ${pct(ms)} |`);
  }
  out.push(
    `| JavaScript (tfjs-layers, autodiff, dispatch) | ${(wallMs - kernelMs).toFixed(0)} | ${pct(wallMs - kernelMs)} |`,
  );
  out.push(
    '',
    `top ${values.top} kernels by time:`,
    '',
    '| kernel [first input shape] | calls | ms |',
    '|---|---:|---:|',
  );
  for (const r of rows.slice(0, Number(values.top)))
    out.push(`| ${r.kernel} | ${r.count} | ${r.ms.toFixed(0)} |`);
  process.stdout.write(out.join('\n') + '\n');
  tf.dispose([x, y]);
  model.dispose();
}

async function profileGraph(): Promise<void> {
  const traces: Buffer[] = [];
  let tracing = false;
  setRunTracer((_fetches, metadata) => {
    if (tracing) traces.push(metadata);
  });
  const runtime = createRuntime();
  runtime.logger.level = 'warn';
  await runtime.container.resolve(BackendService).activate('tensorflow');
  const root = join('.cache', 'affectlab', 'bench-synth-320');
  await ensureSyntheticAffectNet({ out: root, count: 1000, size: 320, seed: 1 });
  const work = mkdtempSync(join(tmpdir(), 'affectlab-profile-'));
  try {
    const file = join(work, 'profile.yaml');
    writeFileSync(
      file,
      benchExperimentYaml({
        name: 'profile',
        root,
        size,
        batch,
        stepsPerEpoch: 1,
        epochs: 1,
        runsRoot: join(work, 'runs'),
        gate: false,
        execution: 'graph',
        architecture: values.architecture,
      }),
    );
    const { engine, x, labels, shape } = await buildStepEngine(runtime, file, work, 'graph');
    const step = (i: number) => engine.trainStep({ x, shape }, { classes: labels }, i);
    for (let i = 0; i < 2; i++) await step(i);
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await step(i);
    const wallMs = (performance.now() - t0) / steps;
    tracing = true;
    const t1 = performance.now();
    for (let i = 0; i < steps; i++) await step(i);
    const tracedMs = (performance.now() - t1) / steps;
    tracing = false;
    report(
      traces.flatMap((t) => stepTimings(t)),
      wallMs,
      tracedMs,
      traces.length,
    );
    engine.dispose();
  } finally {
    setRunTracer(undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

function report(nodes: NodeTiming[], wallMs: number, tracedMs: number, runs: number): void {
  const perStep = (us: number): number => us / 1000 / runs;
  const byOp = new Map<string, { count: number; us: number }>();
  for (const n of nodes) {
    const row = byOp.get(n.op) ?? { count: 0, us: 0 };
    row.count++;
    row.us += n.opMicros;
    byOp.set(n.op, row);
  }
  const opUs = nodes.reduce((sum, n) => sum + n.opMicros, 0);
  const threads = new Set(nodes.map((n) => n.threadId)).size;
  const kinds = new Map<string, number>();
  for (const [op, row] of byOp) {
    const kind = GRAPH_KINDS.find(([, re]) => re.test(op))?.[0] ?? 'elementwise, reductions, other';
    kinds.set(kind, (kinds.get(kind) ?? 0) + row.us);
  }
  const share = (us: number): string => `${((100 * us) / opUs).toFixed(1)} %`;
  const cores = availableParallelism();
  const out = [
    `compiled step, ${values.architecture} at ${size} px, batch ${batch}, ${runs} traced steps; load ${loadavg()[0].toFixed(2)}`,
    `wall per step: ${wallMs.toFixed(1)} ms untraced (${((1000 * batch) / wallMs).toFixed(1)} img/s), ${tracedMs.toFixed(1)} ms traced`,
    `op time per step: ${perStep(opUs).toFixed(1)} ms on ${threads} threads; op time / (untraced wall x ${cores} cores) = ${((100 * perStep(opUs)) / (wallMs * cores)).toFixed(0)} %`,
    '',
    '| kind | ms per step | share of op time |',
    '|---|---:|---:|',
    ...[...kinds]
      .sort((a, b) => b[1] - a[1])
      .map(([kind, us]) => `| ${kind} | ${perStep(us).toFixed(1)} | ${share(us)} |`),
    '',
    `top ${top} op types:`,
    '',
    '| op | nodes per step | ms per step | share |',
    '|---|---:|---:|---:|',
    ...[...byOp]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(
        ([op, r]) =>
          `| ${op} | ${(r.count / runs).toFixed(0)} | ${perStep(r.us).toFixed(1)} | ${share(r.us)} |`,
      ),
  ];
  const byNode = new Map<string, { op: string; us: number }>();
  for (const n of nodes) {
    const row = byNode.get(n.node) ?? { op: n.op, us: 0 };
    row.us += n.opMicros;
    byNode.set(n.node, row);
  }
  out.push('', `top ${top} nodes:`, '', '| node | op | ms per step |', '|---|---|---:|');
  for (const [node, r] of [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top))
    out.push(`| ${node} | ${r.op} | ${perStep(r.us).toFixed(2)} |`);
  process.stdout.write(out.join('\n') + '\n');
}

async function main(): Promise<void> {
  if (values.engine === 'graph') return profileGraph();
  if (values.engine !== 'eager')
    throw new Error(`--engine: graph or eager, not '${values.engine}'`);
  return profileEager();
}

await main();
