import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../../src/sdk/errors.js';
import { loadModel, readWeightArtifacts, saveModel } from '../../../src/core/training/model-io.js';
import { activateBackend, tempDir, writeFiles } from '../../support/helpers.js';

function smallModel(): tf.LayersModel {
  const input = tf.input({ shape: [3] });
  const hidden = tf.layers.dense({ units: 4, activation: 'relu', name: 'hidden' }).apply(input);
  const output = tf.layers.dense({ units: 2, name: 'out' }).apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}

interface ManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: string }[];
}

const readJson = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8')) as { weightsManifest: ManifestGroup[] };

describe('model-io: saveModel / loadModel on a local directory', () => {
  before(async () => {
    await activateBackend();
  });

  it('loads tensorflowjs_converter-style output: several groups and shards', async () => {
    const dir = join(tempDir(), 'm');
    const model = smallModel();
    await saveModel(model, dir);
    const json = readJson(join(dir, 'model.json'));
    const bytes = readFileSync(join(dir, 'weights.bin'));
    const [group] = json.weightsManifest;
    // hidden/kernel (12 floats) + hidden/bias (4) in group 1 over two shards; out/* in group 2
    writeFileSync(join(dir, 'group1-shard1of2.bin'), bytes.subarray(0, 40));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), bytes.subarray(40, 64));
    writeFileSync(join(dir, 'group2-shard1of1.bin'), bytes.subarray(64));
    rmSync(join(dir, 'weights.bin'));
    json.weightsManifest = [
      {
        paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
        weights: group.weights.slice(0, 2),
      },
      { paths: ['group2-shard1of1.bin'], weights: group.weights.slice(2) },
    ];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    const loaded = await loadModel(dir);
    const x = tf.tensor2d([[1, -2, 3]]);
    assert.deepEqual(
      (loaded.predict(x) as tf.Tensor).arraySync(),
      (model.predict(x) as tf.Tensor).arraySync(),
    );
  });

  it('names the missing or truncated weight file, and refuses files outside the directory', async () => {
    const dir = join(tempDir(), 'm');
    await saveModel(smallModel(), dir);
    const json = readJson(join(dir, 'model.json'));
    const good = JSON.stringify(json);
    json.weightsManifest[0].paths = ['gone.bin'];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    await assert.rejects(
      loadModel(dir),
      (e: unknown) =>
        e instanceof UserError && /lists weight file 'gone\.bin', which is missing/.test(e.message),
    );
    json.weightsManifest[0].paths = ['../escape.bin'];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    await assert.rejects(loadModel(dir), /outside the model's directory/);
    writeFileSync(join(dir, 'model.json'), good);
    writeFileSync(join(dir, 'weights.bin'), readFileSync(join(dir, 'weights.bin')).subarray(0, 10));
    await assert.rejects(loadModel(dir), /hold 10 bytes but the manifest describes 104/);
    await assert.rejects(
      loadModel(join(dir, 'nowhere')),
      (e: unknown) => e instanceof UserError && /cannot read .*nowhere/.test(e.message),
    );
  });

  it('says which custom layer class is not registered', async () => {
    const dir = join(tempDir(), 'm');
    await saveModel(smallModel(), dir);
    const file = join(dir, 'model.json');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('"class_name":"Dense"', '"class_name":"MyOwnDense"'),
    );
    await assert.rejects(
      loadModel(dir),
      (e: unknown) => e instanceof UserError && /custom layer 'MyOwnDense'/.test(e.message),
    );
  });

  it('reads weights alone from a model.json, a weights manifest, or a directory holding either', async () => {
    const root = tempDir();
    await saveModel(smallModel(), join(root, 'model'));
    const fromModel = readWeightArtifacts(join(root, 'model'));
    assert.deepEqual(
      fromModel.specs.map((s) => s.name),
      ['hidden/kernel', 'hidden/bias', 'out/kernel', 'out/bias'],
    );
    assert.equal(fromModel.data.byteLength, (12 + 4 + 8 + 2) * 4);
    const manifest = readJson(join(root, 'model', 'model.json')).weightsManifest;
    writeFiles(root, { 'weights-only/weights_manifest.json': JSON.stringify(manifest) });
    writeFileSync(
      join(root, 'weights-only', 'weights.bin'),
      readFileSync(join(root, 'model', 'weights.bin')),
    );
    const fromManifest = readWeightArtifacts(join(root, 'weights-only'));
    assert.equal(fromManifest.source, join(root, 'weights-only', 'weights_manifest.json'));
    assert.deepEqual(new Uint8Array(fromManifest.data), new Uint8Array(fromModel.data));
    assert.throws(
      () => readWeightArtifacts(join(root, 'absent')),
      /weights path .*absent does not exist/,
    );
    writeFiles(root, { 'empty/readme.txt': 'x' });
    assert.throws(
      () => readWeightArtifacts(join(root, 'empty')),
      /no model\.json or weights_manifest\.json in/,
    );
  });
});
