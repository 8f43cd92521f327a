/**
 * Choosing the execution engine of a run: `training.execution` (auto | graph | eager), the
 * active backend and what the graph compiler supports decide it.
 */
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../../sdk/errors.js';
import type { AugmentOptions, Task } from '../../sdk/contracts/data.js';
import { EagerEngine } from './eager.js';
import type { LossPlugin, OptimizerPlugin } from '../../sdk/contracts/optimisation.js';
import type {
  EngineOptions,
  PixelMix,
  ExecutionKind,
  ExecutionPreference,
  Named,
  TrainingEngine,
} from './engine.js';

export * from './engine.js';
export { EagerEngine, taskLoss, targetTensors, type TaskLoss } from './eager.js';

/** What the graph engine module offers (loaded lazily: it loads a native addon). */
export interface GraphEngineModule {
  graphAddonStatus(backend?: string): { available: boolean; path?: string; error?: string };
  graphEngineSupport(
    model: tf.LayersModel,
    task: Task,
  ): { supported: true } | { supported: false; layer: string; reason: string };
  /** `backend`: whose libtensorflow (and addon) the session runs on. */
  createGraphEngine(options: EngineOptions, backend?: string): Promise<TrainingEngine>;
  /** Just the compiled step's augmentation and mixing, for tests and previews. */
  augmentInGraph(
    x: Float32Array,
    shape: [number, number, number, number],
    params: Float32Array,
    options: AugmentOptions,
    seed: number,
    mix?: PixelMix,
  ): Promise<Float32Array>;
}

let graphModule: Promise<GraphEngineModule | Error> | undefined;

/** The graph engine module, or the reason it cannot load. */
export function loadGraphModule(): Promise<GraphEngineModule | Error> {
  // a specifier in a variable: the module (and its native addon) loads only when asked for
  const specifier = './graph/index.js';
  graphModule ??= (import(specifier) as Promise<GraphEngineModule>).then(
    (m) => m,
    (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
  );
  return graphModule;
}

/** Backends whose tensors live in libtensorflow, where a compiled graph can run. */
export const NATIVE_BACKENDS = ['tensorflow', 'tensorflow-gpu'];

export interface EngineDecision {
  kind: ExecutionKind;
  /** Why this engine, in one line (for the log and `affectlab doctor`). */
  reason: string;
  /** The backend the graph engine runs on (graph decisions only). */
  backend?: string;
}

/** Which engine a run will use, and why; throws when `graph` is asked for and cannot run. */
export async function decideEngine(
  preference: ExecutionPreference,
  backend: string,
  model?: tf.LayersModel,
  task?: Task,
  step?: { optimizer?: Named<OptimizerPlugin>; losses?: Named<LossPlugin>[] },
): Promise<EngineDecision> {
  if (preference === 'eager') return { kind: 'eager', reason: 'training.execution is eager' };
  const refuse = (why: string): EngineDecision => {
    if (preference === 'graph')
      throw new UserError(`training.execution is graph, but ${why}; use execution: auto or eager`);
    return { kind: 'eager', reason: `eager: ${why}` };
  };
  // a plugin without a graph form is known before any backend or addon is looked at
  if (step?.optimizer && typeof step.optimizer.plugin.graphUpdate !== 'function')
    return refuse(`optimizer ${step.optimizer.type} has no graph form (graphUpdate)`);
  const eagerLoss = step?.losses?.find((l) => typeof l.plugin.graph !== 'function');
  if (eagerLoss) return refuse(`loss ${eagerLoss.type} has no graph form (graph)`);
  if (!NATIVE_BACKENDS.includes(backend))
    return refuse(`the ${backend} backend cannot run a compiled graph (it needs tensorflow)`);
  const graph = await loadGraphModule();
  if (graph instanceof Error)
    return refuse(
      (graph as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
        ? 'this build has no graph engine yet (the compiled step of issue 15 has not landed)'
        : `the graph engine did not load (${graph.message})`,
    );
  const addon = graph.graphAddonStatus(backend);
  if (!addon.available)
    return refuse(`the graph addon is not available (${addon.error ?? 'not built'})`);
  if (model && task) {
    const support = graph.graphEngineSupport(model, task);
    if (!support.supported)
      return refuse(
        `layer ${support.layer} is not supported by the graph compiler (${support.reason})`,
      );
  }
  return {
    kind: 'graph',
    reason: `graph: the whole training step runs as one TensorFlow graph (training.execution: ${preference})`,
    backend,
  };
}

/** Build the engine a decision named. */
export async function createEngine(
  decision: EngineDecision,
  options: EngineOptions,
): Promise<TrainingEngine> {
  if (decision.kind === 'eager') return new EagerEngine(options);
  const graph = await loadGraphModule();
  if (graph instanceof Error) throw graph;
  return graph.createGraphEngine(options, decision.backend);
}
