/** The engine tests' tiny classifier: 8x8 grey images, three classes, four images a step. */
import * as tf from '@tensorflow/tfjs';
import type { TrainingEngine } from '../../src/core/engine/index.js';
import type { Task } from '../../src/sdk/contracts/data.js';

export const tinyTask: Task = {
  kind: 'classification',
  classes: [0, 1, 2].map((i) => ({ index: i, code: i, name: `c${i}` })),
};

/** conv 3x3 (3 filters, seeded), optional dropout, flatten, dense softmax over the classes. */
export function tinyModel({ dropout }: { dropout?: number } = {}): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 3, kernelSize: 3, seed: 1 } as never));
  if (dropout !== undefined) m.add(tf.layers.dropout({ rate: dropout }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

/** Step `step`'s batch: a fixed function of the step, so two engines see the same data. */
export function tinyBatch(step: number) {
  const n = 4;
  const x = Float32Array.from({ length: n * 64 }, (_, i) => Math.sin(i * 0.37 + step));
  return {
    inputs: { x, shape: [n, 8, 8, 1] as [number, number, number, number] },
    targets: { classes: Int32Array.from([0, 1, 2, step % 3]) },
  };
}

/** Steps from..to-1 (step seed 1000 + step); their losses. */
export async function trainTiny(
  engine: TrainingEngine,
  from: number,
  to: number,
): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < to; s++) {
    const { inputs, targets } = tinyBatch(s);
    losses.push((await engine.trainStep(inputs, targets, 1000 + s)).loss);
  }
  return losses;
}
