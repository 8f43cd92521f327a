import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { TrainingEngine } from '../engine/engine.js';
import { loadModel, saveModel } from '../training/model-io.js';
import { guardWrite, makeDirectory } from '../write-failure.js';

/**
 * How far into an epoch an interrupted run got: the steps done, the position in the epoch's
 * sample order where the next batch starts (skipped images make it differ from steps x batch),
 * and the running sums the epoch's metrics are made of. Enough to replay the rest exactly.
 */
export interface PartialEpoch {
  epoch: number;
  steps: number;
  position: number;
  lossSum: number;
  accuracySum: number;
  hasAccuracy: boolean;
  images: number;
  seconds: number;
}

/** What a resumed run needs besides the weights: where it was and what it had decided. */
export interface TrainingState {
  /** The last epoch that completed (0-based; -1 when none did). */
  epoch: number;
  /** The learning rate the next epoch trains with (the epoch cut short, in interrupted). */
  learningRate: number;
  /** The epoch checkpoints/best holds, when one does. */
  bestEpoch?: number;
  /** Each callback's own state, by `<index>:<type>` (see CallbackList). */
  callbacks: Record<string, unknown>;
  savedAt: number;
  /** Only in checkpoints/interrupted: the epoch that was cut short. */
  partial?: PartialEpoch;
}

/**
 * A checkpoint directory: the model (tfjs layers format), the optimizer's complete state
 * (moments, accumulated powers, iteration count) and the training state. Written to a
 * temporary directory and renamed, so a crash mid-write leaves the previous checkpoint intact.
 */
export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  engine: TrainingEngine,
  state: TrainingState,
): Promise<void> {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    await writeCheckpoint(tmp, model, engine, state);
    guardWrite(dir, () => {
      // the previous checkpoint stays until the new one has its name
      const old = `${dir}.old`;
      rmSync(old, { recursive: true, force: true });
      if (existsSync(dir)) renameSync(dir, old);
      try {
        renameSync(tmp, dir);
      } catch (error) {
        if (existsSync(old)) renameSync(old, dir);
        throw error;
      }
      rmSync(old, { recursive: true, force: true });
    });
  } catch (error) {
    // a full disk must not keep the half-written copy (it holds the space a resume needs)
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

async function writeCheckpoint(
  tmp: string,
  model: tf.LayersModel,
  engine: TrainingEngine,
  state: TrainingState,
): Promise<void> {
  makeDirectory(tmp);
  await engine.syncToModel();
  await saveModel(model, join(tmp, 'model'));
  const weights = await engine.getOptimizerState();
  let encoded: { data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] };
  try {
    encoded = await tf.io.encodeWeights(weights);
  } finally {
    tf.dispose(weights.map((w) => w.tensor));
  }
  const write = (name: string, data: string | Uint8Array): void => {
    const file = join(tmp, name);
    guardWrite(file, () => writeFileSync(file, data));
  };
  write('optimizer.bin', Buffer.from(encoded.data));
  write('optimizer.json', JSON.stringify({ engine: engine.kind, specs: encoded.specs }, null, 2));
  write('state.json', JSON.stringify(state, null, 2));
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

/** Load the weights into `model` and the engine, and restore the optimizer's state. */
export async function restoreCheckpoint(
  dir: string,
  model: tf.LayersModel,
  engine: TrainingEngine,
): Promise<TrainingState> {
  await loadWeightsInto(model, join(dir, 'model'));
  await engine.syncFromModel();
  const meta = JSON.parse(readFileSync(join(dir, 'optimizer.json'), 'utf8')) as {
    specs: tf.io.WeightsManifestEntry[];
  };
  const buf = readFileSync(join(dir, 'optimizer.bin'));
  const named = tf.io.decodeWeights(
    buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    meta.specs,
  );
  const list = meta.specs.map((s) => ({ name: s.name, tensor: named[s.name] }));
  try {
    await engine.setOptimizerState(list);
  } finally {
    tf.dispose(list.map((e) => e.tensor));
  }
  return readTrainingState(dir);
}
