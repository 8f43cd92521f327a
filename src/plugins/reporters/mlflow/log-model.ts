/**
 * A finished run's model as an MLflow 3 LoggedModel: `affectlab export --run <dir> --format
 * mlflow` (model-export.ts, the one code path for MLflow models) in a child process, which
 * writes it in a temporary folder (removed after; the run's own export/ stays the user's) and
 * logs it to the MLflow run of the run's mlflow.json. No Python
 * is needed to write it (the .keras file and the MLmodel are written here); loading it needs
 * MLflow, Keras and TensorFlow in Python.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_ENTRY, type Logger } from '../../../sdk/index.js';

/** What the export said (its notes) or why it failed; never rejects. */
export function logRunModel(
  runDir: string,
  logger: Logger,
): Promise<{ ok: boolean; output: string }> {
  const tmp = mkdtempSync(join(tmpdir(), 'affectlab-mlflow-model-'));
  const done = (result: { ok: boolean; output: string }) => {
    rmSync(tmp, { recursive: true, force: true });
    return result;
  };
  return new Promise<{ ok: boolean; output: string }>((resolve) => {
    const out = join(tmp, 'mlflow');
    const child = spawn(
      process.execPath,
      [CLI_ENTRY, 'export', '--run', runDir, '--format', 'mlflow', '--out', out],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => {
      logger.warn(`mlflow: the run's model was not logged: ${error.message}`);
      resolve({ ok: false, output: error.message });
    });
    child.on('close', (code) => {
      const lines = output.trim().split('\n').filter(Boolean);
      if (code === 0) {
        const logged = lines.find((line) => line.includes('logged to MLflow run'));
        logger.info(`mlflow: ${(logged ?? lines.at(-1) ?? 'model logged').trim()}`);
      } else
        logger.warn(
          `mlflow: the run's model was not logged as an MLflow model (export exit ${code}): ` +
            `${lines.slice(-5).join(' | ')}; log it later with: affectlab export --run ${runDir} --format mlflow`,
        );
      resolve({ ok: code === 0, output });
    });
  }).then(done);
}
