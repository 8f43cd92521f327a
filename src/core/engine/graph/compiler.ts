/**
 * The step compiler: a tfjs Layers model, the run's loss and optimizer become one TensorFlow
 * graph with
 *   - a training pass (forward in training mode, loss, accuracy, gradients, optimizer updates,
 *     batch-norm moving statistics), run as one session call per step, and
 *   - an inference pass over the same variables, for validation, evaluation and prediction.
 *
 * The arithmetic follows tfjs exactly (the eager engine is the reference): the loss and
 * optimizer plugins write their graph forms (src/plugins/losses, src/plugins/optimizers) with
 * the formulas of their tfjs forms, and the accuracy is tfjs' metric, so a graph run and an
 * eager run agree to float rounding and a resumed run continues from the same optimizer state
 * whichever engine wrote the checkpoint.
 */
import type * as tf from '@tensorflow/tfjs';
import type {
  GraphOptimizerUpdate,
  GraphWeight,
  OptimizerExtraEntry,
} from '../../../sdk/contracts/optimisation.js';
import type { Task } from '../../../sdk/contracts/data.js';
import type { EngineOptions } from '../engine.js';
import { DType, type DTypeCode, type GraphAddon } from './addon.js';
import { emitAugment, emitMix } from './augment.js';
import { GraphBuilder, type GraphVariable, type Output } from '../../../sdk/graph-builder.js';
import { graphLayerEmitter, type LayerEmitContext } from './layers.js';

const F32 = DType.float32;
const I32 = DType.int32;

type LayerVariable = tf.LayerVariable & { id: number };
type SymbolicTensor = tf.SymbolicTensor & { id: number };

/** The name of the operation that produces an output ("op:0" -> "op"). */
const opOf = (output: Output): string => output.slice(0, output.lastIndexOf(':'));

/** One optimizer's graph form: slot variables per trainable weight and its update ops. */
export interface CompiledOptimizer extends Omit<GraphOptimizerUpdate, 'updates'> {
  /** The optimizer's configured name (for messages). */
  type: string;
}

export interface CompiledStep {
  builder: GraphBuilder;
  /** One graph variable per model weight, in `model.weights` order. */
  variables: GraphVariable[];
  /** The model weights (tfjs), parallel to `variables`. */
  modelWeights: LayerVariable[];
  /** Indices into `variables` of the trainable weights, in `model.trainableWeights` order. */
  trainable: number[];
  optimizer: CompiledOptimizer;
  feeds: {
    /** float32 pixels in [0,1]; when fed, `pixels` is not read. */
    x: Output;
    /** uint8 pixels (0-255): `x` defaults to them / 255 when `x` itself is not fed. */
    pixels: Output;
    learningRate: Output;
    seed: Output;
    labels?: Output;
    valenceArousal?: Output;
    /** Augmenting engines only: the per-image parameter rows [n, AUGMENT_PARAMS]. */
    augment?: Output;
    /** Mixing engines only: each row's partner row, [inside, outside] weights, the box [1, 4]. */
    mixPartner?: Output;
    mixWeights?: Output;
    mixBox?: Output;
    /** Mixing engines only: lambda (default 1) and the partners' targets (default: own). */
    mixLambda?: Output;
    partnerLabels?: Output;
    partnerValenceArousal?: Output;
  };
  loss: Output;
  accuracy?: Output;
  /** Run this target with loss/accuracy fetched: one training step. */
  trainTarget: string;
  /** Inference-pass outputs, in model output order. */
  predictions: Output[];
  /** Every op that sets a variable from its `assignValue` feed. */
  assigns: string[];
}

interface PassResult {
  outputs: Output[];
  /** [variable index, new value] updates the pass asks for (moving statistics). */
  updates: [number, Output][];
}

/**
 * Emit one pass of the model (training or inference) from the graph input `x`. Layers come in
 * `model.layers` order, which tfjs keeps topological; each layer's single inbound node names
 * the symbolic tensors it reads and writes.
 */
