import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadModel, saveModel } from '../model-io.js';
import type { MonitorState } from './monitor.js';

/** What a resumed run needs besides the weights: where it was and what it had decided. */
export interface TrainingState {
  /** The last epoch that completed (0-based). */
  epoch: number;
  monitor: MonitorState;
  savedAt: number;
}

/**
 * A checkpoint directory: the model (tfjs layers format), the optimizer's variables
 * (Adam's moments and iteration count) and the training state. Written to a temporary
 * directory and renamed, so a crash mid-write leaves the previous checkpoint intact.
 */
export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  state: TrainingState,
): Promise<void> {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await saveModel(model, join(tmp, 'model'));
  const weights = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(weights);
  // getWeights returns the optimizer's own variables plus a fresh `iterations` scalar: free that.
  for (const w of weights) if (!(w.tensor instanceof tf.Variable)) w.tensor.dispose();
  writeFileSync(join(tmp, 'optimizer.bin'), Buffer.from(data));
  writeFileSync(
    join(tmp, 'optimizer.json'),
    JSON.stringify({ className: optimizer.getClassName(), specs }, null, 2),
  );
  writeFileSync(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

export function hasCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'state.json')) && existsSync(join(dir, 'model', 'model.json'));
}

export function readTrainingState(dir: string): TrainingState {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as TrainingState;
}

/** Copy the weights of a saved model into `model` (same architecture). */
async function loadWeightsInto(model: tf.LayersModel, dir: string): Promise<void> {
  const saved = await loadModel(dir);
  try {
    model.setWeights(saved.getWeights());
  } finally {
    saved.dispose();
  }
}

/** Load the weights into `model` and restore the optimizer's variables. */
export async function restoreCheckpoint(
  dir: string,
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
): Promise<TrainingState> {
  await loadWeightsInto(model, join(dir, 'model'));
  const meta = JSON.parse(readFileSync(join(dir, 'optimizer.json'), 'utf8')) as {
    specs: tf.io.WeightsManifestEntry[];
  };
  const buf = readFileSync(join(dir, 'optimizer.bin'));
  const named = tf.io.decodeWeights(
    buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    meta.specs,
  );
  const list = meta.specs.map((s) => ({ name: s.name, tensor: named[s.name] }));
  await optimizer.setWeights(list);
  return readTrainingState(dir);
}
