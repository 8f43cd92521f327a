/**
 * The step compiler: a tfjs Layers model, the run's loss and optimizer become one TensorFlow
 * graph with
 *   - a training pass (forward in training mode, loss, accuracy, gradients, optimizer updates,
 *     batch-norm moving statistics), run as one session call per step, and
 *   - an inference pass over the same variables, for validation, evaluation and prediction.
 *
 * The arithmetic follows tfjs exactly (the eager engine is the reference): the loss of
 * src/core/loss.ts, tfjs' accuracy metric, and tfjs' optimizer update formulas written out
 * as graph operations, so a graph run and an eager run agree to float rounding and a resumed
 * run continues from the same optimizer state whichever engine wrote the checkpoint.
 */
import type * as tf from '@tensorflow/tfjs';
import { LOSS_EPSILON } from '../../training/loss.js';
import type { Task } from '../../plugin/plugin.js';
import type { EngineOptions, LossSpec } from '../engine.js';
import { DType, type GraphAddon } from './addon.js';
import { GraphBuilder, type GraphVariable, type Output } from './builder.js';
import { graphLayerEmitter, type LayerEmitContext } from './layers.js';

const F32 = DType.float32;
const I32 = DType.int32;

type LayerVariable = tf.LayerVariable & { id: number };
type SymbolicTensor = tf.SymbolicTensor & { id: number };

/** The name of the operation that produces an output ("op:0" -> "op"). */
const opOf = (output: Output): string => output.slice(0, output.lastIndexOf(':'));

