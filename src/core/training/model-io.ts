import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../../sdk/errors.js';
import { guardWrite, makeDirectory } from '../write-failure.js';

/**
 * Saving and loading tfjs layers models in a local directory through node:fs, so it works on
 * the pure-JS backend (whose `file://` handler does not exist) exactly as on tfjs-node. The
 * layout is tfjs' own: `model.json` (topology + weights manifest) next to its weight files, so
 * a directory written here loads with tfjs-node's `file://` handler and tensorflowjs_converter's
 * output loads here.
 */

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** The `model.json` of a tfjs layers model (tfjs' ModelJSON, with the fields we read typed). */
interface ModelJson {
  modelTopology?: tf.io.ModelJSON['modelTopology'];
  weightsManifest?: tf.io.WeightsManifestConfig;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  trainingConfig?: tf.io.TrainingConfig;
  userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
}

/**
 * Save a model as `dir/model.json` + `dir/weights.bin`; the directory is created. The
 * optimizer's state goes into checkpoints through the engine (checkpoint.ts), not here.
 */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<tf.io.SaveResult> {
  return model.save(fileSystemHandler(dir));
}

export interface LoadModelOptions {
  /** Fail when the weights do not match the topology exactly. Default true. */
  strict?: boolean;
}

/** Load a model saved by `saveModel`, by tfjs-node's `file://` handler or by tensorflowjs_converter. */
export async function loadModel(
  dir: string,
  options: LoadModelOptions = {},
): Promise<tf.LayersModel> {
  try {
    return await tf.loadLayersModel(fileSystemHandler(dir), { strict: options.strict ?? true });
  } catch (error) {
    if (error instanceof UserError) throw error;
    const message = (error as Error).message;
    const unknownClass =
      /Unknown (layer|constraint|initializer|regularizer|activation)[^:]*: (\S+)/.exec(message);
    if (unknownClass) {
      throw new UserError(
        `cannot load the model in ${dir}: it uses the custom ${unknownClass[1]} '${unknownClass[2].replace(/\.$/, '')}', ` +
          'which no loaded module has registered (import the plugin that defines it before loading)',
        { cause: error },
      );
    }
    throw new UserError(`cannot load the model in ${dir}: ${message}`, { cause: error });
  }
}

/**
 * A tfjs IOHandler over a local directory. `save` writes `model.json` and one weights file,
 * each through a temporary name and a rename, so a crash never leaves a half-written model.
 */
export function fileSystemHandler(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new Error('saveModel writes layers models (JSON topology), not binary graph models');
      }
      makeDirectory(dir);
      const weightData =
        artifacts.weightData === undefined
          ? new ArrayBuffer(0)
          : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const modelJson: ModelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig !== undefined)
        modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata !== undefined) {
        modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      }
      writeAtomically(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      writeAtomically(join(dir, MODEL_JSON), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    load: async (): Promise<tf.io.ModelArtifacts> => readModelArtifacts(dir),
  };
}

function writeAtomically(file: string, data: string | Uint8Array): void {
  const temporary = `${file}.partial`;
  guardWrite(file, () => {
    try {
      writeFileSync(temporary, data);
      renameSync(temporary, file);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
  });
}

/**
 * Read a tfjs layers model from disk: `path` is a directory holding `model.json` or the JSON
 * file itself. Weight files are read as the manifest lists them, relative to the JSON file.
 */
export async function readModelArtifacts(path: string): Promise<tf.io.ModelArtifacts> {
  const jsonFile = existsSync(path) && statSync(path).isDirectory() ? join(path, MODEL_JSON) : path;
  const json = readJsonFile<ModelJson>(jsonFile);
  if (json.modelTopology === undefined) {
    throw new UserError(`${jsonFile} has no modelTopology: it is not a tfjs layers model.json`);
  }
  const manifest = json.weightsManifest ?? [];
  const { specs, data } = readWeightGroups(manifest, jsonFile);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    weightSpecs: specs,
    weightData: data,
  };
  if (json.trainingConfig !== undefined) artifacts.trainingConfig = json.trainingConfig;
  if (json.userDefinedMetadata !== undefined)
    artifacts.userDefinedMetadata = json.userDefinedMetadata;
  return artifacts;
}

/** Weight specs and their bytes, in manifest order. */
export interface WeightArtifacts {
  specs: tf.io.WeightsManifestEntry[];
  data: ArrayBuffer;
  /** The JSON file the manifest came from, for messages. */
  source: string;
}

/**
 * Read only the weights: `path` is a `model.json`, a weights manifest JSON (a list of
 * `{paths, weights}` groups, as tensorflowjs_converter writes for weights-only output), or a
 * directory holding one of them (`model.json` first, then `weights_manifest.json`).
 */
export function readWeightArtifacts(path: string): WeightArtifacts {
  if (!existsSync(path)) throw new UserError(`weights path ${path} does not exist`);
  let jsonFile = path;
  if (statSync(path).isDirectory()) {
    const candidate = [MODEL_JSON, 'weights_manifest.json']
      .map((f) => join(path, f))
      .find((f) => existsSync(f));
    if (!candidate) {
      throw new UserError(
        `no ${MODEL_JSON} or weights_manifest.json in ${path}: expected the output of tensorflowjs_converter`,
      );
    }
    jsonFile = candidate;
  }
  const json = readJsonFile<ModelJson | tf.io.WeightsManifestConfig>(jsonFile);
  const manifest = Array.isArray(json) ? json : json.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new UserError(
      `${jsonFile} has no weights manifest (weightsManifest: [{paths, weights}])`,
    );
  }
  return { ...readWeightGroups(manifest, jsonFile), source: jsonFile };
}

function readJsonFile<T>(file: string): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function readWeightGroups(
  manifest: tf.io.WeightsManifestConfig,
  jsonFile: string,
): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  const base = dirname(resolve(jsonFile));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const [g, group] of manifest.entries()) {
    if (!Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new UserError(
        `${jsonFile}: weights manifest group ${g} needs 'paths' and 'weights' lists`,
      );
    }
    for (const shard of group.paths) {
      const file = resolve(base, shard);
      const rel = relative(base, file);
      if (isAbsolute(shard) || rel.startsWith('..')) {
        throw new UserError(`${jsonFile}: weight file '${shard}' is outside the model's directory`);
      }
      if (!existsSync(file))
        throw new UserError(`${jsonFile} lists weight file '${shard}', which is missing`);
      const bytes = readFileSync(file);
      buffers.push(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      );
    }
    specs.push(...group.weights);
  }
  const data = tf.io.concatenateArrayBuffers(buffers);
  const expected = specs.reduce((sum, spec) => sum + weightByteLength(spec), 0);
  if (data.byteLength !== expected) {
    throw new UserError(
      `${jsonFile}: the weight files hold ${data.byteLength} bytes but the manifest describes ${expected} (truncated or mismatched shards?)`,
    );
  }
  return { specs, data };
}

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
  complex64: 8,
};

/** Bytes one manifest entry takes in the weight files (quantized entries store fewer). */
function weightByteLength(spec: tf.io.WeightsManifestEntry): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  if (spec.dtype === 'string') {
    throw new UserError(
      `weight ${spec.name} has dtype string, which model files for affectlab cannot hold`,
    );
  }
  const bytes = DTYPE_BYTES[dtype];
  if (bytes === undefined)
    throw new UserError(`weight ${spec.name} has an unknown dtype '${dtype}'`);
  return size * bytes;
}
