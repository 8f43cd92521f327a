/**
 * Seeds for everything random in a model, given explicitly instead of through Math.random:
 * initial weights from (run seed, layer position, weight name), dropout masks from (step seed,
 * dropout layer position). Positions, not layer names: tfjs' automatic names count across the
 * whole process, so the same architecture built twice in one process gets other names.
 * tfjs draws both from Math.random unless a seed is passed, so anything else calling
 * Math.random while a model is built or a step runs (a reporter's retry jitter, a plugin, a
 * timer) would shift them; with explicit seeds they are a function of the run's seed only.
 */
import * as tf from '@tensorflow/tfjs';
import { hashSeed } from '../../sdk/services.js';

/** tfjs-layers' Initializer class (the package exports the factories, not the type). */
type Initializer = ReturnType<typeof tf.initializers.zeros>;

/** tfjs initialisers that draw random values and take a `seed`. */
const RANDOM_INITIALIZERS = new Set([
  'RandomUniform',
  'RandomNormal',
  'TruncatedNormal',
  'VarianceScaling',
  'GlorotUniform',
  'GlorotNormal',
  'HeNormal',
  'HeUniform',
  'LeCunNormal',
  'LeCunUniform',
  'Orthogonal',
]);
/** tfjs initialisers whose values are fixed by their config. */
const FIXED_INITIALIZERS = new Set(['Zeros', 'Ones', 'Constant', 'Identity']);

/** Layers whose training pass draws noise without a seed tfjs would honour. */
const UNSEEDED_NOISE_LAYERS = new Set([
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'RandomWidth',
  'RandomHeight',
]);
/** tfjs' Dropout and its subclasses: they pass `this.seed` to tf.dropout on every call. */
const DROPOUT_LAYERS = new Set(['Dropout', 'SpatialDropout1D']);

/** Weights set from files (pretrained weights, an imported model), which seeding leaves alone. */
const pretrained = new WeakSet<tf.LayerVariable>();

/**
 * Mark weights as loaded from a file, so `seedInitialWeights` keeps them. Every loader that
 * sets an architecture's weights from a file before the runner seeds the rest calls this.
 */
export function markPretrained(weights: Iterable<tf.LayerVariable>): void {
  for (const weight of weights) pretrained.add(weight);
}

/**
 * Every layer of a model in `model.layers` order (which freezing does not change), nested
 * models' layers in place of the nested model, with its path for messages.
 */
function leafLayers(model: tf.LayersModel, path = ''): { layer: tf.layers.Layer; path: string }[] {
  return model.layers.flatMap((layer) =>
    layer instanceof tf.LayersModel
      ? leafLayers(layer, `${path}${layer.name}/`)
      : [{ layer, path: `${path}${layer.name}` }],
  );
}

/**
 * The seed of a weight's initial value. Never 0: tfjs' normal generators take a 0 seed as
 * "none" and fall back to Math.random.
 */
export function initialWeightSeed(seed: number, layerIndex: number, weightName: string): number {
  return hashSeed(seed, 'init', layerIndex, weightName) || 1;
}

/** The config key of the initialiser of a layer's weight (`kernel` -> `kernelInitializer`). */
function initializerKey(
  config: tf.serialization.ConfigDict,
  weightName: string,
): string | undefined {
  const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  // depthwise_kernel -> depthwiseInitializer, recurrent_kernel -> recurrentInitializer
  const keys = [
    `${camel(weightName)}Initializer`,
    `${camel(weightName.replace(/_kernel$/, ''))}Initializer`,
  ];
  return keys.find((key) => Object.hasOwn(config, key));
}

interface InitializerSpec {
  className: string;
  config: tf.serialization.ConfigDict;
}

function isInitializerSpec(value: unknown): value is InitializerSpec {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { className?: unknown }).className === 'string' &&
    typeof (value as { config?: unknown }).config === 'object'
  );
}

