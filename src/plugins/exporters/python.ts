/** The Python with Keras and TensorFlow that formats needing Python's TensorFlow run. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { UserError, KERAS_LAYERS_MODULE } from '../../sdk/index.js';

/** The package root (dist/src/plugins/exporters/ is four levels below it). */
const packageRoot = new URL('../../../../', import.meta.url).pathname;

/**
 * AFFECTLAB_KERAS_PYTHON, else `.venv-keras/bin/python` in the package root (made by
 * scripts/setup-keras.sh), else undefined.
 */
export function kerasPython(): string | undefined {
  const fromEnv = process.env.AFFECTLAB_KERAS_PYTHON;
  if (fromEnv) return fromEnv;
  const venv = join(packageRoot, '.venv-keras', 'bin', 'python');
  return existsSync(venv) ? venv : undefined;
}

/**
 * Run a Python script with the Keras Python; a failure is a UserError with its stderr.
 * `layersModule`: the exported model's affectlab_keras_layers.py, imported first so Keras finds
 * the classes of layers it has none of.
 */
export function runKerasPython(
  what: string,
  script: string,
  args: string[],
  layersModule?: string,
): string {
  const python = kerasPython();
  if (!python)
    throw new UserError(
      `${what} needs Python's TensorFlow (tfjs-node reads SavedModels but cannot write them): ` +
        'run bash scripts/setup-keras.sh (a .venv-keras with the pinned tensorflow-cpu and keras), ' +
        'or set AFFECTLAB_KERAS_PYTHON to a Python that has them',
    );
  const prelude = layersModule ? `import ${KERAS_LAYERS_MODULE}\n` : '';
  const pythonPath = [layersModule && dirname(layersModule), process.env.PYTHONPATH]
    .filter(Boolean)
    .join(delimiter);
  const result = spawnSync(python, ['-c', prelude + script, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      TF_CPP_MIN_LOG_LEVEL: '2',
      ...(pythonPath ? { PYTHONPATH: pythonPath } : {}),
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new UserError(`${what}: cannot run ${python}: ${result.error.message}`);
  if (result.status !== 0)
    throw new UserError(
      `${what}: ${python} failed (exit ${result.status}):\n${result.stderr.trim().split('\n').slice(-15).join('\n')}`,
    );
  return result.stdout;
}
