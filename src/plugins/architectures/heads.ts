import * as tf from '@tensorflow/tfjs';
import { UserError, Enum, type Static, type ModelRequest, type Task } from '../../sdk/index.js';
import type { TObject } from '@sinclair/typebox';

/**
 * The task heads every architecture ends in, built in one place so every backbone (built-in or
 * a user's plugin) answers a task the same way, with the same output names the runner and the
 * loss address:
 *
 * - `classification`: Dense(classes) → softmax, output `expression`;
 * - `valence-arousal`: Dense(2) → linear (or tanh), output `valence_arousal` = [valence, arousal];
 * - `expression+valence-arousal`: both on the same features, outputs in the order
 *   [expression, valence_arousal].
 *
 * Dense and activation are separate layers, as in the report's Keras listing (Appendix C).
 */

export const EXPRESSION_OUTPUT = 'expression';
export const VALENCE_AROUSAL_OUTPUT = 'valence_arousal';

export const REGRESSION_ACTIVATIONS = ['linear', 'tanh'] as const;
export type RegressionActivation = (typeof REGRESSION_ACTIVATIONS)[number];
/** The schema's default, and what `buildTaskHeads` uses when a caller's options leave it out. */
const DEFAULT_REGRESSION_HEAD: RegressionActivation = 'linear';

/**
 * Option schema properties for the heads: spread them into an architecture's `Options({...})`
 * (or, in a plain-JavaScript plugin, its JSON Schema `properties`). `linear` (the default) is
 * the AffectNet paper's regression baseline; `tanh` bounds predictions to the labels' [-1, 1].
 */
export const headOptionsSchema = {
  regressionHead: Enum(REGRESSION_ACTIVATIONS, {
    default: DEFAULT_REGRESSION_HEAD,
    description:
      'Valence/arousal output activation: linear (the AffectNet paper) or tanh (bounded to the labels\u2019 [-1, 1]).',
  }),
};

export type HeadOptions = Static<TObject<typeof headOptionsSchema>>;

/** Names of the model outputs a task asks for, in output order. */
export function taskOutputNames(task: Task): string[] {
  switch (task.kind) {
    case 'classification':
      return [EXPRESSION_OUTPUT];
    case 'valence-arousal':
      return [VALENCE_AROUSAL_OUTPUT];
    case 'expression+valence-arousal':
      return [EXPRESSION_OUTPUT, VALENCE_AROUSAL_OUTPUT];
  }
}

/** The head outputs for `task` on a flat feature vector `[batch, n]`, in `taskOutputNames` order. */
export function buildTaskHeads(
  features: tf.SymbolicTensor,
  task: Task,
  options: Partial<HeadOptions> = {},
): tf.SymbolicTensor[] {
  if (features.shape.length !== 2) {
    throw new Error(
      `task heads take flat features [batch, n], got shape [${features.shape.join(', ')}]: flatten or pool first`,
    );
  }
  const regression = options.regressionHead ?? DEFAULT_REGRESSION_HEAD;
  return taskOutputNames(task).map((output) =>
    output === EXPRESSION_OUTPUT
      ? expressionHead(features, task)
      : valenceArousalHead(features, regression),
  );
}

function expressionHead(features: tf.SymbolicTensor, task: Task): tf.SymbolicTensor {
  const classes = task.classes.length;
  if (classes < 2) {
    throw new UserError(
      `a ${task.kind} task needs at least 2 expression classes for its softmax head; it has ${classes}`,
    );
  }
  const logits = tf.layers
    .dense({ units: classes, name: `${EXPRESSION_OUTPUT}_dense` })
    .apply(features);
  return tf.layers
    .activation({ activation: 'softmax', name: EXPRESSION_OUTPUT })
    .apply(logits) as tf.SymbolicTensor;
}

function valenceArousalHead(
  features: tf.SymbolicTensor,
  activation: RegressionActivation,
): tf.SymbolicTensor {
  const raw = tf.layers
    .dense({ units: 2, name: `${VALENCE_AROUSAL_OUTPUT}_dense` })
    .apply(features);
  return tf.layers
    .activation({ activation, name: VALENCE_AROUSAL_OUTPUT })
    .apply(raw) as tf.SymbolicTensor;
}

/** A functional model from `input` through `features` to the task's heads. */
export function buildTaskModel(
  input: tf.SymbolicTensor,
  features: tf.SymbolicTensor,
  request: ModelRequest,
  options: Partial<HeadOptions> & { name: string },
): tf.LayersModel {
  const outputs = buildTaskHeads(features, request.task, options);
  return tf.model({
    inputs: input,
    outputs: outputs.length === 1 ? outputs[0] : outputs,
    name: options.name,
  });
}

/**
 * Keras-style per-model layer names (`conv2d`, `conv2d_1`, ...), so a model's layers are named
 * the same on every build (tfjs' automatic names count across the whole process) and match
 * what Keras names the same listing, which lets Keras-converted weights map by name.
 */
export class LayerNames {
  private readonly counts = new Map<string, number>();

  next(base: string): string {
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }
}

/** Fail with a clear message when the input is too small for an architecture's downsampling. */
export function requireInputSide(
  architecture: string,
  inputShape: readonly number[],
  minimum: number,
): void {
  const [height, width] = inputShape;
  if (height < minimum || width < minimum) {
    throw new UserError(
      `${architecture} needs an input of at least ${minimum}x${minimum} pixels, but the dataset gives ${height}x${width} ` +
        '(raise the dataset\u2019s imageSize)',
    );
  }
}
