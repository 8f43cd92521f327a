/**
 * The graph engine module, loaded lazily by src/core/engine/index.ts (it loads a native addon).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Task } from '../../../sdk/contracts/data.js';
import type { EngineOptions, TrainingEngine } from '../engine.js';
import { graphAddonStatus, loadAddon } from './addon.js';
import { augmentInGraph as runAugment } from './augment.js';
import { taskOutputsSupported } from './compiler.js';
import { GraphEngine } from './graph-engine.js';
import { unsupportedLayer } from './layers.js';

export { graphAddonStatus };

/** The step's augmentation alone, in a graph of its own (graph/augment.ts). */
export function augmentInGraph(
  ...args: Parameters<typeof runAugment> extends [unknown, ...infer Rest] ? Rest : never
): Promise<Float32Array> {
  return runAugment(loadAddon('tensorflow'), ...args);
}

export function graphEngineSupport(
  model: tf.LayersModel,
  task: Task,
): { supported: true } | { supported: false; layer: string; reason: string } {
  const outputs = taskOutputsSupported(model, task);
  if (outputs) return { supported: false, layer: model.name, reason: outputs };
  const layer = unsupportedLayer(model);
  return layer ? { supported: false, ...layer } : { supported: true };
}

export function createGraphEngine(
  options: EngineOptions,
  backend = 'tensorflow',
): Promise<TrainingEngine> {
  return GraphEngine.create(loadAddon(backend), options);
}
