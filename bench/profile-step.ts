/**
 * Where one training step of the VGG-type net goes on the native backend: tf.profile's kernel
 * times grouped by kind, and the JavaScript left over (wall time minus kernel time).
 *
 *   npm run build && node dist/bench/profile-step.js [--size 64] [--batch 64] [--top 15]
 *
 * tfjs-node runs each kernel synchronously, so a kernel's time is its TensorFlow time.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { BackendService } from '../src/core/training/backend.js';
import { crossEntropyLoss } from '../src/plugins/losses/cross-entropy.js';
import type { Task } from '../src/core/plugin/plugin.js';
import {
  VggType,
  vggTypePlugin,
  type VggTypeOptions,
} from '../src/plugins/architectures/vgg-type.js';
import { createRuntime } from '../src/main.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '64' },
    batch: { type: 'string', default: '64' },
    top: { type: 'string', default: '15' },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);

/** Kernel kinds; anything else is elementwise or a reduction. */
const KINDS: [string, RegExp][] = [
  ['convolution (forward and both gradients)', /^(FusedConv2D|Conv2D|Conv2DBackprop\w+)$/],
  ['max pooling (forward and gradient)', /^MaxPool/],
  ['dense (matmul)', /MatMul/],
  ['batch norm kernel (forward)', /^FusedBatchNorm/],
];

interface Row {
  kernel: string;
  count: number;
  ms: number;
}

async function main(): Promise<void> {
  const runtime = createRuntime();
  await runtime.container.resolve(BackendService).activate('tensorflow');
  const classes = ['neutral', 'happy', 'sad', 'surprise', 'fear', 'anger'];
  const task: Task = {
    kind: 'classification',
    classes: classes.map((name, index) => ({ index, code: index, name })),
  };
  // the plugin's schema defaults: the report's Appendix C net
  const options = Object.fromEntries(
    Object.entries(vggTypePlugin.optionsSchema.properties ?? {}).map(([key, schema]) => [
      key,
      (schema as { default?: unknown }).default,
    ]),
  ) as unknown as VggTypeOptions;
  const model = new VggType(options).build({ inputShape: [size, size, 3], task });
  model.compile({
    optimizer: tf.train.adam(0.001, 0.9, 0.999, 1e-7),
    loss: crossEntropyLoss(),
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

await main();
