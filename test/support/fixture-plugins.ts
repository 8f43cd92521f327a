import { inject, injectable } from 'tsyringe';
import {
  PLUGIN_OPTIONS,
  type PluginDefinition,
  type PluginOptions,
} from '../../src/sdk/contracts/plugin.js';
import { Logger, Random, RunContext } from '../../src/sdk/services.js';
import { Registry } from '../../src/core/host/registry.js';
import { Runtime } from '../../src/core/host/runtime.js';

/** A plugin that records what the container injected, to test constructor injection. */
@injectable()
export class ProbePlugin {
  constructor(
    @inject(PLUGIN_OPTIONS) readonly options: PluginOptions,
    readonly logger: Logger,
    readonly rng: Random,
    readonly context: RunContext,
  ) {}
}

const objectSchema = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: 'object',
  properties,
  required,
});

/** One plugin of each kind with small option schemas, for core tests that must not depend on built-ins. */
export const fixturePlugins: PluginDefinition[] = [
  {
    kind: 'dataset',
    type: 'folder',
    description: 'test dataset',
    optionsSchema: objectSchema(
      {
        root: { type: 'string' },
        imageSize: { type: 'integer', minimum: 8, default: 32 },
        // a default read from the environment, like affectnet's root
        cacheSize: { type: 'integer', minimum: 0, default: '${env:FIXTURE_CACHE_SIZE:-64}' },
      },
      ['root'],
    ),
    implementation: ProbePlugin,
  },
  {
    kind: 'dataset',
    type: 'csv-list',
    description: 'second test dataset (a plugin type to switch to)',
    optionsSchema: objectSchema({ file: { type: 'string' } }),
    implementation: ProbePlugin,
  },
  {
    kind: 'sampler',
    type: 'shuffle',
    description: 'test sampler',
    optionsSchema: objectSchema({}),
    implementation: ProbePlugin,
  },
  {
    kind: 'architecture',
    type: 'small-cnn',
    description: 'test architecture',
    optionsSchema: objectSchema({
      filters: { type: 'array', items: { type: 'integer', minimum: 1 }, default: [8, 16] },
      dropout: { type: 'number', minimum: 0, maximum: 1 },
    }),
    implementation: ProbePlugin,
  },
  {
    kind: 'reporter',
    type: 'memory',
    description: 'test reporter',
    optionsSchema: objectSchema({ label: { type: 'string' } }),
    implementation: ProbePlugin,
  },
];

export function fixtureRuntime(): Runtime {
  const registry = new Registry();
  registry.registerAll(fixturePlugins);
  // as the composition root does (main.ts): the optimizer an experiment that names none gets
  registry.setDefault('optimizer', { type: 'adam', learningRate: 0.001 });
  const runtime = new Runtime(registry);
  runtime.logger.level = 'error';
  return runtime;
}
