/**
 * The optimizer and loss plugins of a run, built from `training.optimizer` and
 * `training.loss`, each with the name it was configured under.
 */
import type { DependencyContainer } from 'tsyringe';
import type { PluginRef, TrainingConfig } from '../config/types.js';
import type { Named } from '../engine/engine.js';
import { UserError } from '../../sdk/errors.js';
import type { LossPlugin, LossTarget, OptimizerPlugin } from '../../sdk/contracts/optimisation.js';
import type { Runtime } from '../host/runtime.js';

export interface TrainingPlugins {
  optimizer: Named<OptimizerPlugin>;
  classification: Named<LossPlugin>;
  regression: Named<LossPlugin>;
}

const asRef = (value: string | PluginRef): PluginRef =>
  typeof value === 'string' ? { type: value } : value;

export function buildTrainingPlugins(
  runtime: Runtime,
  scope: DependencyContainer,
  training: TrainingConfig,
): TrainingPlugins {
  // absent only where the composition root registered no default optimizer
  const optimizerRef = training.optimizer as PluginRef | undefined;
  if (!optimizerRef)
    throw new UserError(
      'training.optimizer: none given and none is registered as the default; name one',
    );
  const optimizer = runtime.instantiate<OptimizerPlugin>(scope, 'optimizer', optimizerRef);
  // the bounds of a learning rate are the optimizer's schema's (0 is allowed, as in Keras);
  // this only guards a plugin whose instance reports no usable number
  if (!(Number.isFinite(optimizer.learningRate) && optimizer.learningRate >= 0))
    throw new UserError(
      `optimizer ${optimizerRef.type}: its learning rate is ${optimizer.learningRate}; an optimizer plugin must give a finite learningRate of 0 or more`,
    );
  const loss = (key: 'classification' | 'regression', target: LossTarget): Named<LossPlugin> => {
    const given = training.loss?.[key] ?? runtime.registry.defaultFor(`${key}-loss`);
    if (given === undefined)
      throw new UserError(
        `training.loss.${key}: no loss given and none is registered as the default; name one`,
      );
    const ref = asRef(given);
    const plugin = runtime.instantiate<LossPlugin>(scope, 'loss', ref);
    if (plugin.target !== target)
      throw new UserError(
        `training.loss.${key}: loss ${ref.type} compares ${plugin.target}, not ${target}; ` +
          `pick a ${target} loss`,
      );
    return { type: ref.type, plugin };
  };
  return {
    optimizer: { type: optimizerRef.type, plugin: optimizer },
    classification: loss('classification', 'classes'),
    regression: loss('regression', 'valence-arousal'),
  };
}
