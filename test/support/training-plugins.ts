/**
 * Optimizer and loss plugins for tests that build an engine without an experiment file: the
 * registered built-ins, their options filled with their schema defaults as validation would.
 */
import 'reflect-metadata';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import type { PluginRef } from '../../src/core/config/types.js';
import type { LossSpec, Named } from '../../src/core/engine/engine.js';
import type { LossPlugin, OptimizerPlugin } from '../../src/sdk/contracts/optimisation.js';
import type { PluginKind } from '../../src/sdk/contracts/plugin.js';
import { createRuntime } from '../../src/main.js';

const runtime = createRuntime();

function build<T>(kind: PluginKind, ref: PluginRef): Named<T> {
  const { type, ...options } = ref;
  const schema = runtime.registry.get(kind, type).optionsSchema as unknown as TSchema;
  const filled = Value.Default(schema, structuredClone(options)) as Record<string, unknown>;
  return { type, plugin: runtime.instantiate<T>(runtime.container, kind, { type, ...filled }) };
}

export const optimizerOf = (ref: PluginRef): Named<OptimizerPlugin> =>
  build<OptimizerPlugin>('optimizer', ref);

export const lossOf = (type: string): Named<LossPlugin> => build<LossPlugin>('loss', { type });

/** A LossSpec with the built-in losses by name (cross-entropy, mse unless given). */
export function lossSpecOf(
  o: {
    classification?: string;
    regression?: string;
    classWeights?: readonly number[];
    expressionWeight?: number;
    regressionWeight?: number;
  } = {},
): LossSpec {
  return {
    classification: lossOf(o.classification ?? 'cross-entropy'),
    regression: lossOf(o.regression ?? 'mse'),
    ...(o.classWeights ? { classWeights: o.classWeights } : {}),
    expressionWeight: o.expressionWeight ?? 1,
    regressionWeight: o.regressionWeight ?? 1,
  };
}
