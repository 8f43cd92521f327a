import {
  type RunSourceDefinition,
  globToRegExp,
  unprefixMetrics,
  type RunSource,
  type RunSummary,
  UserError,
} from '../../../sdk/index.js';
import { MlflowClient } from './client.js';
import { affectlabEvaluationMetrics } from './metric-names.js';

/**
 * `affectlab compare --from mlflow`: the runs affectlab logged to a tracking server, with the
 * final evaluation's metrics (logged as `test_*` or `validation_*`) and the confusion matrix
 * read back from the `metrics.json` artifact when present.
 */
export const mlflowRuns: RunSource = async (query) => {
  const trackingUri = query.options.trackingUri ?? process.env.MLFLOW_TRACKING_URI;
  if (!trackingUri)
    throw new UserError('compare --from mlflow needs --tracking-uri or MLFLOW_TRACKING_URI');
  const client = new MlflowClient({ trackingUri });
  const match = query.experiment ? globToRegExp(query.experiment) : undefined;
  const experiments = (await client.searchExperiments()).filter(
    (e) => !match || match.test(e.name),
  );
  if (experiments.length === 0) return [];
  const filter = query.group
    ? `tags.\`affectlab.group\` = '${query.group.replace(/'/g, "\\'")}'`
    : '';
  const runs = await client.searchRuns(
    experiments.map((e) => e.experimentId),
    filter,
    1000,
  );
  const out: RunSummary[] = [];
  for (const run of runs) {
    if (!run.tags['affectlab.runId']) continue; // not an affectlab run
    let latest = affectlabEvaluationMetrics(
      Object.fromEntries(run.metrics.map((m) => [m.key, m.value])),
    );
    let classNames: string[] | undefined;
    let confusion: number[][] | undefined;
    try {
      const bytes = await client.downloadArtifact(run.info.artifactUri, 'metrics.json');
      const file = JSON.parse(new TextDecoder().decode(bytes)) as {
        metrics?: Record<string, number> | null;
        report?: { classNames: string[]; confusion: number[][] } | null;
      };
      classNames = file.report?.classNames;
      confusion = file.report?.confusion;
      // the metrics as the run store has them, exactly (MLflow's copy is renamed for its charts)
      if (file.metrics && typeof file.metrics === 'object') latest = file.metrics;
    } catch {
      // a run without the artifact still compares by its metrics
    }
    const split = Object.keys(latest).some((k) => k.startsWith('test_')) ? 'test' : 'validation';
    out.push({
      runId: run.tags['affectlab.runId'],
      experiment:
        experiments.find((e) => e.experimentId === run.info.experimentId)?.name ??
        run.info.experimentId,
      status: run.info.status,
      group: run.tags['affectlab.group'],
      startTime: run.info.startTime,
      source: `${trackingUri}/#/experiments/${run.info.experimentId}/runs/${run.info.runId}`,
      metrics: unprefixMetrics(latest, split),
      split,
      splitSource: run.params[`data.${split}_source`],
      classNames,
      confusion,
    });
  }
  return out;
};

/** `affectlab compare --from mlflow [--tracking-uri <uri>]`. */
export const mlflowRunSource: RunSourceDefinition = {
  name: 'mlflow',
  description: 'the runs logged to an MLflow tracking server',
  source: mlflowRuns,
  options: [
    {
      flags: '--tracking-uri <uri>',
      description: 'the MLflow server (default MLFLOW_TRACKING_URI)',
    },
  ],
};
