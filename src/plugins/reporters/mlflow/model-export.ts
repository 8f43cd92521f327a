/**
 * `export --format mlflow`: the run's model as an MLflow model, in MLflow's `keras` flavor
 * (with `python_function`), so `mlflow.pyfunc.load_model` and `mlflow.keras.load_model` load it
 * in Python and it can be registered. The Keras file comes from the `keras` export format
 * (keras-file.ts, no Python); this writes what MLflow reads around it (MLmodel with a signature,
 * an input example, the environment files, `code/` with the pyfunc loader and the Keras classes
 * of layers Keras lacks) and, when the run reported to MLflow, logs the folder to that MLflow
 * run as an MLflow 3 LoggedModel. The mlflow reporter runs this at the end of every finished run.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import {
  UserError,
  type ExportContext,
  type ExportFormat,
  describeModel,
  RunStore,
  KERAS_LAYERS_MODULE,
  TENSORFLOW_VERSION,
} from '../../../sdk/index.js';
import { artifactMode, writeLocalArtifact } from './artifact-root.js';
import { kerasFile } from '../../exporters/keras-file.js';
import { MlflowClient, redactUrl, type MlflowMetric } from './client.js';
import { readState } from './delivery.js';

/** The versions the exported environment names: the project's pinned Python stack. */
export const MLFLOW_MODEL_ENV = {
  python: '3.11',
  mlflow: '3.17.2',
  keras: '3.15.1',
  tensorflow: TENSORFLOW_VERSION,
  numpy: '2.0.2',
} as const;

/** Where an MLflow run keeps the model (`runs:/<id>/model`). */
export const MLFLOW_MODEL_PATH = 'model';

const tensorSpec = (shape: number[], name?: string): Record<string, unknown> => ({
  ...(name ? { name } : {}),
  type: 'tensor',
  'tensor-spec': { dtype: 'float32', shape },
});

/** The model's `code_paths` folder and the pyfunc loader module in it. */
const CODE_DIR = 'code';
const LOADER_MODULE = 'affectlab_mlflow_loader';

/**
 * mlflow.keras' pyfunc loader, after importing the Keras classes of layers Keras lacks (when the
 * model has any), so `mlflow.pyfunc.load_model` needs nothing but the model folder.
 */
const loaderSource = (
  layers: boolean,
): string => `"""pyfunc loader of an affectlab MLflow model (written by affectlab export).

Registers the Keras classes of the model's custom layers (${KERAS_LAYERS_MODULE}, beside this
file) and loads the model as mlflow.keras does. With mlflow.keras.load_model, import
${KERAS_LAYERS_MODULE} from this folder first."""
${layers ? `import ${KERAS_LAYERS_MODULE}  # noqa: F401  (registers the classes)\n` : ''}from mlflow.keras.load import _load_pyfunc  # noqa: F401
`;

/** Write `code/`: the loader and, if given, the layers module; returns the layer classes shipped. */
function writeCode(outDir: string, layersModule: string | undefined): { layers?: string } {
  const dir = join(outDir, CODE_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${LOADER_MODULE}.py`), loaderSource(layersModule !== undefined));
  if (!layersModule) return {};
  copyFileSync(layersModule, join(dir, `${KERAS_LAYERS_MODULE}.py`));
  return { layers: `${CODE_DIR}/${KERAS_LAYERS_MODULE}.py` };
}

