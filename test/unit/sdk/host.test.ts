import 'reflect-metadata';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { inject, injectable } from 'tsyringe';
import {
  ImagePipeline,
  Options,
  PLUGIN_OPTIONS,
  Random,
  RunContext,
  Type,
  activateBackend,
  buildPlugin,
  createPluginRuntime,
  createRuntime,
  datasetPipeline,
  definePlugin,
  openDataset,
  tf,
  type Example,
  type ImageSpec,
  type Static,
} from '../../../src/index.js';
import { smallSyntheticSet } from '../../support/synth.js';

const probeOptions = Options({ width: Type.Integer({ minimum: 1, default: 3 }) });

@injectable()
class Probe {
  constructor(
    @inject(PLUGIN_OPTIONS) readonly options: Static<typeof probeOptions>,
    @inject(RunContext) readonly context: RunContext,
    @inject(Random) readonly random: Random,
  ) {}
}

const probePlugin = definePlugin({
  kind: 'architecture',
  type: 'probe',
  description: 'test only: records what it was built with',
  options: probeOptions,
  implementation: Probe,
});

/** Every image of `list` through `pipeline` in order, concatenated. */
async function pixels(pipeline: ImagePipeline, list: readonly Example[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const order = list.map((_, i) => i);
  for await (const batch of pipeline.uint8Batches(list, order, 8)) out.push(batch.x.slice());
  await pipeline.close();
  return out;
}

describe('running from code (sdk/host)', () => {
  it('buildPlugin builds a plugin outside a run: options defaulted, the scope given, its seed', () => {
    const runtime = createPluginRuntime([probePlugin]);
    const probe = buildPlugin<Probe>(
      runtime,
      'architecture',
      { type: 'probe' },
      { name: 'notebook', seed: 7, cacheDir: 'some-cache' },
    );
    assert.equal(probe.options.width, 3);
    assert.equal(probe.context.experiment, 'notebook');
    assert.equal(probe.context.seed, 7);
    assert.equal(probe.context.cacheDir, resolve('some-cache'));
    assert.equal(probe.context.baseDir, process.cwd());
    assert.equal(probe.random.nextUint32(), new Random(7).nextUint32());
    // a runtime of the given plugins only; createRuntime has the built-ins
    assert.deepEqual(runtime.registry.types('dataset'), []);
    assert.ok(createRuntime().registry.has('dataset', 'affectnet'));
  });

  it('openDataset prepares a dataset by ref; datasetPipeline feeds its splits as a run does', async () => {
    const root = await smallSyntheticSet({ count: 40, size: 48, seed: 5, validationCount: 12 });
    const runtime = createRuntime();
    runtime.logger.level = 'warn';
    const dataset = openDataset(runtime, {
      type: 'affectnet',
      root,
      classes: 'report6',
      imageSize: 32,
      split: { policy: 'report-table3', validationPerClass: 1 },
    });
    const splits = await dataset.prepare();
    assert.ok(splits.train.length > 10, `${splits.train.length} training images`);
    assert.deepEqual(splits.image, { height: 32, width: 32, channels: 3 });
    const fed = await pixels(datasetPipeline(dataset, splits, { workers: 0 }), splits.train);
    assert.equal(
      fed.reduce((n, x) => n + x.length, 0),
      splits.train.length * 32 * 32 * 3,
    );
    // the dataset's margin (not ImagePipeline's caller's choice) crops the faces
    const image: ImageSpec = splits.image;
    const same = await pixels(
      new ImagePipeline({ image, margin: dataset.pipeline.margin, workers: 0 }),
      splits.train,
    );
    const other = await pixels(
      new ImagePipeline({ image, margin: dataset.pipeline.margin + 0.2, workers: 0 }),
      splits.train,
    );
    assert.deepEqual(fed, same);
    assert.notDeepEqual(fed, other);
  });

  it('activateBackend activates the backend asked for on the runtime', async () => {
    const active = await activateBackend(createRuntime(), 'cpu');
    assert.equal(active.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  });
});
