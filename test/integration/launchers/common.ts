import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SweepRecord } from '../../../src/core/sweep/launch.js';

/**
 * A two-combination sweep of tiny trainings on the synthetic set (48 px, 2 epochs of 2 steps):
 * the combinations differ in `dataset.root`, so one can point at a folder that does not exist
 * yet and fail, then be rerun once it does.
 */
export function sweepYaml(
  work: string,
  name: string,
  roots: string[],
  launcher: string,
  epochs = 2,
): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 3
runs: { root: ${join(work, 'runs')} }
dataset:
  type: affectnet
  root: ${roots[0]}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4, limit: { test: 24 } }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training: { epochs: ${epochs}, batchSize: 8, stepsPerEpoch: 2, checkpoint: { monitor: val_loss } }
reporters: [{ type: console, progress: none }]
launcher: ${launcher}
sweep:
  group: ${name}
  parameters:
    dataset.root: [${roots.join(', ')}]
`,
  );
  return file;
}

export function readSweepRecord(work: string, id: string): SweepRecord {
  return JSON.parse(
    readFileSync(join(work, 'runs', 'sweeps', id, 'sweep.json'), 'utf8'),
  ) as SweepRecord;
}
