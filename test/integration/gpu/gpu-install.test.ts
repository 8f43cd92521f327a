import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { GpuSection } from '../../../src/core/cli/doctor-gpu.js';
import {
  TENSORFLOW_VERSION,
  findDriverLibrary,
  type GpuInstallRecord,
} from '../../../src/core/training/gpu.js';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir } from '../../support/helpers.js';

// The real GPU route: about 2.4 GB of wheels on the first run (then cached), so it runs only
// with AFFECTLAB_TEST_GPU_INSTALL=1 (see README, GPU). On a machine without a GPU it checks the
// CUDA build loads, reports no GPU device with the reason, and trains on the CPU.
const enabled = process.env.AFFECTLAB_TEST_GPU_INSTALL === '1';

describe('GPU backend install (AFFECTLAB_TEST_GPU_INSTALL=1)', { skip: !enabled }, () => {
  const noDriver = findDriverLibrary() === undefined;

  it('affectlab setup gpu installs @tensorflow/tfjs-node-gpu on the CUDA libtensorflow', () => {
    const r = affectlab(['setup', 'gpu'], { timeoutMs: 3_600_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `@tensorflow/tfjs-node-gpu 4\\.22\\.0 ready on libtensorflow ${TENSORFLOW_VERSION.replaceAll('.', '\\.')}`,
      ),
    );
    const record = JSON.parse(
      readFileSync(join(repoRoot, 'node_modules/.affectlab-gpu.json'), 'utf8'),
    ) as GpuInstallRecord;
    assert.equal(record.ok, true);
    assert.equal(record.libtensorflow, TENSORFLOW_VERSION);
    assert.equal(record.graphAddon, true);
    if (noDriver) assert.equal(record.gpuDevice, false);
    // a second run takes everything from the cache
    const again = affectlab(['setup', 'gpu'], { timeoutMs: 600_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /everything from the cache/);
  });

  it('doctor shows the GPU section: libraries found, and no GPU device with the reason', () => {
    const r = affectlab(['doctor', '--json'], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    const gpu = (JSON.parse(r.stdout) as { gpu: GpuSection }).gpu;
    assert.equal(gpu.installed, true);
    assert.deepEqual(gpu.libraries?.cuda.missing, []);
    assert.deepEqual(gpu.libraries?.libtensorflow.missing, []);
    assert.equal(gpu.tensorflow?.loaded, true);
    assert.equal(gpu.tensorflow?.libtensorflow, TENSORFLOW_VERSION);
    if (noDriver) {
      assert.equal(gpu.tensorflow?.usingGpu, false);
      assert.match(
        gpu.summary,
        /^no GPU device found: no NVIDIA driver \(libcuda\.so\.1 not found\)/,
      );
      assert.ok(
        gpu.tensorflow?.notes.some((n) => /cuInit/.test(n)),
        JSON.stringify(gpu.tensorflow),
      );
    }
  });

  for (const engine of ['eager', 'graph']) {
    it(`trains two steps on training.backend tensorflow-gpu with the ${engine} engine`, () => {
      const data = tempDir();
      const synth = affectlab([
        'synth',
        '--out',
        data,
        '--size',
        '48',
        '--count',
        '400',
        '--classes',
        'report6',
      ]);
      assert.equal(synth.code, 0, synth.stderr);
      const r = affectlab(
        [
          'run',
          'experiments/vgg6-weighted.yaml',
          ...['--set', `dataset.root=${data}`, '--set', 'dataset.imageSize=48'],
          ...['--set', 'training.backend=tensorflow-gpu', '--set', `training.execution=${engine}`],
          ...['--set', 'training.epochs=1', '--set', 'training.stepsPerEpoch=2'],
          ...[
            '--set',
            'training.validationSteps=1',
            '--set',
            'dataset.split.validationPerClass=10',
          ],
          ...['--set', `runs.root=${tempDir()}`],
        ],
        { env: { AFFECTLAB_LOG_LEVEL: 'info' }, timeoutMs: 900_000 },
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const log = r.stdout + r.stderr;
      const device = noDriver ? '/device:CPU:0 \\(no GPU device found' : '/device:';
      assert.match(log, new RegExp(`backend: tensorflow-gpu on ${device}`));
      assert.match(log, new RegExp(`execution: (training.execution is ${engine}|${engine}:)`));
      assert.match(log, /epoch 1: loss \d+\.\d+/);
    });
  }
});
