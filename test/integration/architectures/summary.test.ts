import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ModelSummary } from '../../../src/plugins/architectures/summary.js';
import { repoRoot, tempDir, writeFiles } from '../../support/helpers.js';

const fixture = new URL('./fixtures/shape-dataset.js', import.meta.url).pathname;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real CLI in a child process (asynchronous, so two builds run side by side on 2 cores). */
function affectlab(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, AFFECTLAB_LOG_LEVEL: 'error' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Run jobs with at most `limit` at once, keeping their order. */
async function inParallel<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

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

const sumOf = (summary: ModelSummary, names: string[]) =>
  summary.layers.filter((l) => names.includes(l.name)).reduce((s, l) => s + l.params, 0);

describe('affectlab summary', () => {
  it('prints the Keras parameter counts of vgg-type, resnet50 and alexnet as JSON', async () => {
    const dir = tempDir();
    const vgg = experiment(dir, 'vgg', '{ type: shape-only }', '{ type: vgg-type }');
    const resnet = experiment(
      dir,
      'resnet',
      '{ type: shape-only, imageSize: 32, classes: 5 }',
      '{ type: resnet50 }',
    );
    const alexnet = experiment(
      dir,
      'alexnet',
      '{ type: shape-only, imageSize: 227, classes: 8 }',
      '{ type: alexnet }',
    );
    const runs = await inParallel(
      [
        () => affectlab(['summary', vgg, '--allow-plugins', '--json']),
        () =>
          affectlab([
            'summary',
            resnet,
            '--allow-plugins',
            '--json',
            '--set',
            'architecture.top=none',
          ]),
        () =>
          affectlab([
            'summary',
            resnet,
            '--allow-plugins',
            '--json',
            '--set',
            'architecture.top=imagenet',
          ]),
        () => affectlab(['summary', alexnet, '--allow-plugins', '--json']),
        () =>
          affectlab([
            'summary',
            alexnet,
            '--allow-plugins',
            '--json',
            '--set',
            'dataset.classes=1000',
          ]),
      ],
      2,
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const [vggSummary, resnetNoTop, resnetTop, alex8, alex1000] = runs.map(
      (r) => JSON.parse(r.stdout) as ModelSummary,
    );

    // The report's Appendix C at 256x256x3, 6 classes (per-layer derivation in vgg-type.ts).
    assert.equal(vggSummary.totalParams, 7_395_782);
    assert.equal(vggSummary.trainableParams, 7_393_990);
    assert.equal(vggSummary.nonTrainableParams, 1_792);
    assert.deepEqual(vggSummary.outputs, ['expression']);
    assert.deepEqual(vggSummary.layers.find((l) => l.name === 'max_pooling2d_3')?.outputShape, [
      null,
      14,
      14,
      256,
    ]);
    assert.deepEqual(Object.keys(vggSummary.layers[1]).sort(), [
      'className',
      'name',
      'outputShape',
      'params',
      'trainable',
    ]);

    // Keras: ResNet50(include_top=False).count_params() and ResNet50().count_params().
    assert.equal(resnetNoTop.totalParams, 23_587_712);
    // Keras' 175 layers, plus the parameter-free preprocess_input layer (preprocess: caffe)
    assert.equal(resnetNoTop.layers.length, 176);
    assert.equal(resnetNoTop.layers[1].name, 'preprocess_input');
    assert.equal(resnetTop.totalParams, 25_636_712);
    assert.equal(resnetTop.layers.length, 178);
    assert.equal(resnetTop.layers.at(-1)?.params, 2048 * 1000 + 1000);
    // the last 20% of the base trainable: Keras gives 14,978,048 trainable parameters for it
    assert.equal(resnetNoTop.trainableParams, 14_978_048);

    // The AffectNet paper's AlexNet at 227x227x3.
    assert.equal(alex8.totalParams, 58_314_120);
    assert.equal(alex1000.totalParams, 62_378_344);
    assert.equal(sumOf(alex8, ['fc6']), 6 * 6 * 256 * 4096 + 4096);
    assert.deepEqual(alex8.layers.find((l) => l.name === 'pool5')?.outputShape, [null, 6, 6, 256]);
    assert.equal(alex8.nonTrainableParams, 0);
  });

  it('prints a Keras-style table, with the task head of the dataset', async () => {
    const dir = tempDir();
    const file = experiment(
      dir,
      'multi',
      '{ type: shape-only, imageSize: 48, classes: 7, task: expression+valence-arousal }',
      '{ type: vgg-type, filters: [8, 8, 16, 16], dense: [16, 8] }',
    );
    const r = await affectlab(['summary', file, '--allow-plugins']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Model: "vgg-type"/);
    assert.match(r.stdout, /Layer \(type\) +Output Shape +Param #/);
    assert.match(r.stdout, /conv2d \(Conv2D\) +\(None, 46, 46, 8\) +224\n/);
    assert.match(r.stdout, /expression \(Activation\) +\(None, 7\) +0\n/);
    assert.match(r.stdout, /valence_arousal \(Activation\) +\(None, 2\) +0\n/);
    assert.match(r.stdout, /Total params: [\d,]+ \([\d.]+ KB\)\nTrainable params: /);
    assert.match(r.stdout, /Outputs: expression, valence_arousal/);
  });

  it('fails clearly when the dataset cannot describe its task, or the input is too small', async () => {
    const dir = tempDir();
    const opaque = experiment(dir, 'opaque', '{ type: opaque }', '{ type: vgg-type }');
    const small = experiment(
      dir,
      'small',
      '{ type: shape-only, imageSize: 40 }',
      '{ type: vgg-type }',
    );
    const [a, b] = await Promise.all([
      affectlab(['summary', opaque, '--allow-plugins']),
      affectlab(['summary', small, '--allow-plugins']),
    ]);
    assert.equal(a.code, 1);
    assert.match(
      a.stderr,
      /opaque\.yaml: dataset 'opaque' cannot describe its input shape and task .*describeTask/,
    );
    assert.doesNotMatch(a.stderr, /\n\s+at /, 'no stack trace for a user error');
    assert.equal(b.code, 1);
    assert.match(
      b.stderr,
      /vgg-type needs an input of at least 46x46 pixels, but the dataset gives 40x40/,
    );
  });
});