export interface InitialWeightsReport {
  /** Weights drawn again from their initialiser with an explicit seed. */
  seeded: number;
  /** Weights kept because they were loaded from a file. */
  pretrained: number;
  /** Weights kept because their initialiser is not random (zeros, ones, constant, identity). */
  fixed: number;
  /** Weights (`layer/weight`) whose initialiser could not be seeded: still from Math.random. */
  unseeded: string[];
}

/**
 * Draw every randomly initialised weight of `model` again from its layer's own initialiser
 * (the class and options in the layer's config) with the seed `initialWeightSeed(seed, layer's
 * index in leaf-layer order, weight name)`, so the initial weights are a function of the run's
 * seed and the architecture, whatever else called Math.random meanwhile. Weights marked
 * pretrained are kept.
 */
export function seedInitialWeights(model: tf.LayersModel, seed: number): InitialWeightsReport {
  const report: InitialWeightsReport = { seeded: 0, pretrained: 0, fixed: 0, unseeded: [] };
  const registry = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const [index, { layer, path }] of leafLayers(model).entries()) {
    if (layer.weights.length === 0) continue;
    const config = layer.getConfig();
    for (const weight of layer.weights) {
      if (pretrained.has(weight)) {
        report.pretrained++;
        continue;
      }
      const name = weight.originalName.split('/').pop() ?? weight.originalName;
      const key = initializerKey(config, name);
      const spec = key === undefined ? undefined : config[key];
      if (isInitializerSpec(spec) && FIXED_INITIALIZERS.has(spec.className)) {
        report.fixed++;
        continue;
      }
      const entry = isInitializerSpec(spec) ? registry[spec.className] : undefined;
      if (!isInitializerSpec(spec) || !RANDOM_INITIALIZERS.has(spec.className) || !entry) {
        report.unseeded.push(`${path}/${name}`);
        continue;
      }
      const [cls, fromConfig] = entry;
      const initializer = fromConfig(cls, {
        ...spec.config,
        seed: initialWeightSeed(seed, index, name),
      }) as Initializer;
      // write() also applies the weight's constraint, as every later update does
      tf.tidy(() => {
        weight.write(initializer.apply(weight.shape as number[], weight.dtype));
      });
      report.seeded++;
    }
  }
  return report;
}

/** The model's layers whose training pass draws noise no seed reaches (`name (Class)`). */
export function unseededNoiseLayers(model: tf.LayersModel): string[] {
  return leafLayers(model)
    .filter(({ layer }) => UNSEEDED_NOISE_LAYERS.has(layer.getClassName()))
    .map(({ layer, path }) => `${path} (${layer.getClassName()})`);
}

/** tfjs' Dropout keeps its seed in a private field it reads on every call. */
interface SeedableDropout {
  seed?: number;
}

/**
 * Per-step dropout seeds for a model's tfjs Dropout layers. tfjs passes a Dropout layer's
 * `seed` to tf.dropout on each call, so setting it before a step (and restoring it after, so
 * saved configs keep the user's) gives every step and layer its own mask, drawn from the step
 * seed instead of Math.random.
 */
export class DropoutSeeds {
  private readonly layers: { layer: SeedableDropout; own?: number }[];

  constructor(model: tf.LayersModel) {
    this.layers = leafLayers(model)
      .filter(({ layer }) => DROPOUT_LAYERS.has(layer.getClassName()))
      .map(({ layer }) => {
        if (!Object.hasOwn(layer, 'seed'))
          throw new Error(
            `tfjs ${layer.getClassName()} no longer keeps its seed in 'seed': seeded dropout needs updating`,
          );
        const own = (layer as SeedableDropout).seed;
        return { layer: layer as SeedableDropout, own };
      });
  }

  /** The mask seed of the model's `index`th dropout layer in one step. */
  static seedOf(stepSeed: number, index: number): number {
    return hashSeed(stepSeed, 'dropout', index);
  }

  /** Seed every dropout layer for the step; returns the function that restores their seeds. */
  forStep(stepSeed: number): () => void {
    for (const [i, entry] of this.layers.entries())
      entry.layer.seed = DropoutSeeds.seedOf(stepSeed, i);
    return () => {
      for (const entry of this.layers) entry.layer.seed = entry.own;
    };
  }
}