async function writeMlflowModel(
  context: ExportContext,
): Promise<{ files: string[]; route: string }> {
  const { run, outDir } = context;
  const dataDir = join(outDir, 'data');
  const kerasOut = join(outDir, '.keras-export');
  // MLflow's keras flavor returns one numpy array: the multi-task model's two outputs side by side
  const keras = await kerasFile(context, kerasOut, { concatenate: true });
  mkdirSync(dataDir, { recursive: true });
  // mlflow.keras loads data/model.keras (flavor option data: data)
  copyFileSync(keras.path, join(dataDir, 'model.keras'));
  const code = writeCode(outDir, keras.layersModule);
  // the keras format's own folder is not part of the MLflow model
  rmSync(kerasOut, { recursive: true, force: true });
  writeFileSync(join(dataDir, 'keras_module.txt'), 'keras');

  const description = describeModel(run);
  const [h, w, c] = description.input.shape;
  const width = description.outputs.reduce((sum, o) => sum + o.shape[1], 0);
  const outputs = [tensorSpec([-1, width])];
  const columns = [
    ...description.classes.map((cls) => cls.name),
    ...(description.task === 'classification' ? [] : ['valence', 'arousal']),
  ];
  // a mid-grey image: the input's shape and scale, no one's face
  const grey = Array.from({ length: h }, () =>
    Array.from({ length: w }, () => new Array<number>(c).fill(0.5)),
  );
  writeFileSync(join(outDir, 'input_example.json'), JSON.stringify([grey]));
  writeFileSync(
    join(outDir, 'serving_input_example.json'),
    JSON.stringify({ inputs: [grey] }, null, 2),
  );
  const requirements = [
    `mlflow==${MLFLOW_MODEL_ENV.mlflow}`,
    `keras==${MLFLOW_MODEL_ENV.keras}`,
    `tensorflow-cpu==${MLFLOW_MODEL_ENV.tensorflow}`,
    `numpy==${MLFLOW_MODEL_ENV.numpy}`,
  ];
  writeFileSync(join(outDir, 'requirements.txt'), requirements.join('\n') + '\n');
  writeFileSync(
    join(outDir, 'python_env.yaml'),
    stringify({
      python: MLFLOW_MODEL_ENV.python,
      build_dependencies: ['pip'],
      dependencies: ['-r requirements.txt'],
    }),
  );
  writeFileSync(
    join(outDir, 'conda.yaml'),
    stringify({
      channels: ['conda-forge'],
      dependencies: [`python=${MLFLOW_MODEL_ENV.python}`, 'pip', { pip: requirements }],
      name: 'mlflow-env',
    }),
  );
  writeFileSync(join(outDir, 'affectlab-model.json'), JSON.stringify(description, null, 2) + '\n');
  const mlflowRun = readState(run.runDir)?.runId;
  const size = new RunStore(outDir)
    .files()
    .reduce((sum, f) => sum + statSync(join(outDir, f)).size, 0);
  const mlmodel = {
    artifact_path: MLFLOW_MODEL_PATH,
    flavors: {
      keras: {
        data: 'data',
        keras_backend: 'tensorflow',
        keras_version: MLFLOW_MODEL_ENV.keras,
        save_exported_model: false,
      },
      // no `data` here: the loader is given the model's root (as mlflow.keras.save_model writes
      // it); MLflow puts `code` on sys.path and imports the loader from it
      python_function: {
        code: CODE_DIR,
        env: { conda: 'conda.yaml', virtualenv: 'python_env.yaml' },
        loader_module: LOADER_MODULE,
        python_version: MLFLOW_MODEL_ENV.python,
      },
    },
    metadata: {
      affectlab_run_id: run.runId,
      affectlab_experiment: run.experiment,
      task: description.task,
      ...(code.layers ? { custom_keras_layers: code.layers } : {}),
      classes: description.classes.map((cls) => cls.name),
      output_columns: columns,
      preprocessing: `NHWC float32, pixel / 255, ${description.input.colour}, ${h}x${w}; face box + ${description.preprocessing.faceBoxMargin} margin, ${description.preprocessing.resize}`,
    },
    mlflow_version: MLFLOW_MODEL_ENV.mlflow,
    model_size_bytes: size,
    model_uuid: randomUUID().replace(/-/g, ''),
    ...(mlflowRun ? { run_id: mlflowRun } : {}),
    saved_input_example_info: {
      artifact_path: 'input_example.json',
      type: 'ndarray',
      serving_input_path: 'serving_input_example.json',
    },
    signature: {
      inputs: JSON.stringify([tensorSpec([-1, h, w, c])]),
      outputs: JSON.stringify(outputs),
      params: null,
    },
    utc_time_created: new Date().toISOString().replace('T', ' ').replace('Z', ''),
  };
  writeFileSync(join(outDir, 'MLmodel'), stringify(mlmodel));
  return { files: new RunStore(outDir).files(), route: keras.route };
}

/** One file to an artifact location: through the server's proxy, or written to a local root. */
async function putArtifact(
  client: MlflowClient,
  artifactUri: string,
  path: string,
  data: Uint8Array,
): Promise<void> {
  const mode = artifactMode(artifactUri);
  if (mode.kind === 'unusable')
    throw new UserError(
      `the MLflow model's artifact location '${redactUrl(artifactUri)}' cannot be used: ${mode.reason}`,
    );
  if (mode.kind === 'local') writeLocalArtifact(mode.dir, path, data);
  else await client.uploadArtifact(artifactUri, path, data);
}

