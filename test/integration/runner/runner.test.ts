import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runExperiment } from '../../../src/core/runner/experiment-run.js';
import { ImagePipeline } from '../../../src/core/pipeline/index.js';
import { engineBatches, type BatchSource } from '../../../src/core/runner/trainer.js';
import type { TrainingEngine } from '../../../src/core/engine/index.js';
import { RunStore } from '../../../src/core/reporting/run-store.js';
import type { Runtime } from '../../../src/core/host/runtime.js';
import { affectlab } from '../../support/cli.js';
import { activateBackend, repoRoot, tempDir, testRuntime } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { tinyExperimentYaml } from '../../support/tiny-experiment.js';

let synth = '';
const work = tempDir();

/** A tiny VGG-type experiment on the synthetic set: 48 px, a few steps per epoch. */
function experimentYaml(name: string, extra = ''): string {
  return tinyExperimentYaml({
    name,
    synth,
    runsRoot: join(work, 'runs'),
    seed: 3,
    validationPerClass: 6,
    testLimit: 48,
    sampler: '{ type: weighted, scheme: class-balanced, beta: 0.999 }',
    architecture: '{ type: vgg-type, filters: [8, 8, 16, 16], dense: [16, 8] }',
    training: `  epochs: 3
  batchSize: 8
  stepsPerEpoch: 3
  optimizer: { type: adam, learningRate: 0.003 }
  checkpoint: { monitor: val_loss }`,
    extra,
  });
}

function writeExperiment(name: string, extra = ''): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, experimentYaml(name, extra));
  return file;
}

/** The experiment with augmentation off (affectnet's default augments). */
function writeUnaugmented(name: string): string {
  const off = '  augment: { flip: false, shift: 0, rotate: 0, brightness: 0, contrast: 0 }\n';
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, experimentYaml(name).replace('  imageSize: 48\n', `  imageSize: 48\n${off}`));
  return file;
}

async function run(
  runtime: Runtime,
  file: string,
  options: Partial<Parameters<typeof runExperiment>[2]> = {},
) {
  const resolved = await runtime.resolve(file);
  return runExperiment(runtime, resolved, { cacheDir: join(work, 'cache'), ...options });
}

