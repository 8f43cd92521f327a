import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gpuSection, gpuSectionLines } from '../../../src/core/cli/doctor-gpu.js';
import {
  CUDA_FILES,
  GPU_RECORD,
  applyGpuEnvironment,
  checkLibraries,
  parseNvidiaSmi,
  parseTensorFlowLog,
} from '../../../src/core/training/gpu.js';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir, writeFiles } from '../../support/helpers.js';

describe('GPU backend: doctor section and helpers (no GPU install needed)', () => {
  it('a project without the GPU package: not installed, the one command to install, its size', () => {
    const root = tempDir();
    const s = gpuSection({ root });
    assert.equal(s.installed, false);
    assert.equal(s.summary, '@tensorflow/tfjs-node-gpu is not installed');
    assert.match(s.fix ?? '', /^npx affectlab setup gpu \(downloads about 2\.4 GB once/);
    const lines = gpuSectionLines(s);
    assert.ok(
      lines.includes('gpu         @tensorflow/tfjs-node-gpu is not installed'),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.startsWith('gpu fix     npx affectlab setup gpu')),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.startsWith('gpu driver  libcuda.so.1 ')),
      lines.join('\n'),
    );
  });

  it('a setup that a later npm install pruned: says so and that the cache restores it', () => {
    const root = tempDir();
    writeFiles(root, { [`node_modules/${GPU_RECORD}`]: JSON.stringify({ ok: true, cache: '/x' }) });
    const s = gpuSection({ root });
    assert.equal(s.installed, false);
    assert.match(s.summary, /was set up here but is no longer in node_modules/);
    assert.equal(s.fix, 'npx affectlab setup gpu (restores it from the cache in seconds)');
  });

  it('lists the CUDA libraries found and missing in deps/nvidia, with the fix', () => {
    const root = tempDir();
    const pkg = 'node_modules/@tensorflow/tfjs-node-gpu';
    writeFiles(root, {
      [`${pkg}/package.json`]: JSON.stringify({
        name: '@tensorflow/tfjs-node-gpu',
        version: '4.22.0',
      }),
      [`${pkg}/deps/lib/libtensorflow_cc.so.2`]: 'x',
      [`${pkg}/deps/nvidia/cudnn/lib/libcudnn.so.9`]: 'x',
      [`${pkg}/deps/nvidia/cuda_runtime/lib/libcudart.so.12`]: 'x',
    });
    const check = checkLibraries(join(root, pkg));
    assert.deepEqual(check.libtensorflow.missing, ['lib/libtensorflow_framework.so.2']);
    assert.deepEqual(check.cuda.found, ['CUDA runtime (libcudart.so.12)', 'cuDNN (libcudnn.so.9)']);
    assert.equal(check.cuda.missing.length, CUDA_FILES.length - 2);
    const s = gpuSection({ root, probe: false });
    assert.equal(s.installed, true);
    assert.match(s.fix ?? '', /^AFFECTLAB_GPU_FORCE=1 npx affectlab setup gpu/);
    const lines = gpuSectionLines(s);
    assert.ok(
      lines.some((l) =>
        /^gpu libs {4}libtensorflow MISSING lib\/libtensorflow_framework\.so\.2; CUDA 2\/14 found, missing: cuBLAS/.test(
          l,
        ),
      ),
      lines.join('\n'),
    );
  });

  it("parses TensorFlow's device lines and its reasons for using no GPU", () => {
    const log = [
      '2026-12-03 06:57:07.146931: E external/local_xla/xla/stream_executor/cuda/cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)',
      'I0000 00:00:1796281027.1 1 gpu_device.cc:2022] Created device /job:localhost/replica:0/task:0/device:GPU:0 with 137402 MB memory:  -> device: 0, name: NVIDIA H200, pci bus id: 0000:00:05.0, compute capability: 9.0',
    ].join('\n');
    const { devices, notes } = parseTensorFlowLog(log);
    assert.deepEqual(devices, [
      {
        device: '/job:localhost/replica:0/task:0/device:GPU:0',
        memoryMiB: 137402,
        name: 'NVIDIA H200',
        computeCapability: '9.0',
      },
    ]);
    assert.deepEqual(notes, [
      'failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)',
    ]);
    assert.deepEqual(parseNvidiaSmi('NVIDIA H200, 9.0, 570.86.15, 143771\n'), [
      {
        name: 'NVIDIA H200',
        computeCapability: '9.0',
        driverVersion: '570.86.15',
        memoryMiB: 143771,
      },
    ]);
  });

  it('TF_FORCE_GPU_ALLOW_GROWTH defaults to true and a value the user set wins', () => {
    const env: NodeJS.ProcessEnv = {};
    applyGpuEnvironment(env);
    assert.equal(env.TF_FORCE_GPU_ALLOW_GROWTH, 'true');
    const off: NodeJS.ProcessEnv = { TF_FORCE_GPU_ALLOW_GROWTH: 'false' };
    applyGpuEnvironment(off);
    assert.equal(off.TF_FORCE_GPU_ALLOW_GROWTH, 'false');
  });

  it('the postinstall hook is off by default: it does nothing and exits 0', () => {
    const cache = tempDir();
    const env: NodeJS.ProcessEnv = { ...process.env, AFFECTLAB_NATIVE_CACHE: cache };
    delete env.AFFECTLAB_GPU;
    const r = spawnSync(
      process.execPath,
      [join(repoRoot, 'scripts/gpu-backend.mjs'), '--postinstall'],
      {
        env,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(existsSync(join(cache, 'gpu')), false);
  });

  it('affectlab doctor prints the GPU section, installed or not', () => {
    const r = affectlab(['doctor', '--json'], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const gpu = (JSON.parse(r.stdout) as { gpu: ReturnType<typeof gpuSection> }).gpu;
    assert.equal(typeof gpu.summary, 'string');
    if (!gpu.installed) assert.match(gpu.fix ?? '', /npx affectlab setup gpu/);
    else assert.equal(gpu.tensorflow?.loaded, true, JSON.stringify(gpu.tensorflow));
    const text = affectlab(['doctor'], { timeoutMs: 300_000 });
    assert.match(text.stdout, /^gpu memory {2}TF_FORCE_GPU_ALLOW_GROWTH=/m);
  });
});
