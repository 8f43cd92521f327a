/**
 * The runner's training engine for an experiment file, built exactly as a run builds it (the
 * prepared splits' model request, the configured optimizer and losses, `training.execution`'s
 * choice), with one random in-memory batch: what bench/train-worker.ts and bench/profile-step.ts
 * time.
 */
import * as tf from '@tensorflow/tfjs';
import {
  buildTrainingPlugins,
  createEngine,
  decideEngine,
  headLossPlugins,
  type ArchitecturePlugin,
  type DatasetPlugin,
  type ModelRequest,
  type Runtime,
  type TrainingEngine,
} from '../src/index.js';

export interface StepEngine {
  engine: TrainingEngine;
  batch: number;
  shape: [number, number, number, number];
  /** Pixels in [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
}

export async function buildStepEngine(
  runtime: Runtime,
  experiment: string,
  work: string,
  execution: 'eager' | 'graph',
): Promise<StepEngine> {
  const resolved = await runtime.resolve(experiment);
  const { config } = resolved;
  const scope = runtime.createRunContainer(resolved, work);
  const dataset = runtime.instantiate<DatasetPlugin>(scope, 'dataset', config.dataset);
  const architecture = runtime.instantiate<ArchitecturePlugin>(
    scope,
    'architecture',
    config.architecture,
  );
  const { image, task } = await dataset.prepare();
  const request: ModelRequest = { inputShape: [image.height, image.width, image.channels], task };
  const model = await architecture.build(request);
  const plugins = buildTrainingPlugins(runtime, scope, config.training);
  const loss = {
    classification: plugins.classification,
    regression: plugins.regression,
    expressionWeight: 1,
    regressionWeight: 1,
  };
  const engine = await createEngine(
    await decideEngine(execution, 'tensorflow', model, request.task, {
      optimizer: plugins.optimizer,
      losses: headLossPlugins(request.task, loss),
    }),
    { model, task: request.task, loss, optimizer: plugins.optimizer, seed: 1 },
  );
  const batch = config.training.batchSize;
  const classes = request.task.classes.length;
  const shape = [batch, ...request.inputShape] as [number, number, number, number];
  const x = tf.randomUniform(shape, 0, 1, 'float32', 1).dataSync() as Float32Array;
  const labels = tf.randomUniform([batch], 0, classes, 'int32', 2).dataSync() as Int32Array;
  return { engine, batch, shape, x, labels };
}
