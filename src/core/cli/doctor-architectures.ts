/**
 * `affectlab doctor`'s per-architecture line: which engine each registered architecture's
 * layers compile to under `training.execution: auto`. Each is built with its default options
 * (no pretrained weights) for a small classification request and put to the graph compiler's
 * layer check; nothing is trained.
 */
import { resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { DependencyContainer } from 'tsyringe';
import { decideEngine, loadGraphModule, type GraphEngineModule } from '../engine/index.js';
import type { ArchitecturePlugin, Task } from '../../sdk/contracts/data.js';
import type { PluginDefinition } from '../../sdk/contracts/plugin.js';
import type { Runtime } from '../host/runtime.js';
import { Random, RunContext } from '../../sdk/services.js';

/** Input side of the probe models: large enough for every built-in architecture (AlexNet: 67). */
export const PROBE_SIDE = 96;

export interface ArchitectureEngine {
  architecture: string;
  /** The engine a run of it gets here, or `unknown` when it could not be built. */
  engine: 'graph' | 'eager' | 'unknown';
  /** Why, in one line. */
  reason: string;
  /** The first layer the graph compiler has no form for, which sends the run to eager. */
  layer?: string;
  /** Whether its layers compile at all (true also where this machine cannot run the graph). */
  compiles?: boolean;
}

const PROBE_TASK: Task = {
  kind: 'classification',
  classes: Array.from({ length: 7 }, (_, i) => ({ index: i, code: i, name: `class ${i}` })),
};

/** The engine of each registered architecture on `backend` (the active backend's name). */
export async function architectureEngines(
  runtime: Runtime,
  backend: string,
): Promise<ArchitectureEngine[]> {
  const machine = await decideEngine('auto', backend).catch((error: Error) => ({
    kind: 'eager' as const,
    reason: error.message,
  }));
  const graph = await loadGraphModule();
  const scope = runtime.container.createChildContainer();
  scope.registerInstance(Random, new Random(0));
  scope.registerInstance(
    RunContext,
    new RunContext('doctor', resolve('doctor.yaml'), 0, resolve('.cache/affectlab'), resolve('.')),
  );
  const out: ArchitectureEngine[] = [];
  // the probes' own warnings (frozen layers without weights) are about models no run trains
  const logger = runtime.logger;
  const level = logger.level;
  logger.level = 'error';
  try {
    for (const definition of runtime.registry.list('architecture'))
      out.push(await probe(runtime, scope, definition, machine, graph));
  } finally {
    logger.level = level;
  }
  return out;
}

/** Build one architecture with its default options and ask the graph compiler about it. */
async function probe(
  runtime: Runtime,
  scope: DependencyContainer,
  definition: PluginDefinition,
  machine: { kind: 'graph' | 'eager'; reason: string },
  graph: GraphEngineModule | Error,
): Promise<ArchitectureEngine> {
  const architecture = definition.type;
  const schema = definition.optionsSchema as { properties?: object; required?: string[] };
  const required = (schema.required ?? []).filter((k) => k !== 'type');
  if (required.length > 0)
    return {
      architecture,
      engine: 'unknown',
      reason:
        `its layers come from its ${required.join(', ')} (no default): a run's ` +
        "'execution:' log line names its engine",
    };
  // no download, no file: the layers do not depend on the weights
  const ref =
    schema.properties && 'weights' in schema.properties
      ? { type: architecture, weights: 'none' }
      : { type: architecture };
  let model: tf.LayersModel;
  try {
    const plugin = runtime.instantiate<ArchitecturePlugin>(scope, 'architecture', ref);
    model = await plugin.build({ inputShape: [PROBE_SIDE, PROBE_SIDE, 3], task: PROBE_TASK });
  } catch (error) {
    return {
      architecture,
      engine: 'unknown',
      reason: `not built with its default options at ${PROBE_SIDE} px: ${(error as Error).message}`,
    };
  }
  try {
    const support =
      graph instanceof Error ? undefined : graph.graphEngineSupport(model, PROBE_TASK);
    if (support && !support.supported)
      return {
        architecture,
        engine: 'eager',
        compiles: false,
        layer: support.layer,
        reason: `eager fallback: layer ${support.layer}: ${support.reason}`,
      };
    if (machine.kind === 'graph')
      return { architecture, engine: 'graph', compiles: true, reason: 'every layer compiles' };
    return {
      architecture,
      engine: 'eager',
      ...(support ? { compiles: true } : {}),
      reason: support
        ? `every layer compiles, but this machine runs eager (${machine.reason})`
        : machine.reason,
    };
  } finally {
    model.dispose();
  }
}

/** doctor's text lines, one per architecture. */
export function architectureEngineLines(engines: readonly ArchitectureEngine[]): string[] {
  const width = Math.max(0, ...engines.map((e) => e.architecture.length));
  return engines.map(
    (e, i) =>
      `${(i === 0 ? 'engines' : '').padEnd(11)} ${e.architecture.padEnd(width)}  ${e.engine}: ${e.reason}`,
  );
}
