import type { DoctorSection } from '../../../sdk/index.js';
import { artifactMode } from './artifact-root.js';
import { MlflowClient, redactUrl } from './client.js';

interface MlflowSettings {
  [key: string]: string | boolean | null;
  configured: boolean;
  trackingUri: string | null;
  auth: 'token' | 'basic' | 'none';
  /** Whether the server answered, and what it said when it did not. */
  reachable: boolean | null;
  version: string | null;
  /** Where the default experiment keeps artifacts, and how this machine reaches them. */
  artifactLocation: string | null;
  artifactMode: 'proxy' | 'local' | 'unusable' | null;
  problem: string | null;
}

/** Ask the server (one quick try): its version, and the default experiment's artifact root. */
async function probe(trackingUri: string, out: MlflowSettings): Promise<void> {
  const client = new MlflowClient({ trackingUri, retry: { maxRetries: 0 }, timeoutMs: 5000 });
  try {
    out.version = await client.serverVersion();
    out.reachable = true;
  } catch (error) {
    out.reachable = false;
    out.problem = client.redact((error as Error).message);
    return;
  }
  try {
    const location = (await client.getExperiment('0')).artifactLocation;
    const mode = artifactMode(location);
    out.artifactLocation = redactUrl(location);
    out.artifactMode = mode.kind;
    if (mode.kind === 'unusable') out.problem = mode.reason;
  } catch (error) {
    out.problem = client.redact((error as Error).message);
  }
}

/** `affectlab doctor`: the MLflow settings the environment gives, and whether the server answers. */
export const mlflowDoctorSection: DoctorSection<MlflowSettings> = {
  name: 'mlflow',
  collect: async () => {
    const uri = process.env.MLFLOW_TRACKING_URI;
    const settings: MlflowSettings = {
      configured: Boolean(uri),
      trackingUri: uri ? redactUrl(uri) : null,
      auth: process.env.MLFLOW_TRACKING_TOKEN
        ? 'token'
        : process.env.MLFLOW_TRACKING_USERNAME
          ? 'basic'
          : 'none',
      reachable: null,
      version: null,
      artifactLocation: null,
      artifactMode: null,
      problem: null,
    };
    if (uri) await probe(uri, settings);
    return settings;
  },
  format: (value) => {
    if (!value.configured)
      return ['not configured (set MLFLOW_TRACKING_URI or add a reporter of type mlflow)'];
    const lines = [`${value.trackingUri} (auth: ${value.auth})`];
    if (!value.reachable) {
      lines.push(`server does not answer: ${value.problem}`);
      return lines;
    }
    lines.push(`server MLflow ${value.version}`);
    const how = {
      proxy: 'uploaded through the server (--serve-artifacts)',
      local: 'written directly to a local directory this machine can write',
      unusable: `cannot be stored from this machine: ${value.problem}`,
    };
    if (value.artifactMode)
      lines.push(`artifacts at ${value.artifactLocation}: ${how[value.artifactMode]}`);
    else if (value.problem) lines.push(`artifact store unknown: ${value.problem}`);
    return lines;
  },
};