function emitPass(
  b: GraphBuilder,
  model: tf.LayersModel,
  x: Output,
  training: boolean,
  variableOf: (lv: tf.LayerVariable) => number,
  reads: Output[],
  seedFeed: Output,
  batchSize: () => Output,
): PassResult {
  const values = new Map<number, Output>();
  values.set((model.inputs[0] as SymbolicTensor).id, x);
  const updates: [number, Output][] = [];
  let seedCounter = 0;
  model.layers.forEach((layer) => {
    if (layer.getClassName() === 'InputLayer') return;
    const emitter = graphLayerEmitter(layer.getClassName());
    if (!emitter) throw new Error(`graph: no graph form for layer ${layer.name}`);
    const node = layer.inboundNodes[0];
    const inputs = node.inputTensors.map((t) => {
      const v = values.get((t as SymbolicTensor).id);
      if (v === undefined)
        throw new Error(`graph: layer ${layer.name} reads a tensor not built yet`);
      return v;
    });
    const weights = layer.weights;
    const ctx: LayerEmitContext = {
      b,
      training,
      weight: (i) => {
        if (!weights[i]) throw new Error(`graph: layer ${layer.name} has no weight ${i}`);
        return reads[variableOf(weights[i])];
      },
      seed: () => {
        // a distinct stream per layer, within the step's seed
        const ordinal = ++seedCounter;
        return b.op('AddV2', [seedFeed, b.constI32([0, ordinal * 7919])], [['T', 'type', I32]]);
      },
      batchSize,
      update: (i, value) => updates.push([variableOf(weights[i]), value]),
    };
    const outputs = b.scoped(`${training ? 'train' : 'infer'}/${layer.name}`, () =>
      emitter.emit(layer, inputs, ctx),
    );
    node.outputTensors.forEach((t, i) => values.set((t as SymbolicTensor).id, outputs[i]));
  });
  const outputs = model.outputs.map((t) => {
    const v = values.get((t as SymbolicTensor).id);
    if (v === undefined) throw new Error(`graph: model output ${t.name} was not built`);
    return v;
  });
  return { outputs, updates };
}

/** tfjs' categorical accuracy: mean(argmax(p) == label). */
function accuracyOf(b: GraphBuilder, probabilities: Output, labels: Output): Output {
  const predicted = b.op(
    'ArgMax',
    [probabilities, b.constI32(1)],
    [
      ['T', 'type', F32],
      ['Tidx', 'type', I32],
      ['output_type', 'type', I32],
    ],
  );
  const equal = b.op('Equal', [predicted, labels], [['T', 'type', I32]]);
  return b.reduce('Mean', b.cast(equal, DType.bool, F32), [0]);
}

/**
 * The optimizer plugin's update as graph ops; slot variables live under `optimizer/`. Each
 * update runs after `after` (the loss and every gradient).
 */
function emitOptimizer(
  b: GraphBuilder,
  optimizer: EngineOptions['optimizer'],
  weights: GraphWeight[],
  learningRate: Output,
  after: string,
): { optimizer: CompiledOptimizer; updates: string[] } {
  const { type, plugin } = optimizer;
  if (!plugin.graphUpdate) throw new Error(`graph: optimizer ${type} has no graph form`);
  const { updates, ...state } = plugin.graphUpdate({
    b,
    weights,
    learningRate,
    control: [after],
    slotVariables: (slot) =>
      weights.map((w) => b.variable(`optimizer/${w.variable.name}/${slot}`, w.variable.shape)),
  });
  if (state.slots.length !== state.slotNames.length)
    throw new Error(
      `graph: optimizer ${type} names ${state.slotNames.length} slots but has ${state.slots.length}`,
    );
  checkExtraVariables(type, plugin.extraState?.entries ?? [], state.extraVariables ?? []);
  return { optimizer: { type, ...state }, updates };
}

