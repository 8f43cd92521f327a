/**
 * A finished (or checkpointed) run opened for use: its resolved config, task, input and model
 * (`openTrainedRun` in open-trained-run.ts opens one), and what an export says of its model.
 */
import type * as tf from '@tensorflow/tfjs';
import type { ResolvedExperiment } from '../config/compose.js';
import type { CropMode, DatasetPlugin, ImageSpec, Task } from '../../sdk/contracts/data.js';
import type { RunRecord, RunStore } from '../reporting/run-store.js';

export interface TrainedRun {
  store: RunStore;
  runDir: string;
  runId: string;
  experiment: string;
  record: RunRecord;
  /** The run's saved config.yaml, resolved again (plus any overrides given). */
  resolved: ResolvedExperiment;
  task: Task;
  image: ImageSpec;
  /** The face-box margin the run's image pipeline used. */
  margin: number;
  /** How the run cropped faces (its dataset's `crop`); predict prepares detected faces so. */
  crop: CropMode;
  /** The tfjs model directory scored: `model/`, else the best or last checkpoint's. */
  modelDir: string;
  /** Which of those it is, for messages and records. */
  modelSource: 'model' | 'checkpoints/best' | 'checkpoints/last';
  /** The run's dataset plugin, built from its (possibly overridden) options. */
  dataset: DatasetPlugin;
  loadModel(): Promise<tf.LayersModel>;
}

/**
 * What a consumer of an exported model must know to feed it: the input (NHWC float32, pixel
 * / 255, RGB or luminance), the preprocessing the run trained with, and the outputs.
 */
export interface ModelDescription {
  runId: string;
  experiment: string;
  task: Task['kind'];
  classes: { index: number; code: number; name: string }[];
  input: {
    shape: [number, number, number];
    layout: 'NHWC';
    dtype: 'float32';
    /** x = pixel / 255 (the model's own layers do any further normalisation). */
    scale: number;
    colour: 'rgb' | 'luminance';
  };
  preprocessing: {
    /** The face box grown by this fraction of its size on each side, then cropped. */
    faceBoxMargin: number;
    /**
     * `face-box`: the upright box; `aligned`: the box turned about its centre by the angle of the
     * eye line (eye centres = means of landmarks 36-41 and 42-47), so the eyes are level, bilinear
     * samples at the image's scale; `full`: the whole image.
     */
    crop: CropMode;
    /** How the crop (or whole image) becomes the input: stretched to fill, bilinear. */
    resize: 'fill, bilinear';
  };
  outputs: { name: string; shape: number[]; meaning: string }[];
}

export function describeModel(run: TrainedRun): ModelDescription {
  const { task, image } = run;
  const outputs: ModelDescription['outputs'] = [];
  if (task.kind !== 'valence-arousal')
    outputs.push({
      name: 'expression',
      shape: [-1, task.classes.length],
      meaning: `softmax probabilities of ${task.classes.map((c) => c.name).join(', ')}`,
    });
  if (task.kind !== 'classification')
    outputs.push({
      name: 'valence_arousal',
      shape: [-1, 2],
      meaning: 'valence and arousal, each in [-1, 1]',
    });
  return {
    runId: run.runId,
    experiment: run.experiment,
    task: task.kind,
    classes: task.classes.map((c) => ({ index: c.index, code: c.code, name: c.name })),
    input: {
      shape: [image.height, image.width, image.channels],
      layout: 'NHWC',
      dtype: 'float32',
      scale: 1 / 255,
      colour: image.channels === 1 ? 'luminance' : 'rgb',
    },
    preprocessing: { faceBoxMargin: run.margin, crop: run.crop, resize: 'fill, bilinear' },
    outputs,
  };
}
