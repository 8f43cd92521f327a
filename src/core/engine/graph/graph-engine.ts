/**
 * The graph engine: the compiled step (compiler.ts) in one libtensorflow session. Variables live
 * in the session; each training step is one session run that feeds the batch and fetches the
 * loss and accuracy. Weights move to the tfjs model only when the runner asks (checkpoints,
 * saving, evaluation on another engine), so the run directory format is the eager engine's.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type EngineOptions,
  OptimizerStateEntry,
  StepInputs,
  StepResult,
  StepTargets,
  TrainingEngine,
} from '../engine.js';
import { DType, type FeedTensor, type GraphAddon, type SessionHandle } from './addon.js';
import type { GraphVariable } from '../../../sdk/graph-builder.js';
import { compileStep, type CompiledStep } from './compiler.js';
import { sessionConfigProto, sessionSettingsFromEnv } from './session-config.js';
import { AUGMENT_PARAMS, identityAugmentParams } from '../../pipeline/augment.js';
import { mixWeights as pixelMixWeights } from '../augment.js';

const f32 = (shape: readonly number[], data: Float32Array): FeedTensor => ({
  dtype: DType.float32,
  shape,
  data,
});

/** The image feed: uint8 pixels go to the graph's own /255, float32 ones straight to `x`. */
const imageFeed = (step: CompiledStep, inputs: StepInputs): [string, FeedTensor] =>
  inputs.x instanceof Uint8Array
    ? [step.feeds.pixels, { dtype: DType.uint8, shape: inputs.shape, data: inputs.x }]
    : [step.feeds.x, f32(inputs.shape, inputs.x)];

export class GraphEngine implements TrainingEngine {
  readonly kind = 'graph' as const;
  readonly acceptsUint8 = true;
  private readonly step: CompiledStep;
  private session: SessionHandle | undefined;
  private iterations = 0;
  private lr: number;

  private constructor(
    private readonly addon: GraphAddon,
    private readonly options: EngineOptions,
  ) {
    this.step = compileStep(addon, options);
    this.session = addon.newSession(
      this.step.builder.graph,
      sessionConfigProto(sessionSettingsFromEnv()),
    );
    this.lr = options.optimizer.plugin.learningRate;
  }

  /** Compile, open the session, and load the model's weights and a fresh optimizer state. */
  static async create(addon: GraphAddon, options: EngineOptions): Promise<GraphEngine> {
    const engine = new GraphEngine(addon, options);
    try {
      await engine.syncFromModel();
      await engine.resetOptimizer();
    } catch (error) {
      engine.dispose();
      throw error;
    }
    return engine;
  }

  private get live(): SessionHandle {
    if (!this.session) throw new Error('graph engine: used after dispose');
    return this.session;
  }

  get learningRate(): number {
    return this.lr;
  }

  setLearningRate(learningRate: number): void {
    this.lr = learningRate;
  }

  async trainStep(inputs: StepInputs, targets: StepTargets, stepSeed: number): Promise<StepResult> {
    const { feeds, loss, accuracy, trainTarget } = this.step;
    const n = inputs.shape[0];
    const [imageName, image] = imageFeed(this.step, inputs);
    const names = [imageName, feeds.learningRate, feeds.seed];
    const values: FeedTensor[] = [
      image,
      f32([], Float32Array.of(this.lr)),
      // stateless RNG seed: the step's seed (as int32) and a zero the layers offset
      { dtype: DType.int32, shape: [2], data: Int32Array.of(stepSeed | 0, 0) },
    ];
    if (feeds.labels) {
      if (!targets.classes) throw new Error('a classification batch needs class targets');
      names.push(feeds.labels);
      values.push({ dtype: DType.int32, shape: [n], data: targets.classes });
    }
    if (feeds.valenceArousal) {
      if (!targets.valenceArousal)
        throw new Error('a regression batch needs valence/arousal targets');
      names.push(feeds.valenceArousal);
      values.push(f32([n, 2], targets.valenceArousal));
    }
    this.mixFeeds(targets, n, names, values);
    this.pixelFeeds(inputs, names, values);
    const fetches = accuracy ? [loss, accuracy] : [loss];
    const out = await this.addon.runSession(this.live, names, values, fetches, [trainTarget]);
    this.iterations++;
    return {
      loss: new Float32Array(out[0].data)[0],
      accuracy: out[1] ? new Float32Array(out[1].data)[0] : undefined,
    };
  }

