import type { PluginExtensions } from '../../../sdk/index.js';
import { mlflowDoctorSection } from './doctor.js';
import { mlflowRunSource } from './run-source.js';
import { registerSyncCommand } from './sync.js';

/** What the MLflow reporter adds to the CLI: `sync`, a doctor section, `compare --from mlflow`. */
export const mlflowExtensions: PluginExtensions = {
  commands: [registerSyncCommand],
  doctorSections: [mlflowDoctorSection],
  runSources: [mlflowRunSource],
};
