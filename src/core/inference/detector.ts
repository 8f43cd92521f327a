/** The face detector of `affectlab predict`: chosen by flag, else the composition root's default. */
import { UserError } from '../../sdk/errors.js';
import type { DetectorPlugin } from '../../sdk/contracts/inference.js';
import type { PluginOptions } from '../../sdk/contracts/plugin.js';
import type { Runtime } from '../host/runtime.js';
import type { TrainedRun } from './trained-run.js';

/** Flags that set a detector option, and the option each sets. */
export const DETECTOR_FLAGS: { flag: string; option: string; parse: (v: string) => unknown }[] = [
  { flag: '--detector-model', option: 'model', parse: (v) => v },
  { flag: '--min-score', option: 'minScore', parse: Number },
  { flag: '--min-face-size', option: 'minFaceSize', parse: Number },
  { flag: '--max-faces', option: 'maxFaces', parse: Number },
];

/**
 * The detector `type` (or the runtime's default when undefined) with the options of `given`
 * (option name -> flag value), built in the run's container; undefined for `none`. Options are
 * checked against the plugin's schema; one it does not have names its flag.
 */
export function createDetector(
  runtime: Runtime,
  run: TrainedRun,
  type: string | undefined,
  given: Record<string, string | undefined>,
): DetectorPlugin | undefined {
  const chosen = type ?? runtime.defaultDetector?.type;
  if (!chosen || chosen === 'none') return undefined;
  const definition = runtime.registry.get('detector', chosen);
  const properties = (definition.optionsSchema as { properties?: Record<string, unknown> })
    .properties;
  const options: PluginOptions =
    runtime.defaultDetector?.type === chosen ? { ...runtime.defaultDetector } : {};
  delete options.type;
  for (const { flag, option, parse } of DETECTOR_FLAGS) {
    const value = given[option];
    if (value === undefined) continue;
    if (!properties || !Object.hasOwn(properties, option))
      throw new UserError(`${flag}: detector '${chosen}' has no option '${option}'`);
    options[option] = parse(value);
  }
  const scope = runtime.createRunContainer(run.resolved, '.cache/affectlab');
  return runtime.instantiate<DetectorPlugin>(scope, 'detector', { ...options, type: chosen });
}