/** An optimizer's graph update keeps one variable of the declared shape per extra-state entry. */
function checkExtraVariables(
  type: string,
  entries: readonly OptimizerExtraEntry[],
  variables: readonly GraphVariable[],
): void {
  const shape = (s: readonly number[]) => `[${s.join(', ')}]`;
  if (variables.length !== entries.length)
    throw new Error(
      `graph: optimizer ${type} declares ${entries.length} extra state entries but its update keeps ${variables.length}`,
    );
  entries.forEach((e, i) => {
    if (shape(e.shape) !== shape(variables[i].shape))
      throw new Error(
        `graph: optimizer ${type}: ${e.name} is ${shape(e.shape)} but its variable ${shape(variables[i].shape)}`,
      );
  });
}

/** The loss of one head as graph ops, from its loss plugin. */
function emitLoss(
  b: GraphBuilder,
  loss: EngineOptions['loss'],
  head: EngineOptions['loss']['classification'],
  predictions: Output,
  targets: Output,
  classes: number,
): Output {
  const { type, plugin } = head;
  if (!plugin.graph) throw new Error(`graph: loss ${type} has no graph form`);
  return plugin.graph({
    b,
    predictions,
    targets,
    classes,
    ...(plugin.target === 'classes' && loss.classWeights
      ? { classWeights: loss.classWeights }
      : {}),
  });
}

/** A placeholder that reads `fallback` when it is not fed. */
function withDefault(
  b: GraphBuilder,
  fallback: Output,
  dtype: DTypeCode,
  shape: readonly number[],
  name: string,
): Output {
  return b.op(
    'PlaceholderWithDefault',
    [fallback],
    [
      ['dtype', 'type', dtype],
      ['shape', 'shape', shape],
    ],
    { name },
  );
}

/**
 * The run's training loss over the heads: each head's loss from its plugin (the multi-task sum
 * weighted per head). Under `options.mixing` each head's loss is lambda x L(targets) +
 * (1 - lambda) x L(partner targets), with lambda and the partners' targets as feeds that
 * default to 1 and the batch's own targets (an unmixed step of a mixing run).
 */
function emitTaskLoss(
  b: GraphBuilder,
  options: EngineOptions,
  outputs: Output[],
  feeds: CompiledStep['feeds'],
): Output {
  const { task, loss } = options;
  const classes = task.classes.length;
  // one head's loss of the batch's own targets, or under mixing of both halves
  let mixed = (one: (targets: Output) => Output, own: Output, _partner?: Output): Output =>
    one(own);
  if (options.mixing) {
    const lambda = withDefault(b, b.constF32(1), F32, [], 'mix_lambda');
    const rest = b.sub(b.constF32(1), lambda);
    feeds.mixLambda = lambda;
    if (feeds.labels)
      feeds.partnerLabels = withDefault(b, feeds.labels, I32, [-1], 'partner_labels');
    if (feeds.valenceArousal)
      feeds.partnerValenceArousal = withDefault(
        b,
        feeds.valenceArousal,
        F32,
        [-1, 2],
        'partner_valence_arousal',
      );
    mixed = (one, own, partner) => b.add(b.mul(one(own), lambda), b.mul(one(partner!), rest));
  }
  const classification = (predictions: Output): Output =>
    mixed(
      (t) => emitLoss(b, loss, loss.classification, predictions, t, classes),
      feeds.labels!,
      feeds.partnerLabels,
    );
  const regression = (predictions: Output): Output =>
    mixed(
      (t) => emitLoss(b, loss, loss.regression, predictions, t, 0),
      feeds.valenceArousal!,
      feeds.partnerValenceArousal,
    );
  if (task.kind === 'classification') return classification(outputs[0]);
  if (task.kind === 'valence-arousal') return regression(outputs[0]);
  return b.add(
    b.mul(classification(outputs[0]), b.constF32(loss.expressionWeight)),
    b.mul(regression(outputs[1]), b.constF32(loss.regressionWeight)),
  );
}