describe('the runner on synthetic AffectNet data', () => {
  before(async () => {
    synth = await smallSyntheticSet();
    await activateBackend();
  });

  it('trains, evaluates and writes the whole run directory, with no tensor leak', async () => {
    const runtime = testRuntime();
    const result = await run(runtime, writeExperiment('store'));
    assert.equal(result.status, 'FINISHED');
    const store = new RunStore(result.runDir);
    for (const f of [
      'config.yaml',
      'params.json',
      'run.json',
      'events.jsonl',
      'metrics.jsonl',
      'metrics.json',
      'metrics.md',
      'confusion_matrix.csv',
      'confusion_matrix.png',
      'curves.png',
      'model/model.json',
      'class_map.json',
      'bad_records.json',
      'log.txt',
      'checkpoints/last/state.json',
      'checkpoints/best/model/model.json',
    ]) {
      assert.ok(store.exists(f), `missing ${f}`);
    }
    const epochs = store.readEpochs();
    assert.equal(epochs.length, 3);
    assert.deepEqual(
      epochs.map((e) => e.liveTensors),
      epochs.map(() => epochs[0].liveTensors),
      'live tensors after each epoch',
    );
    for (const e of epochs) {
      for (const k of ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'val_f1_macro'])
        assert.ok(Number.isFinite(e.metrics[k]), `${k} at epoch ${e.epoch}`);
    }
    const final = store.readJson<{ metrics: Record<string, number>; count: number }>(
      'metrics.json',
    );
    assert.ok(final.count > 20 && final.count <= 48, String(final.count));
    for (const k of [
      'test_accuracy',
      'test_f1_macro',
      'test_kappa',
      'test_alpha',
      'test_auc_roc',
      'test_auc_pr',
      'test_norm_accuracy',
      'test_norm_f1_macro',
      'test_recall_happy',
    ]) {
      assert.ok(Number.isFinite(final.metrics[k]), k);
    }
    // the record says which split scored what: val_* (checkpoint selection) on the hold-out
    // of training.csv, the final test_* on validation.csv
    const record = store.readJson<Record<string, unknown>>('metrics.json');
    assert.equal(record.split, 'test');
    assert.equal(record.source, 'validation.csv');
    assert.equal(record.epochMetricsSplit, 'validation');
    assert.deepEqual(record.splitSources, {
      train: 'training.csv: the rest',
      validation: 'training.csv: 6 per class held out',
      test: 'validation.csv',
    });
    const params = store.readJson<Record<string, unknown>>('params.json');
    assert.equal(params['data.validation_source'], 'training.csv: 6 per class held out');
    assert.equal(params['data.test_source'], 'validation.csv');
    assert.equal(params['evaluation.split'], 'test');
    assert.match(
      readFileSync(store.path('metrics.md'), 'utf8'),
      /test split \(validation\.csv, \d+ images scored\)/,
    );
    assert.equal(store.readRecord().status, 'FINISHED');
    const classes = store.readJson<{ code: number; name: string }[]>('class_map.json');
    assert.deepEqual(
      classes.map((c) => c.code),
      [0, 1, 2, 3, 4, 6],
    );
    const csv = readFileSync(store.path('confusion_matrix.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 7);
    const events = store.readEvents().map((e) => e.event);
    assert.equal(events[0], 'runStarted');
    assert.equal(events.at(-1), 'runEnded');
    assert.equal(events.filter((e) => e === 'epochEnded').length, 3);
    const png = readFileSync(store.path('confusion_matrix.png'));
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
  });

  for (const [kind, write] of [
    ['', writeExperiment],
    [' (no augmentation)', writeUnaugmented],
  ] as const) {
    it(`a resumed run equals an uninterrupted one with the same seed${kind}`, async () => {
      const suffix = kind ? '-uint8' : '';
      const whole = await run(testRuntime(), write(`whole${suffix}`));
      // The second run is stopped during its third epoch, as Ctrl-C would, then resumed.
      const file = write(`parted${suffix}`);
      const runsDir = join(work, 'runs', `parted${suffix}`);
      const completedEpochs = (): number => {
        if (!existsSync(runsDir)) return 0;
        const [id] = readdirSync(runsDir);
        return id ? new RunStore(join(runsDir, id)).readEpochs().length : 0;
      };
      const signal = {
        reason: 'test',
        get stop(): boolean {
          return completedEpochs() >= 2;
        },
      };
      const killed = await run(testRuntime(), file, { stopSignal: signal });
      assert.equal(killed.status, 'KILLED');
      const store = new RunStore(killed.runDir);
      assert.equal(store.readRecord().status, 'KILLED');
      assert.equal(store.readRecord().lastCompletedEpoch, 1);
      assert.ok(store.exists('checkpoints/interrupted/model/model.json'));
      const resumed = await run(testRuntime(), store.path('config.yaml'), {
        resume: killed.runDir,
      });
      assert.equal(resumed.status, 'FINISHED');
      assert.equal(resumed.runDir, killed.runDir);
      const a = new RunStore(whole.runDir).readEpochs();
      const b = store.readEpochs();
      assert.deepEqual(
        b.map((e) => e.epoch),
        [0, 1, 2],
      );
      assert.deepEqual(
        b.map((e) => e.metrics),
        a.map((e) => e.metrics),
        'per-epoch metrics',
      );
      assert.deepEqual(resumed.testMetrics, whole.testMetrics, 'final test metrics');
    });
  }

  it('uint8 batches (normalised and augmented in the graph) give the same run as float32 batches, bit for bit', async () => {
    // count the uint8 batch streams, to know which path each run took
    const original = ImagePipeline.prototype.uint8Batches;
    let uint8Streams = 0;
    ImagePipeline.prototype.uint8Batches = function (this: ImagePipeline, ...args) {
      uint8Streams++;
      return original.apply(this, args);
    };
    try {
      // affectnet's default augmentation is on: the step augments either kind of batch
      const floats = await run(testRuntime(), writeExperiment('float-batches'), {
        floatBatches: true,
      });
      assert.equal(uint8Streams, 0, 'floatBatches keeps the float32 path');
      const bytes = await run(testRuntime(), writeExperiment('uint8-batches'));
      // 3 epochs of training and validation, and the test split
      assert.equal(uint8Streams, 7, 'the graph engine is fed uint8 batches');
      assert.equal(floats.status, 'FINISHED');
      assert.equal(bytes.status, 'FINISHED');
      const a = new RunStore(floats.runDir);
      const b = new RunStore(bytes.runDir);
      assert.deepEqual(
        b.readEpochs().map((e) => e.metrics),
        a.readEpochs().map((e) => e.metrics),
        'per-epoch metrics',
      );
      assert.deepEqual(bytes.testMetrics, floats.testMetrics, 'test metrics');
      assert.ok(bytes.testMetrics && Object.keys(bytes.testMetrics).length > 0);
    } finally {
      ImagePipeline.prototype.uint8Batches = original;
    }
  });

  it('uint8 batches for an engine that takes them, augmented or not', () => {
    const calls: string[] = [];
    const source: BatchSource = {
      batches: () => (calls.push('float32'), []) as unknown as AsyncIterable<never>,
      uint8Batches: () => (calls.push('uint8'), []) as unknown as AsyncIterable<never>,
    };
    const engine = (acceptsUint8: boolean) => ({ acceptsUint8 }) as TrainingEngine;
    const flip = { options: { flip: true }, seed: 1 };
    const none = { options: { flip: false, rotate: 0 }, seed: 1 };
    engineBatches(source, engine(true), [], [], 4, undefined, 0);
    engineBatches(source, engine(true), [], [], 4, none, 0);
    engineBatches(source, engine(true), [], [], 4, flip, 0);
    engineBatches(source, engine(false), [], [], 4, undefined, 0);
    engineBatches(source, engine(true), [], [], 4, undefined, 0, true);
    engineBatches({ batches: source.batches }, engine(true), [], [], 4, undefined, 0);
    assert.deepEqual(calls, ['uint8', 'uint8', 'uint8', 'float32', 'float32', 'float32']);
  });

  it('a NaN loss stops the run as FAILED, naming the epoch and step', async () => {
    writeFileSync(
      join(work, 'nan-arch.mjs'),
      `import { tf, PLUGIN_OPTIONS } from '${new URL('../../../src/index.js', import.meta.url).href}';
export class NanNet {
  build({ inputShape, task }) {
    const model = tf.sequential();
    model.add(tf.layers.flatten({ inputShape }));
    model.add(tf.layers.dense({ units: task.classes.length, activation: 'softmax', kernelInitializer: tf.initializers.constant({ value: NaN }) }));
    return model;
  }
}
export default { kind: 'architecture', type: 'nan-net', description: 'always NaN', optionsSchema: { type: 'object', properties: {} }, implementation: NanNet, inject: [] };
void PLUGIN_OPTIONS;
`,
    );
    const file = writeExperiment('nan', 'plugins: [./nan-arch.mjs]\n');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(/architecture: .*/, 'architecture: { type: nan-net }'),
    );
    const runtime = testRuntime();
    await assert.rejects(run(runtime, file), /loss became NaN at epoch 1, step 1/);
    const [id] = readdirSync(join(work, 'runs', 'nan'));
    const store = new RunStore(join(work, 'runs', 'nan', id));
    assert.equal(store.readRecord().status, 'FAILED');
    assert.match(store.readRecord().error ?? '', /NaN/);
    assert.equal(store.readEvents().at(-1)?.event, 'runEnded');
  });

  it('Ctrl-C (SIGINT) finishes the step, writes a checkpoint, marks the run KILLED and exits 130', async () => {
    const file = writeExperiment('sigint');
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace('epochs: 3', 'epochs: 200')
        .replace('stepsPerEpoch: 3', 'stepsPerEpoch: 2')
        .replace('progress: none', 'progress: lines, everySteps: 1'),
    );
    const child = spawn(
      process.execPath,
      [join(repoRoot, 'bin/affectlab.js'), 'run', file, '--cache-dir', join(work, 'cache')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/^epoch 2: /m.test(stderr)) resolve();
      });
      void exited.then(() => resolve());
    });
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    const [id] = readdirSync(join(work, 'runs', 'sigint'));
    const store = new RunStore(join(work, 'runs', 'sigint', id));
    assert.equal(store.readRecord().status, 'KILLED');
    assert.ok(store.exists('checkpoints/interrupted/model/model.json'));
    assert.ok(store.exists('checkpoints/last/state.json'));
    assert.match(stderr, /SIGINT: finishing the current step/);
  });

  it('a sweep runs each combination with a shared group, and compare lines them up', async () => {
    const file = writeExperiment(
      'sweep',
      `sweep:
  mode: zip
  group: test-sweep
  parameters:
    sampler.type: [imbalanced, down-sample]
    training.epochs: [1, 1]
`,
    );
    const r = affectlab(['run', file, '--cache-dir', join(work, 'cache')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sweep test-sweep: 2 runs/);
    const c = affectlab([
      'compare',
      '--runs',
      join(work, 'runs'),
      '--group',
      'test-sweep',
      '--format',
      'json',
    ]);
    assert.equal(c.code, 0, c.stderr);
    const rows = JSON.parse(c.stdout) as {
      metrics: Record<string, number | null>;
      split: string;
      splitSource: string;
    }[];
    assert.equal(rows.length, 2);
    assert.deepEqual(
      rows.map((r) => `${r.split} ${r.splitSource}`),
      ['test validation.csv', 'test validation.csv'],
    );
    assert.doesNotMatch(c.stderr, /different splits/);
    for (const row of rows)
      for (const k of [
        'accuracy',
        'norm_accuracy',
        'f1_macro',
        'kappa',
        'alpha',
        'auc_roc',
        'auc_pr',
      ])
        assert.equal(typeof row.metrics[k], 'number', k);
    const t = affectlab(['compare', '--runs', join(work, 'runs'), '--group', 'test-sweep']);
    assert.match(t.stdout, /accuracy\s+norm_accuracy/);
    const html = join(work, 'compare.html');
    assert.equal(
      affectlab([
        'compare',
        '--runs',
        join(work, 'runs'),
        '--group',
        'test-sweep',
        '--format',
        'html',
        '--out',
        html,
      ]).code,
      0,
    );
    // one confusion matrix per run of the group, each an SVG with report6's class names
    const page = readFileSync(html, 'utf8');
    const figures = page.match(/<figure><svg[\s\S]*?<\/svg><\/figure>/g) ?? [];
    assert.equal(figures.length, 2, 'one confusion-matrix figure per run');
    for (const f of figures)
      for (const name of ['Happy', 'Anger']) assert.ok(f.includes(name), name);
    assert.equal((page.match(/<tr><td>/g) ?? []).length, 2, 'one table row per run');
  });
});
