/** Opening a run by directory or id for predict, evaluate and export. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../sdk/errors.js';
import { loadModel, MODEL_JSON } from '../training/model-io.js';
import type { ClassInfo, DatasetPlugin } from '../../sdk/contracts/data.js';
import type { Runtime } from '../host/runtime.js';
import { RunStore } from '../reporting/run-store.js';
import { BackendService } from '../training/backend.js';
import type { TrainedRun } from './trained-run.js';

export interface OpenRunOptions {
  /** Where run ids are looked up (default `runs`). */
  runsRoot?: string;
  /** `--set` overrides applied to the run's saved config (evaluate on another data set). */
  overrides?: string[];
  cacheDir?: string;
}

/**
 * Open a run by directory or id. The saved config.yaml is resolved again, so the data set's
 * preprocessing (input size, channels, face-box margin) is the one the run trained with.
 */
export async function openTrainedRun(
  runtime: Runtime,
  runDirOrId: string,
  options: OpenRunOptions = {},
): Promise<TrainedRun> {
  const store = RunStore.open(runDirOrId, options.runsRoot ?? 'runs');
  const configFile = store.path('config.yaml');
  if (!existsSync(configFile))
    throw new UserError(`${store.dir} has no config.yaml: it is not an affectlab run directory`);
  const resolved = await runtime.resolve(configFile, {
    overrides: options.overrides ?? [],
    allowUnresolvedEnv: true,
  });
  const scope = runtime.createRunContainer(resolved, options.cacheDir ?? '.cache/affectlab');
  const dataset = runtime.instantiate<DatasetPlugin>(scope, 'dataset', resolved.config.dataset);
  if (typeof dataset.describeTask !== 'function') {
    throw new UserError(
      `dataset plugin '${resolved.config.dataset.type}' of ${store.dir} cannot describe its task ` +
        'without data (describeTask), which predict, evaluate and export need',
    );
  }
  const request = dataset.describeTask();
  const [height, width, channels] = request.inputShape;
  const savedClasses = readClassMap(store);
  if (savedClasses && !sameClasses(savedClasses, request.task.classes)) {
    throw new UserError(
      `${store.dir}: the model was trained on classes ${names(savedClasses)} (class_map.json), ` +
        `but the config now gives ${names(request.task.classes)}; the classes cannot change after training`,
    );
  }
  const candidates: TrainedRun['modelSource'][] = ['model', 'checkpoints/best', 'checkpoints/last'];
  const modelSource = candidates.find((c) =>
    existsSync(join(store.path(c === 'model' ? c : `${c}/model`), MODEL_JSON)),
  );
  if (!modelSource) {
    throw new UserError(
      `${store.dir} holds no model (no model/, checkpoints/best/model or checkpoints/last/model): ` +
        'the run ended before its first epoch',
    );
  }
  const modelDir = store.path(modelSource === 'model' ? 'model' : `${modelSource}/model`);
  const record = store.readRecord();
  return {
    store,
    runDir: store.dir,
    runId: store.runId,
    experiment: record.experiment ?? resolved.config.name,
    record,
    resolved,
    task: request.task,
    image: { height, width, channels: channels as 1 | 3 },
    margin: dataset.pipeline.margin,
    crop: dataset.pipeline.crop ?? 'face-box',
    modelDir,
    modelSource,
    dataset,
    loadModel: async () => {
      // the backend first (already active when predict/evaluate chose one): a model loaded
      // before any backend is active lands on tfjs' pure-JS one, which prints tfjs' banner
      // asking for the node backend that is installed
      await runtime.container.resolve(BackendService).activate();
      const model = await loadModel(modelDir);
      checkModelShape(model, height, width, channels, store.dir);
      return model;
    },
  };
}

function readClassMap(store: RunStore): ClassInfo[] | undefined {
  const file = store.path('class_map.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ClassInfo[];
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

const names = (classes: readonly ClassInfo[]): string =>
  classes.length ? classes.map((c) => c.name).join(', ') : '(none: regression)';

function sameClasses(a: readonly ClassInfo[], b: readonly ClassInfo[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i].name && c.code === b[i].code);
}

function checkModelShape(
  model: tf.LayersModel,
  height: number,
  width: number,
  channels: number,
  runDir: string,
): void {
  const shape = model.inputs[0]?.shape ?? [];
  const expected = [height, width, channels];
  if (shape.length !== 4 || expected.some((v, i) => shape[i + 1] !== null && shape[i + 1] !== v)) {
    throw new UserError(
      `${runDir}: the model takes input ${JSON.stringify(shape)}, but the config's data set gives ` +
        `${height}x${width}x${channels} images; an evaluation may not change dataset.imageSize or channels`,
    );
  }
}