  /** The batch's augmentation parameters and pixel mix, appended to the step's feeds. */
  private pixelFeeds(inputs: StepInputs, names: string[], values: FeedTensor[]): void {
    const { augment, mixPartner, mixWeights, mixBox } = this.step.feeds;
    const n = inputs.shape[0];
    if (inputs.augment && !augment)
      throw new Error('graph engine: augmentation parameters for an engine built without augment');
    if (augment) {
      names.push(augment);
      values.push(f32([n, AUGMENT_PARAMS], inputs.augment ?? identityAugmentParams(n)));
    }
    if (!inputs.mix) return;
    if (!mixPartner || !mixWeights || !mixBox)
      throw new Error('graph engine: a mixed batch for an engine built without mixing');
    const [inside, outside] = pixelMixWeights(inputs.mix);
    names.push(mixPartner, mixWeights, mixBox);
    values.push(
      { dtype: DType.int32, shape: [n], data: inputs.mix.partner },
      f32([2], Float32Array.of(inside, outside)),
      f32([1, 4], Float32Array.from(inputs.mix.box ?? [0, 0, 0, 0])),
    );
  }

  /** A mixed batch's lambda and partner targets, appended to the step's feeds. */
  private mixFeeds(targets: StepTargets, n: number, names: string[], values: FeedTensor[]): void {
    if (!targets.mix) return;
    const { mixLambda, partnerLabels, partnerValenceArousal } = this.step.feeds;
    if (!mixLambda)
      throw new Error('graph engine: a mixed batch for an engine built without mixing');
    const { lambda, partner } = targets.mix;
    names.push(mixLambda);
    values.push(f32([], Float32Array.of(lambda)));
    if (partnerLabels) {
      if (!partner.classes) throw new Error('a mixed classification batch needs partner classes');
      names.push(partnerLabels);
      values.push({ dtype: DType.int32, shape: [n], data: partner.classes });
    }
    if (partnerValenceArousal) {
      if (!partner.valenceArousal)
        throw new Error('a mixed regression batch needs partner valence/arousal targets');
      names.push(partnerValenceArousal);
      values.push(f32([n, 2], partner.valenceArousal));
    }
  }

  async predict(inputs: StepInputs): Promise<Float32Array[]> {
    const [imageName, image] = imageFeed(this.step, inputs);
    const out = await this.addon.runSession(
      this.live,
      [imageName],
      [image],
      this.step.predictions,
      [],
    );
    // copy out of TensorFlow's buffer: the caller keeps the arrays
    return out.map((t) => new Float32Array(t.data).slice());
  }

  /** Current values of graph variables, as tfjs tensors the caller owns. */
  private async readVariables(vars: readonly GraphVariable[]): Promise<tf.Tensor[]> {
    if (vars.length === 0) return [];
    const out = await this.addon.runSession(
      this.live,
      [],
      [],
      vars.map((v) => v.read),
      [],
    );
    return out.map((t, i) => tf.tensor(new Float32Array(t.data), vars[i].shape, 'float32'));
  }

  private async writeVariables(
    vars: readonly GraphVariable[],
    data: Float32Array[],
  ): Promise<void> {
    if (vars.length === 0) return;
    await this.addon.runSession(
      this.live,
      vars.map((v) => v.assignValue),
      vars.map((v, i) => f32(v.shape, data[i])),
      [],
      vars.map((v) => v.assign),
    );
  }

  async syncToModel(): Promise<void> {
    const values = await this.readVariables(this.step.variables);
    this.step.modelWeights.forEach((lv, i) => lv.write(values[i]));
    tf.dispose(values);
  }