/** One graph variable per model weight, and the lookup from a tfjs weight to its index. */
function emitVariables(b: GraphBuilder, model: tf.LayersModel) {
  const modelWeights = model.weights as LayerVariable[];
  const index = new Map<number, number>();
  const variables = modelWeights.map((lv, i) => {
    index.set(lv.id, i);
    return b.variable(`weights/${lv.name}`, lv.shape as number[]);
  });
  const variableOf = (lv: tf.LayerVariable): number => {
    const i = index.get((lv as LayerVariable).id);
    if (i === undefined) throw new Error(`graph: weight ${lv.name} is not one of the model's`);
    return i;
  };
  const trainable = (model.trainableWeights as LayerVariable[]).map((lv) => variableOf(lv));
  return { modelWeights, variables, variableOf, reads: variables.map((v) => v.read), trainable };
}

/**
 * The step's inputs. The batch comes as float32 (feed `x`) or as uint8 (feed `pixels`: a
 * quarter of the bytes and no conversion in JS). Cast is exact and RealDiv is IEEE division,
 * correctly rounded, so both feeds give `x` the bits of the pipeline's Math.fround(v / 255).
 * The 255 is a feedable default, not a constant: TensorFlow's optimizer turns a division by a
 * constant into a multiplication by its reciprocal, one ulp off at 126 of the 256 bytes. (A
 * lookup in the table of v / 255 was exact too, but a GatherV2 per pixel made a 256 px step 4x
 * slower.)
 */
function emitInputs(b: GraphBuilder, inputShape: number[]) {
  const pixels = b.placeholder('pixels', DType.uint8, [-1, ...inputShape]);
  const divisor = withDefault(b, b.constF32(255), F32, [], 'pixel_scale');
  const unit = b.div(b.cast(pixels, DType.uint8, F32), divisor, 'unit_pixels');
  const x = withDefault(b, unit, F32, [-1, ...inputShape], 'x');
  const learningRate = b.placeholder('learning_rate', F32, []);
  const seed = b.placeholder('step_seed', I32, [2]);
  let cached: Output | undefined;
  const batchSize = (): Output =>
    (cached ??= b.op(
      'StridedSlice',
      [b.shape(x), b.constI32([0]), b.constI32([1]), b.constI32([1])],
      [
        ['T', 'type', I32],
        ['Index', 'type', I32],
      ],
      { name: 'batch_size' },
    ));
  return { pixels, x, learningRate, seed, batchSize };
}

/**
 * What the training pass reads: `x` augmented per image (options.augment) and then mixed
 * (options.mixing), with the feeds that drive both added to `feeds`. The inference pass reads
 * `x` itself: evaluation and prediction never augment.
 */
function emitTrainingInput(
  b: GraphBuilder,
  options: EngineOptions,
  inputShape: number[],
  feeds: CompiledStep['feeds'],
  batchSize: () => Output,
): Output {
  const [height, width, channels] = inputShape;
  const image = { height, width, channels };
  let input = feeds.x;
  const augmented = b.scoped('step', () =>
    emitAugment(b, input, options.augment, image, options.seed),
  );
  if (augmented) {
    feeds.augment = augmented.params;
    input = augmented.output;
  }
  if (options.mixing) {
    const mixed = b.scoped('step', () => emitMix(b, input, image, batchSize));
    feeds.mixPartner = mixed.partner;
    feeds.mixWeights = mixed.weights;
    feeds.mixBox = mixed.box;
    input = mixed.output;
  }
  return input;
}

/**
 * Gradients of the loss w.r.t. the trainable weights' reads, and the optimizer's updates and
 * the passes' moving statistics, all after everything the step computes.
 */
