import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The tiny experiment the runner tests train: AffectNet-format synthetic data (report6 at
 * 48 px, a few images per class held out, a small test split), a small VGG-type net, a few
 * steps per epoch. Each test names what it varies.
 */
export interface TinyExperiment {
  name: string;
  /** The dataset root (smallSyntheticSet()). */
  synth: string;
  /** The runs root. */
  runsRoot: string;
  seed?: number;
  /** `dataset.split.validationPerClass` (default 4). */
  validationPerClass?: number;
  /** `dataset.split.limit.test` (default 24). */
  testLimit?: number;
  /** More `dataset:` lines, each indented two spaces (e.g. `  augment: { flip: false }`). */
  dataset?: string;
  /** `sampler:`'s value, when the test names one. */
  sampler?: string;
  /** `architecture:`'s value (default: VGG-type with filters [4, 4, 8, 8], dense [8, 8]). */
  architecture?: string;
  /** The `training:` lines, each indented two spaces. */
  training: string;
  /** `reporters:`'s value (default: the console without progress). */
  reporters?: string;
  /** `plugins:`'s value, when the test loads plugin modules. */
  plugins?: string;
  /** Anything after the reporters (top-level keys). */
  extra?: string;
}

export const TINY_VGG =
  '{ type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8], convDropout: 0, denseDropout: 0 }';

/** The experiment's YAML text. */
export function tinyExperimentYaml(e: TinyExperiment): string {
  return `name: ${e.name}
seed: ${e.seed ?? 5}
runs: { root: ${e.runsRoot} }
${e.plugins ? `plugins: ${e.plugins}\n` : ''}dataset:
  type: affectnet
  root: ${e.synth}
  classes: report6
  imageSize: 48
  split: { validationPerClass: ${e.validationPerClass ?? 4}, limit: { test: ${e.testLimit ?? 24} } }
${e.dataset ? `${e.dataset}\n` : ''}${e.sampler ? `sampler: ${e.sampler}\n` : ''}architecture: ${e.architecture ?? '{ type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }'}
training:
${e.training}
reporters: ${e.reporters ?? '[{ type: console, progress: none }]'}
${e.extra ?? ''}`;
}

/** The experiment written to `<dir>/<name>.yaml`; returns the file. */
export function writeTinyExperiment(dir: string, e: TinyExperiment): string {
  const file = join(dir, `${e.name}.yaml`);
  writeFileSync(file, tinyExperimentYaml(e));
  return file;
}