/** One optimizer's graph form: slot variables per trainable weight and its update ops. */
export interface CompiledOptimizer {
  type: EngineOptions['optimizer']['type'];
  /** Slot names in tfjs' getWeights order (`m`, `v` for Adam), one variable per weight each. */
  slotNames: string[];
  slots: GraphVariable[][];
  /** Adam's accumulated beta powers (beta1^t, beta2^t), scalar variables. */
  powers?: { beta1: GraphVariable; beta2: GraphVariable; b1: number; b2: number };
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
    x: Output;
    learningRate: Output;
    seed: Output;
    labels?: Output;
    valenceArousal?: Output;
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

/** Cross-entropy of src/core/loss.ts: -mean_i sum_c w_c t_ic log clip(p_ic). */
function classificationLoss(
  b: GraphBuilder,
  probabilities: Output,
  labels: Output,
  classes: number,
  weights?: readonly number[],
): Output {
  const targets = b.op(
    'OneHot',
    [labels, b.constI32(classes), b.constF32(1), b.constF32(0)],
    [
      ['T', 'type', F32],
      ['TI', 'type', I32],
      ['axis', 'int', -1],
    ],
  );
  const clipped = b.minimum(
    b.maximum(probabilities, b.constF32(LOSS_EPSILON)),
    b.constF32(1 - LOSS_EPSILON),
  );
  let perClass = b.mul(targets, b.log(clipped));
  if (weights) perClass = b.mul(perClass, b.constF32(weights));
  return b.neg(b.reduce('Mean', b.reduce('Sum', perClass, [1]), [0]));
}

/** MSE or 1 - CCC of src/core/loss.ts over [n, 2] valence/arousal. */
function regressionLoss(
  b: GraphBuilder,
  truth: Output,
  predicted: Output,
  kind: LossSpec['regression'],
): Output {
  if (kind === 'mse') return b.reduce('Mean', b.squaredDifference(truth, predicted), [0, 1]);
  const meanTruth = b.reduce('Mean', truth, [0]);
  const meanPredicted = b.reduce('Mean', predicted, [0]);
  const dTruth = b.sub(truth, meanTruth);
  const dPredicted = b.sub(predicted, meanPredicted);
  const covariance = b.reduce('Mean', b.mul(dTruth, dPredicted), [0]);
  const denominator = b.add(
    b.add(
      b.add(b.reduce('Mean', b.square(dTruth), [0]), b.reduce('Mean', b.square(dPredicted), [0])),
      b.square(b.sub(meanTruth, meanPredicted)),
    ),
    b.constF32(LOSS_EPSILON),
  );
  const ccc = b.div(b.mul(b.constF32(2), covariance), denominator);
  return b.reduce('Mean', b.sub(b.constF32(1), ccc), [0]);
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
 * tfjs' optimizer updates as graph ops (tfjs-core's sgd/momentum/rmsprop/adam optimizers,
 * the same formulas in the same order). Returns the update ops; each runs after `after`.
 */
function emitOptimizer(
  b: GraphBuilder,
  config: EngineOptions['optimizer'],
  weights: { variable: GraphVariable; read: Output; gradient: Output }[],
  learningRate: Output,
  after: string,
): { optimizer: CompiledOptimizer; updates: string[] } {
  const control = [after];
  const negLr = b.neg(learningRate);
  const slotVariables = (slot: string): GraphVariable[] =>
    weights.map((w) => b.variable(`optimizer/${w.variable.name}/${slot}`, w.variable.shape));
  const updates: string[] = [];
  switch (config.type) {
    case 'sgd': {
      if (!config.momentum) {
        for (const w of weights)
          updates.push(
            b.assignVariable(w.variable.handle, b.add(w.read, b.mul(negLr, w.gradient)), control),
          );
        return { optimizer: { type: 'sgd', slotNames: [], slots: [] }, updates };
      }
      const acc = slotVariables('momentum');
      const m = b.constF32(config.momentum);
      weights.forEach((w, i) => {
        const next = b.add(b.mul(m, acc[i].read), w.gradient);
        updates.push(b.assignVariable(acc[i].handle, next, control));
        updates.push(
          b.assignVariable(w.variable.handle, b.add(b.mul(negLr, next), w.read), control),
        );
      });
      return { optimizer: { type: 'sgd', slotNames: ['momentum'], slots: [acc] }, updates };
    }
    case 'rmsprop': {
      const ms = slotVariables('rms');
      const mom = slotVariables('momentum');
      const decay = 0.9;
      const epsilon = b.constF32(config.epsilon ?? 1e-7);
      const momentum = b.constF32(config.momentum ?? 0);
      weights.forEach((w, i) => {
        const nextMs = b.add(
          b.mul(ms[i].read, b.constF32(decay)),
          b.mul(b.square(w.gradient), b.constF32(1 - decay)),
        );
        const nextMom = b.add(
          b.mul(mom[i].read, momentum),
          b.div(b.mul(w.gradient, learningRate), b.sqrt(b.add(nextMs, epsilon))),
        );
        updates.push(b.assignVariable(ms[i].handle, nextMs, control));
        updates.push(b.assignVariable(mom[i].handle, nextMom, control));
        updates.push(b.assignVariable(w.variable.handle, b.sub(w.read, nextMom), control));
      });
      return {
        optimizer: { type: 'rmsprop', slotNames: ['rms', 'momentum'], slots: [ms, mom] },
        updates,
      };
    }
    case 'adam': {
      const b1 = config.beta1 ?? 0.9;
      const b2 = config.beta2 ?? 0.999;
      const epsilon = b.constF32(config.epsilon ?? 1e-7);
      const m = slotVariables('m');
      const v = slotVariables('v');
      const beta1 = b.variable('optimizer/accBeta1', []);
      const beta2 = b.variable('optimizer/accBeta2', []);
      const oneMinusAcc1 = b.sub(b.constF32(1), beta1.read);
      const oneMinusAcc2 = b.sub(b.constF32(1), beta2.read);
      weights.forEach((w, i) => {
        const nextM = b.add(
          b.mul(m[i].read, b.constF32(b1)),
          b.mul(w.gradient, b.constF32(1 - b1)),
        );
        const nextV = b.add(
          b.mul(v[i].read, b.constF32(b2)),
          b.mul(b.square(w.gradient), b.constF32(1 - b2)),
        );
        const mHat = b.div(nextM, oneMinusAcc1);
        const vHat = b.div(nextV, oneMinusAcc2);
        updates.push(b.assignVariable(m[i].handle, nextM, control));
        updates.push(b.assignVariable(v[i].handle, nextV, control));
        const step = b.mul(b.div(mHat, b.add(b.sqrt(vHat), epsilon)), negLr);
        updates.push(b.assignVariable(w.variable.handle, b.add(step, w.read), control));
      });
      // tfjs multiplies the powers after every weight is updated (the reads above see beta^t)
      const powersAfter = [...updates];
      updates.push(b.assignVariable(beta1.handle, b.mul(beta1.read, b.constF32(b1)), powersAfter));
      updates.push(b.assignVariable(beta2.handle, b.mul(beta2.read, b.constF32(b2)), powersAfter));
      return {
        optimizer: {
          type: 'adam',
          slotNames: ['m', 'v'],
          slots: [m, v],
          powers: { beta1, beta2, b1, b2 },
        },
        updates,
      };
    }
  }
}

/** Compile the training step and the inference pass of `options.model`. */
export function compileStep(addon: GraphAddon, options: EngineOptions): CompiledStep {
  const { model, task } = options;
  const b = new GraphBuilder(addon);
  const inputShape = (model.inputs[0].shape as (number | null)[]).slice(1) as number[];

  // variables: one per model weight
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
  const reads = variables.map((v) => v.read);
  const trainable = (model.trainableWeights as LayerVariable[]).map((lv) => variableOf(lv));

  const x = b.placeholder('x', F32, [-1, ...inputShape]);
  const learningRate = b.placeholder('learning_rate', F32, []);
  const seed = b.placeholder('step_seed', I32, [2]);
  const batchSize = (() => {
    let cached: Output | undefined;
    return (): Output =>
      (cached ??= b.op(
        'StridedSlice',
        [
          b.op(
            'Shape',
            [x],
            [
              ['T', 'type', F32],
              ['out_type', 'type', I32],
            ],
          ),
          b.constI32([0]),
          b.constI32([1]),
          b.constI32([1]),
        ],
        [
          ['T', 'type', I32],
          ['Index', 'type', I32],
        ],
        { name: 'batch_size' },
      ));
  })();

  const train = b.scoped('step', () =>
    emitPass(b, model, x, true, variableOf, reads, seed, batchSize),
  );
  const infer = emitPass(b, model, x, false, variableOf, reads, seed, batchSize);

  // the loss and accuracy of the training pass
  const feeds: CompiledStep['feeds'] = { x, learningRate, seed };
  let loss: Output;
  let accuracy: Output | undefined;
  const classes = task.classes.length;
  b.scoped('loss', () => {
    if (task.kind === 'classification') {
      feeds.labels = b.placeholder('labels', I32, [-1]);
      loss = classificationLoss(
        b,
        train.outputs[0],
        feeds.labels,
        classes,
        options.loss.classWeights,
      );
      accuracy = accuracyOf(b, train.outputs[0], feeds.labels);
    } else if (task.kind === 'valence-arousal') {
      feeds.valenceArousal = b.placeholder('valence_arousal', F32, [-1, 2]);
      loss = regressionLoss(b, feeds.valenceArousal, train.outputs[0], options.loss.regression);
    } else {
      feeds.labels = b.placeholder('labels', I32, [-1]);
      feeds.valenceArousal = b.placeholder('valence_arousal', F32, [-1, 2]);
      const ce = classificationLoss(
        b,
        train.outputs[0],
        feeds.labels,
        classes,
        options.loss.classWeights,
      );
      const reg = regressionLoss(
        b,
        feeds.valenceArousal,
        train.outputs[1],
        options.loss.regression,
      );
      loss = b.add(
        b.mul(ce, b.constF32(options.loss.expressionWeight)),
        b.mul(reg, b.constF32(options.loss.regressionWeight)),
      );
    }
  });
  loss = loss!;

  // gradients of the loss w.r.t. the trainable weights' reads
  const gradients = trainable.length
    ? addon.addGradients(
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
  const statistics = train.updates.map(([i, value]) =>
    b.assignVariable(variables[i].handle, value, [computed]),
  );
  const trainTarget = b.group('step/train', [...updates, ...statistics]);

  const assigns = [
    ...variables.map((v) => v.assign),
    ...optimizer.slots.flat().map((v) => v.assign),
    ...(optimizer.powers ? [optimizer.powers.beta1.assign, optimizer.powers.beta2.assign] : []),
  ];
  return {
    builder: b,
    variables,
    modelWeights,
    trainable,
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
