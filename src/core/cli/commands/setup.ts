import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../../sdk/errors.js';
import { projectRoot, TENSORFLOW_VERSION } from '../../training/gpu.js';

/**
 * `affectlab setup gpu`: runs scripts/gpu-backend.mjs (the same script `AFFECTLAB_GPU=1 npm ci`
 * runs from postinstall) with the terminal attached, so its progress shows as it happens.
 */
export function registerSetupCommand(program: Command): void {
  const setup = program
    .command('setup')
    .description('install optional parts of affectlab (see `setup gpu`)');
  setup
    .command('gpu')
    .description(
      'install the GPU backend: @tensorflow/tfjs-node-gpu 4.22.0 on the CUDA build of libtensorflow ' +
        `from the PyPI wheel tensorflow==${TENSORFLOW_VERSION}, with` +
        ' the CUDA 12 libraries of its and-cuda extra ' +
        '(about 2.4 GB of downloads once, cached in ~/.cache/affectlab/native/gpu; a second run takes seconds)',
    )
    .option('--wheels <dir>', 'take the wheels from this directory instead of downloading them')
    .option('--force', 're-extract the libraries and rebuild the binding')
    .action((opts: { wheels?: string; force?: boolean }) => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      if (opts.wheels) env.AFFECTLAB_GPU_WHEELS = opts.wheels;
      if (opts.force) env.AFFECTLAB_GPU_FORCE = '1';
      const script = join(projectRoot, 'scripts', 'gpu-backend.mjs');
      const r = spawnSync(process.execPath, [script], { cwd: projectRoot, env, stdio: 'inherit' });
      if (r.error) throw new UserError(`could not run ${script}: ${r.error.message}`);
      if (r.status !== 0)
        throw new UserError(
          'GPU setup failed (see the lines above; node_modules/.affectlab-gpu.json has the record)',
        );
    });
}