function emitUpdates(
  b: GraphBuilder,
  options: EngineOptions,
  vars: ReturnType<typeof emitVariables>,
  statisticsUpdates: [number, Output][],
  loss: Output,
  accuracy: Output | undefined,
  learningRate: Output,
): { optimizer: CompiledOptimizer; trainTarget: string } {
  const { variables, reads, trainable } = vars;
  const gradients = trainable.length
    ? b.addon.addGradients(
        b.graph,
        [loss],
        trainable.map((i) => reads[i]),
        'gradients',
      )
    : [];
  const weightGrads = trainable.map((i, k) => ({
    variable: variables[i],
    read: reads[i],
    gradient:
      gradients[k] ||
      // no path from the loss (an unused weight): its gradient is zero, as in tfjs
      b.op('ZerosLike', [reads[i]], [['T', 'type', F32]]),
  }));
  // every update runs after the loss, the accuracy and every gradient are computed, so no read
  // of this step sees a value written in it
  const computed = b.group('step/computed', [
    opOf(loss),
    ...(accuracy ? [opOf(accuracy)] : []),
    ...weightGrads.map((w) => opOf(w.gradient)),
  ]);
  const { optimizer, updates } = b.scoped('optimizer', () =>
    emitOptimizer(b, options.optimizer, weightGrads, learningRate, computed),
  );
  const statistics = statisticsUpdates.map(([i, value]) =>
    b.assignVariable(variables[i].handle, value, [computed]),
  );
  return { optimizer, trainTarget: b.group('step/train', [...updates, ...statistics]) };
}

/** Compile the training step and the inference pass of `options.model`. */
export function compileStep(addon: GraphAddon, options: EngineOptions): CompiledStep {
  const { model, task } = options;
  const b = new GraphBuilder(addon);
  const inputShape = (model.inputs[0].shape as (number | null)[]).slice(1) as number[];
  const vars = emitVariables(b, model);
  const { variables, variableOf, reads } = vars;
  const { pixels, x, learningRate, seed, batchSize } = emitInputs(b, inputShape);
  const feeds: CompiledStep['feeds'] = { x, pixels, learningRate, seed };
  const trainInput = emitTrainingInput(b, options, inputShape, feeds, batchSize);

  const train = b.scoped('step', () =>
    emitPass(b, model, trainInput, true, variableOf, reads, seed, batchSize),
  );
  const infer = emitPass(b, model, x, false, variableOf, reads, seed, batchSize);

  // the loss and accuracy of the training pass
  const { loss, accuracy } = b.scoped('loss', () => {
    if (task.kind !== 'valence-arousal') feeds.labels = b.placeholder('labels', I32, [-1]);
    if (task.kind !== 'classification')
      feeds.valenceArousal = b.placeholder('valence_arousal', F32, [-1, 2]);
    return {
      loss: emitTaskLoss(b, options, train.outputs, feeds),
      accuracy:
        task.kind === 'classification' ? accuracyOf(b, train.outputs[0], feeds.labels!) : undefined,
    };
  });
  const { optimizer, trainTarget } = emitUpdates(
    b,
    options,
    vars,
    train.updates,
    loss,
    accuracy,
    learningRate,
  );
  const assigns = [
    ...variables.map((v) => v.assign),
    ...optimizer.slots.flat().map((v) => v.assign),
    ...(optimizer.extraVariables ?? []).map((v) => v.assign),
  ];
  return {
    builder: b,
    variables,
    modelWeights: vars.modelWeights,
    trainable: vars.trainable,
    optimizer,
    feeds,
    loss,
    accuracy,
    trainTarget,
    predictions: infer.outputs,
    assigns,
  };
}

/** Whether a task's outputs are what the compiler expects of the model. */
export function taskOutputsSupported(model: tf.LayersModel, task: Task): string | undefined {
  const expected = task.kind === 'expression+valence-arousal' ? 2 : 1;
  return model.outputs.length === expected
    ? undefined
    : `${model.outputs.length} outputs for a ${task.kind} task (${expected} expected)`;
}