  async syncFromModel(): Promise<void> {
    const data = this.step.modelWeights.map((lv) => lv.read().dataSync() as Float32Array);
    await this.writeVariables(this.step.variables, data);
  }

  private async resetOptimizer(): Promise<void> {
    const vars = this.step.optimizer.slots.flat();
    await this.writeVariables(
      vars,
      vars.map((v) => new Float32Array(tf.util.sizeFromShape(v.shape))),
    );
    await this.writeExtraState(new Map(), 0);
    this.iterations = 0;
  }

  /** The optimizer plugin's extra state: each entry from `saved`, else its value after `iterations`. */
  private async writeExtraState(saved: Map<string, tf.Tensor>, iterations: number): Promise<void> {
    const entries = this.options.optimizer.plugin.extraState?.entries ?? [];
    const vars = this.step.optimizer.extraVariables ?? [];
    await this.writeVariables(
      vars,
      entries.map((e) => {
        const data = saved.get(e.name)?.dataSync() ?? e.valueAfter(iterations);
        if (data.length !== tf.util.sizeFromShape([...e.shape]))
          throw new Error(
            `optimizer state: ${e.name} has ${data.length} values for shape [${e.shape.join(', ')}]`,
          );
        return Float32Array.from(data);
      }),
    );
  }

  /**
   * tfjs' optimizer getWeights layout: `iter` (int32), then each slot kind for every trainable
   * weight in order, then the optimizer plugin's extra state under its names. Before the
   * first step tfjs has no slots, and neither does this state.
   */
  async getOptimizerState(): Promise<OptimizerStateEntry[]> {
    const out: OptimizerStateEntry[] = [
      { name: 'iter', tensor: tf.scalar(this.iterations, 'int32') },
    ];
    if (this.iterations === 0) return out;
    const { slots, slotNames, extraVariables = [] } = this.step.optimizer;
    const weights = this.step.trainable.map((i) => this.step.modelWeights[i]);
    for (let s = 0; s < slots.length; s++) {
      const values = await this.readVariables(slots[s]);
      values.forEach((tensor, i) =>
        out.push({ name: `${weights[i].name}/${slotNames[s]}`, tensor }),
      );
    }
    const entries = this.options.optimizer.plugin.extraState?.entries ?? [];
    const extra = await this.readVariables(extraVariables);
    extra.forEach((tensor, i) => out.push({ name: entries[i].name, tensor }));
    return out;
  }

  async setOptimizerState(state: OptimizerStateEntry[]): Promise<void> {
    const { slots, slotNames } = this.step.optimizer;
    const names = new Set(this.options.optimizer.plugin.extraState?.entries.map((e) => e.name));
    const extra = new Map(state.filter((s) => names.has(s.name)).map((s) => [s.name, s.tensor]));
    const positional = state.filter((s) => !names.has(s.name));
    const [iter, ...rest] = positional;
    if (!iter) throw new Error('optimizer state: no iteration count');
    await this.resetOptimizer();
    this.iterations = (await iter.tensor.data())[0];
    // an entry a checkpoint lacks (an older one) gets the plugin's rule for this iteration count
    await this.writeExtraState(extra, this.iterations);
    const n = this.step.trainable.length;
    if (rest.length === 0) return;
    if (rest.length !== slots.length * n)
      throw new Error(
        `optimizer state: ${rest.length} slot tensors for ${n} trainable weights ` +
          `(${this.options.optimizer.type} keeps ${slotNames.join(', ') || 'none'} per weight)`,
      );
    for (let s = 0; s < slots.length; s++) {
      const group = rest.slice(s * n, (s + 1) * n);
      group.forEach((e, i) => {
        if (e.tensor.size !== tf.util.sizeFromShape(slots[s][i].shape))
          throw new Error(`optimizer state: ${e.name} does not fit ${slots[s][i].name}`);
      });
      await this.writeVariables(
        slots[s],
        group.map((e) => e.tensor.dataSync() as Float32Array),
      );
    }
  }

  dispose(): void {
    if (this.session) this.addon.closeSession(this.session);
    this.session = undefined;
  }
}