/** The run's final-evaluation metrics (MLflow's `test/…` sections), to link to its model. */
const evaluationMetrics = (metrics: MlflowMetric[], modelId: string): MlflowMetric[] =>
  metrics
    .filter((m) => /^(test|validation)(_norm|_class)?\//.test(m.key))
    .map((m) => ({ ...m, modelId }));

/**
 * Log the model folder as an MLflow 3 LoggedModel of the MLflow run the affectlab run reported
 * to, if any: created (PENDING) with the run as its source, the files uploaded under its own
 * artifact location, finalised READY, the run's evaluation metrics linked to it and the model
 * recorded as the run's output. Returns the run and model ids.
 */
async function logToMlflowRun(
  context: ExportContext,
  files: string[],
): Promise<{ runId: string; modelId: string } | undefined> {
  const state = readState(context.run.runDir);
  if (!state?.runId) return undefined;
  const client = new MlflowClient({ trackingUri: state.trackingUri });
  const run = await client.getRun(state.runId);
  const mlmodelPath = join(context.outDir, 'MLmodel');
  const mlmodel = parse(readFileSync(mlmodelPath, 'utf8')) as Record<string, unknown>;
  const metadata = mlmodel.metadata as Record<string, unknown>;
  const model = await client.createLoggedModel({
    experimentId: run.info.experimentId,
    name: MLFLOW_MODEL_PATH,
    sourceRunId: state.runId,
    modelType: 'keras',
    params: [
      { key: 'architecture', value: String(context.run.resolved.config.architecture.type) },
      { key: 'model_source', value: context.run.modelSource },
    ],
    tags: [
      { key: 'affectlab.run', value: context.run.runId },
      { key: 'affectlab.task', value: String(metadata.task) },
      { key: 'affectlab.classes', value: JSON.stringify(metadata.classes) },
      { key: 'affectlab.preprocessing', value: String(metadata.preprocessing) },
    ],
  });
  // the MLmodel names the LoggedModel, as MLflow's own log_model writes it
  writeFileSync(mlmodelPath, stringify({ ...mlmodel, model_id: model.modelId }));
  try {
    for (const file of files)
      await putArtifact(client, model.artifactUri, file, readFileSync(join(context.outDir, file)));
  } catch (error) {
    await client.finalizeLoggedModel(model.modelId, 'LOGGED_MODEL_UPLOAD_FAILED').catch(() => {});
    throw error;
  }
  await client.finalizeLoggedModel(model.modelId, 'LOGGED_MODEL_READY');
  const metrics = evaluationMetrics(run.metrics, model.modelId);
  const step = Math.max(0, ...metrics.map((m) => m.step));
  await client.logBatch(state.runId, {
    metrics,
    tags: [{ key: 'affectlab.mlflow_model', value: `models:/${model.modelId}` }],
  });
  await client.logOutputs(state.runId, [{ modelId: model.modelId, step }]);
  return { runId: state.runId, modelId: model.modelId };
}

export const mlflowModelExportFormat: ExportFormat = {
  name: 'mlflow',
  description:
    "MLflow model (keras flavor + python_function, signature, input example); logged to the run's MLflow run",
  async export(context) {
    const { files, route } = await writeMlflowModel(context);
    const notes = [
      `MLflow model of ${context.run.runId} (Keras file from ${route}): mlflow.pyfunc.load_model('${context.outDir}') in a Python with ` +
        `mlflow, keras ${MLFLOW_MODEL_ENV.keras} and tensorflow (requirements.txt)`,
    ];
    const logged = await logToMlflowRun(context, files);
    if (logged)
      notes.push(
        `logged to MLflow run ${logged.runId} as model ${logged.modelId}: ` +
          `mlflow.pyfunc.load_model('models:/${logged.modelId}') (or 'runs:/${logged.runId}/${MLFLOW_MODEL_PATH}'); ` +
          `register it with mlflow.register_model('models:/${logged.modelId}', '<name>')`,
      );
    else notes.push(`${basename(context.run.runDir)} did not report to MLflow: nothing logged`);
    return { path: context.outDir, files, notes };
  },
};
