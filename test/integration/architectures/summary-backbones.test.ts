import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ModelSummary } from '../../../src/plugins/architectures/summary.js';
import { affectlabAsync } from '../../support/cli.js';
import { tempDir, writeFiles } from '../../support/helpers.js';

const fixture = new URL('./fixtures/shape-dataset.js', import.meta.url).pathname;

function experiment(dir: string, name: string, dataset: string, architecture: string): string {
  writeFiles(dir, {
    [`${name}.yaml`]: [
      `name: ${name}`,
      `plugins: [${JSON.stringify(fixture)}]`,
      `dataset: ${dataset}`,
      `architecture: ${architecture}`,
      'training: { backend: auto }',
      '',
    ].join('\n'),
  });
  return join(dir, `${name}.yaml`);
}

/**
 * `affectlab summary` of the Keras Applications backbones prints Keras' own parameter counts:
 * `MobileNetV2(include_top=False)` 2,257,984 (2,223,872 trainable) and with its top 3,538,984;
 * `EfficientNetB0(include_top=False)` 4,049,571 (4,007,548 trainable) and with its top 5,330,571
 * (backbones-keras.test.ts checks the same figures against Keras itself).
 */
describe('affectlab summary of mobilenet-v2 and efficientnet-b0', () => {
  it("prints Keras' parameter counts, with and without the ImageNet top, and the task head's", async () => {
    const dir = tempDir();
    const mobile = experiment(
      dir,
      'mobile',
      '{ type: shape-only, imageSize: 224, classes: 7 }',
      '{ type: mobilenet-v2 }',
    );
    const efficient = experiment(
      dir,
      'efficient',
      '{ type: shape-only, imageSize: 224, classes: 8 }',
      '{ type: efficientnet-b0 }',
    );
    const runs: [string, string[]][] = [
      [mobile, ['--set', 'architecture.top=none']],
      [mobile, ['--set', 'architecture.top=imagenet']],
      [mobile, []],
      [efficient, ['--set', 'architecture.top=none']],
      [efficient, ['--set', 'architecture.top=imagenet']],
      [efficient, []],
    ];
    const results = [];
    // two at a time: the machine has two cores
    for (let i = 0; i < runs.length; i += 2)
      results.push(
        ...(await Promise.all(
          runs
            .slice(i, i + 2)
            .map(([file, set]) =>
              affectlabAsync(['summary', file, '--allow-plugins', '--json', ...set]),
            ),
        )),
      );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const [mobileNoTop, mobileTop, mobileTask, efficientNoTop, efficientTop, efficientTask] =
      results.map((r) => JSON.parse(r.stdout) as ModelSummary);

    assert.equal(mobileNoTop.totalParams, 2_257_984);
    assert.equal(mobileNoTop.trainableParams, 2_223_872);
    // Keras' 154 layers and the parameter-free preprocess_input (x * 2 - 1)
    assert.equal(mobileNoTop.layers.length, 155);
    assert.equal(mobileNoTop.layers[1].name, 'preprocess_input');
    assert.deepEqual(mobileNoTop.layers.at(-1)?.outputShape, [null, 7, 7, 1280]);
    assert.equal(mobileTop.totalParams, 3_538_984);
    assert.equal(mobileTask.totalParams, 2_257_984 + 1280 * 7 + 7);
    assert.deepEqual(mobileTask.outputs, ['expression']);

    assert.equal(efficientNoTop.totalParams, 4_049_571);
    assert.equal(efficientNoTop.trainableParams, 4_007_548);
    assert.equal(efficientNoTop.layers.length, 237);
    assert.deepEqual(
      efficientNoTop.layers.slice(1, 3).map((l) => [l.name, l.className, l.params]),
      [
        ['rescaling', 'Rescaling', 0],
        ['normalization', 'Normalization', 7],
      ],
    );
    assert.equal(efficientTop.totalParams, 5_330_571);
    assert.equal(efficientTask.totalParams, 4_049_571 + 1280 * 8 + 8);
  });

  it('prints the Keras-style table with the total', async () => {
    const dir = tempDir();
    const file = experiment(
      dir,
      'table',
      '{ type: shape-only, imageSize: 96, classes: 7 }',
      '{ type: efficientnet-b0, top: none }',
    );
    const r = await affectlabAsync(['summary', file, '--allow-plugins']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Model: "efficientnet-b0"/);
    assert.match(r.stdout, /block2b_se_excite \(Multiply\) +\(None, 24, 24, 144\) +0\n/);
    assert.match(r.stdout, /Total params: 4,049,571 /);
  });
});
