/**
 * A small typed client for the MLflow tracking REST API 2.0 over the global `fetch`: the calls
 * the `mlflow` reporter and `affectlab sync` need, with MLflow's request limits, retries with
 * exponential backoff for transient failures, and the Python client's credential variables.
 * Wire objects are snake_case; this module's types are camelCase and converted explicitly.
 */

/** Limits enforced by the MLflow server (mlflow/utils/validation.py, checked against 3.17). */
export const MLFLOW_LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
  datasetNameLength: 500,
  datasetDigestLength: 36,
  datasetSourceLength: 65535,
  datasetSchemaLength: 1048575,
  datasetProfileLength: 16777215,
  inputTagKeyLength: 255,
  inputTagValueLength: 500,
} as const;

export type MlflowRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface MlflowMetric {
  key: string;
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  step: number;
  /** The MLflow 3 LoggedModel the value describes (its Models tab shows it), if any. */
  modelId?: string;
}

export interface MlflowKeyValue {
  key: string;
  value: string;
}

export interface MlflowExperiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
  tags: Record<string, string>;
}

export interface MlflowRunInfo {
  runId: string;
  experimentId: string;
  runName: string;
  userId: string;
  status: MlflowRunStatus;
  startTime: number;
  endTime?: number;
  artifactUri: string;
  lifecycleStage: string;
}

export interface MlflowDataset {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  schema?: string;
  profile?: string;
}

export interface MlflowDatasetInput {
  dataset: MlflowDataset;
  tags: MlflowKeyValue[];
}

export interface MlflowRun {
  info: MlflowRunInfo;
  /** Latest value of each metric. */
  metrics: MlflowMetric[];
  params: Record<string, string>;
  tags: Record<string, string>;
  datasetInputs: MlflowDatasetInput[];
}

export interface MlflowArtifactFile {
  path: string;
  isDir: boolean;
  fileSize?: number;
}

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

export interface MlflowCredentials {
  token?: string;
  username?: string;
  password?: string;
}

export interface MlflowClientOptions {
  /** `http(s)://host:port[/prefix]`; credentials in the URL are used as Basic auth and dropped from it. */
  trackingUri: string;
  /** Defaults to MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD. */
  credentials?: MlflowCredentials;
  retry?: Partial<RetryPolicy>;
  /** Per-request timeout; MLFLOW_HTTP_REQUEST_TIMEOUT (seconds) when unset, else 30 s. */
  timeoutMs?: number;
  /** Injected for tests; the global fetch by default. */
  fetch?: typeof fetch;
  /** Injected for tests: how to wait between retries. */
  sleep?: (ms: number) => Promise<void>;
}

/** A failed MLflow call. `transient` errors (network, timeouts, 429, 5xx) may succeed later. */
export class MlflowError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

/** The server answered with an HTTP error status. */
export class MlflowApiError extends MlflowError {
  constructor(
    message: string,
    readonly status: number,
    readonly errorCode: string | undefined,
    readonly endpoint: string,
  ) {
    super(message, status === 429 || status >= 500);
    this.name = 'MlflowApiError';
  }
}

const DEFAULT_RETRY: RetryPolicy = {
  maxRetries: 3,
  initialDelayMs: 500,
  maxDelayMs: 8000,
  factor: 2,
};
const DEFAULT_TIMEOUT_MS = 30_000;
const REDACTED = '***';

/** Credentials as the Python client reads them from the environment. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): MlflowCredentials {
  return {
    token: env.MLFLOW_TRACKING_TOKEN || undefined,
    username: env.MLFLOW_TRACKING_USERNAME || undefined,
    password: env.MLFLOW_TRACKING_PASSWORD || undefined,
  };
}

/** Retry and timeout settings from the Python client's variables, where set. */
export function httpSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): {
  maxRetries?: number;
  timeoutMs?: number;
} {
  const int = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const value = Number(raw);
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  };
  const timeoutSeconds = int('MLFLOW_HTTP_REQUEST_TIMEOUT');
  return {
    maxRetries: int('MLFLOW_HTTP_REQUEST_MAX_RETRIES'),
    timeoutMs: timeoutSeconds === undefined ? undefined : timeoutSeconds * 1000,
  };
}

/**
 * Parse and check a tracking URI. Only a tracking server speaks REST, so `file:`, `sqlite:` and
 * `databricks` URIs are refused. Returns the URI without credentials or trailing slash, and any
 * credentials that were embedded in it.
 */
export function parseTrackingUri(trackingUri: string): {
  uri: string;
  credentials: MlflowCredentials;
} {
  let url: URL;
  try {
    url = new URL(trackingUri);
  } catch {
    throw new MlflowError(
      `invalid MLflow tracking URI '${redactUrl(trackingUri)}': expected http(s)://host:port`,
      false,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MlflowError(
      `unsupported MLflow tracking URI '${redactUrl(trackingUri)}': only an MLflow tracking server ` +
        `(http:// or https://) can be reached over REST; start one with 'mlflow server'`,
      false,
    );
  }
  const credentials: MlflowCredentials = {};
  if (url.username) credentials.username = decodeURIComponent(url.username);
  if (url.password) credentials.password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  url.hash = '';
  return { uri: url.toString().replace(/\/+$/, ''), credentials };
}

/** Drop `user:password@` from anything that looks like a URL. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, `$1${REDACTED}@`);
}

/**
 * The MLflow REST client. Every error it throws is an MlflowError whose message names the
 * endpoint and never contains a credential.
 */
export class MlflowClient {
  /** The tracking URI without credentials. */
  readonly trackingUri: string;
  private readonly authorization?: string;
  private readonly secrets: string[];
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: MlflowClientOptions) {
    const parsed = parseTrackingUri(options.trackingUri);
    this.trackingUri = parsed.uri;
    const fromEnv = httpSettingsFromEnv();
    const credentials = {
      ...parsed.credentials,
      ...dropUndefined(options.credentials ?? credentialsFromEnv()),
    };
    // Same precedence as the Python client: username and password first, then the token.
    if (credentials.username && credentials.password) {
      const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString(
        'base64',
      );
      this.authorization = `Basic ${basic}`;
      this.secrets = [credentials.password, basic];
    } else if (credentials.token) {
      this.authorization = `Bearer ${credentials.token}`;
      this.secrets = [credentials.token];
    } else {
      this.secrets = [];
    }
    this.retry = {
      ...DEFAULT_RETRY,
      ...dropUndefined({ maxRetries: fromEnv.maxRetries }),
      ...dropUndefined(options.retry ?? {}),
    };
    this.timeoutMs = options.timeoutMs ?? fromEnv.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Remove every credential (and URL userinfo) from a text meant for a log or an error. */
  redact(text: string): string {
    let out = redactUrl(text);
    for (const secret of this.secrets) {
      if (secret.length > 0) out = out.split(secret).join(REDACTED);
    }
    return out;
  }

  /** The server's MLflow version (`GET /version`). */
  async serverVersion(): Promise<string> {
    const response = await this.send('GET', `${this.trackingUri}/version`, 'version', {});
    return (await response.text()).trim();
  }

  // ---- experiments --------------------------------------------------------------------------

  async getExperiment(experimentId: string): Promise<MlflowExperiment> {
    const body = await this.call<{ experiment: WireExperiment }>('GET', 'experiments/get', {
      query: { experiment_id: experimentId },
    });
    return toExperiment(body.experiment);
  }

  async getExperimentByName(name: string): Promise<MlflowExperiment | undefined> {
    try {
      const body = await this.call<{ experiment: WireExperiment }>(
        'GET',
        'experiments/get-by-name',
        {
          query: { experiment_name: name },
        },
      );
      return toExperiment(body.experiment);
    } catch (error) {
      if (error instanceof MlflowApiError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST')
        return undefined;
      throw error;
    }
  }

  /** Active experiments (one page of up to `maxResults`). */
  async searchExperiments(maxResults = 1000): Promise<MlflowExperiment[]> {
    const body = await this.call<{ experiments?: WireExperiment[] }>('POST', 'experiments/search', {
      body: { max_results: maxResults, view_type: 'ACTIVE_ONLY' },
    });
    return (body.experiments ?? []).map(toExperiment);
  }

  async createExperiment(name: string): Promise<string> {
    const body = await this.call<{ experiment_id: string }>('POST', 'experiments/create', {
      body: { name },
    });
    return body.experiment_id;
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.call('POST', 'experiments/set-experiment-tag', {
      body: { experiment_id: experimentId, key, value },
    });
  }

  /** The active experiment of that name, created when missing (and when another client races us). */
  async getOrCreateExperiment(name: string): Promise<MlflowExperiment> {
    let experiment = await this.getExperimentByName(name);
    if (!experiment) {
      try {
        await this.createExperiment(name);
      } catch (error) {
        if (!(error instanceof MlflowApiError && error.errorCode === 'RESOURCE_ALREADY_EXISTS'))
          throw error;
      }
      experiment = await this.getExperimentByName(name);
    }
    if (!experiment)
      throw new MlflowError(`MLflow experiment '${name}' could not be created`, false);
    if (experiment.lifecycleStage !== 'active') {
      throw new MlflowError(
        `MLflow experiment '${name}' (id ${experiment.experimentId}) is ${experiment.lifecycleStage}: ` +
          `restore it ('mlflow experiments restore --experiment-id ${experiment.experimentId}') or choose another experimentName`,
        false,
      );
    }
    return experiment;
  }

  // ---- runs ----------------------------------------------------------------------------------

  async createRun(request: {
    experimentId: string;
    runName?: string;
    startTime: number;
    userId?: string;
    tags?: MlflowKeyValue[];
  }): Promise<MlflowRunInfo> {
    const body = await this.call<{ run: WireRun }>('POST', 'runs/create', {
      body: {
        experiment_id: request.experimentId,
        run_name: request.runName,
        start_time: request.startTime,
        user_id: request.userId,
        tags: request.tags ?? [],
      },
    });
    return toRunInfo(body.run.info);
  }

  async updateRun(
    runId: string,
    update: { status?: MlflowRunStatus; endTime?: number; runName?: string },
  ): Promise<MlflowRunInfo> {
    const body = await this.call<{ run_info: WireRunInfo }>('POST', 'runs/update', {
      body: {
        run_id: runId,
        status: update.status,
        end_time: update.endTime,
        run_name: update.runName,
      },
    });
    return toRunInfo(body.run_info);
  }

  async getRun(runId: string): Promise<MlflowRun> {
    const body = await this.call<{ run: WireRun }>('GET', 'runs/get', { query: { run_id: runId } });
    return toRun(body.run);
  }

  /** Runs matching an MLflow search filter, e.g. ``tags.`affectlab.runId` = 'x'``, any lifecycle stage. */
  async searchRuns(
    experimentIds: string[],
    filter: string,
    maxResults = 100,
  ): Promise<MlflowRun[]> {
    const body = await this.call<{ runs?: WireRun[] }>('POST', 'runs/search', {
      body: {
        experiment_ids: experimentIds,
        filter,
        max_results: maxResults,
        run_view_type: 'ALL',
      },
    });
    return (body.runs ?? []).map(toRun);
  }

  /**
   * Log metrics, params and tags, split into as many `runs/log-batch` requests as MLflow's
   * per-request limits need (params first, then tags, then metrics, like the Python client).
   */
  async logBatch(
    runId: string,
    batch: { metrics?: MlflowMetric[]; params?: MlflowKeyValue[]; tags?: MlflowKeyValue[] },
  ): Promise<void> {
    for (const chunk of chunkBatch(batch.metrics ?? [], batch.params ?? [], batch.tags ?? [])) {
      await this.call('POST', 'runs/log-batch', {
        body: {
          run_id: runId,
          metrics: chunk.metrics.map((m) => ({
            key: m.key,
            value: encodeMetricValue(m.value),
            timestamp: Math.round(m.timestamp),
            step: Math.round(m.step),
            ...(m.modelId ? { model_id: m.modelId } : {}),
          })),
          params: chunk.params,
          tags: chunk.tags,
        },
      });
    }
  }

  async logInputs(runId: string, inputs: MlflowDatasetInput[]): Promise<void> {
    await this.call('POST', 'runs/log-inputs', {
      body: {
        run_id: runId,
        datasets: inputs.map((input) => ({
          tags: input.tags,
          dataset: {
            name: input.dataset.name,
            digest: input.dataset.digest,
            source_type: input.dataset.sourceType,
            source: input.dataset.source,
            schema: input.dataset.schema,
            profile: input.dataset.profile,
          },
        })),
      },
    });
  }

  // ---- MLflow 3 logged models ---------------------------------------------------------------

  /** Create a LoggedModel (status PENDING) with its own artifact location. */
  async createLoggedModel(request: {
    experimentId: string;
    name: string;
    sourceRunId?: string;
    modelType?: string;
    params?: MlflowKeyValue[];
    tags?: MlflowKeyValue[];
  }): Promise<MlflowLoggedModel> {
    const body = await this.call<{ model: WireLoggedModel }>('POST', 'logged-models', {
      body: {
        experiment_id: request.experimentId,
        name: request.name,
        source_run_id: request.sourceRunId,
        model_type: request.modelType,
        params: request.params ?? [],
        tags: request.tags ?? [],
      },
    });
    return toLoggedModel(body.model);
  }

  /** Mark a LoggedModel's upload done (READY) or failed. */
  async finalizeLoggedModel(
    modelId: string,
    status: 'LOGGED_MODEL_READY' | 'LOGGED_MODEL_UPLOAD_FAILED',
  ): Promise<MlflowLoggedModel> {
    const body = await this.call<{ model: WireLoggedModel }>(
      'PATCH',
      `logged-models/${encodeURIComponent(modelId)}`,
      { body: { model_id: modelId, status } },
    );
    return toLoggedModel(body.model);
  }

  /** The LoggedModels of experiments (first `maxResults`), newest first. */
  async searchLoggedModels(
    experimentIds: string[],
    maxResults = 100,
  ): Promise<MlflowLoggedModel[]> {
    const body = await this.call<{ models?: WireLoggedModel[] }>('POST', 'logged-models/search', {
      body: { experiment_ids: experimentIds, max_results: maxResults },
    });
    return (body.models ?? []).map(toLoggedModel);
  }

  /** Record models as outputs of a run (the run's page lists them under Logged models). */
  async logOutputs(runId: string, models: { modelId: string; step: number }[]): Promise<void> {
    await this.call('POST', 'runs/outputs', {
      body: { run_id: runId, models: models.map((m) => ({ model_id: m.modelId, step: m.step })) },
    });
  }

  /** Every logged value of one metric, all pages. */
  async getMetricHistory(runId: string, key: string): Promise<MlflowMetric[]> {
    const out: MlflowMetric[] = [];
    let pageToken: string | undefined;
    do {
      const body = await this.call<{ metrics?: WireMetric[]; next_page_token?: string }>(
        'GET',
        'metrics/get-history',
        {
          query: { run_id: runId, metric_key: key, max_results: '25000', page_token: pageToken },
        },
      );
      out.push(...(body.metrics ?? []).map(toMetric));
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  // ---- artifacts -----------------------------------------------------------------------------

  /** One level of a run's artifacts; `path` is relative to the run's artifact root. */
  async listArtifacts(runId: string, path?: string): Promise<MlflowArtifactFile[]> {
    const body = await this.call<{
      files?: { path: string; is_dir?: boolean; file_size?: number | string }[];
    }>('GET', 'artifacts/list', { query: { run_id: runId, path } });
    return (body.files ?? []).map((f) => ({
      path: f.path,
      isDir: f.is_dir ?? false,
      fileSize: f.file_size === undefined ? undefined : Number(f.file_size),
    }));
  }

  /** Every file under a run's artifact root (or under `path`), recursively. */
  async listArtifactsRecursive(runId: string, path?: string): Promise<MlflowArtifactFile[]> {
    const out: MlflowArtifactFile[] = [];
    for (const entry of await this.listArtifacts(runId, path)) {
      if (entry.isDir) out.push(...(await this.listArtifactsRecursive(runId, entry.path)));
      else out.push(entry);
    }
    return out;
  }

  /**
   * Upload one file through the tracking server's artifact proxy (`mlflow server` with
   * --serve-artifacts, the default since MLflow 2). `artifactUri` is the run's artifact_uri;
   * `artifactPath` a relative path such as `model/model.json`. A second upload overwrites.
   */
  async uploadArtifact(artifactUri: string, artifactPath: string, data: Uint8Array): Promise<void> {
    const url = this.artifactUrl(artifactUri, artifactPath);
    // Large model files get more time than a small API call: at least 1 s per MB.
    const timeoutMs = Math.max(this.timeoutMs, Math.ceil(data.byteLength / 1_000_000) * 1000);
    await this.send('PUT', url, `artifact ${artifactPath}`, {
      body: data,
      contentType: contentTypeFor(artifactPath),
      timeoutMs,
    });
  }

  async downloadArtifact(artifactUri: string, artifactPath: string): Promise<Uint8Array> {
    const url = this.artifactUrl(artifactUri, artifactPath);
    const response = await this.send('GET', url, `artifact ${artifactPath}`, {});
    return new Uint8Array(await response.arrayBuffer());
  }

  /** The proxy URL of one artifact of a run whose artifact root is `artifactUri`. */
  artifactUrl(artifactUri: string, artifactPath: string): string {
    const segments = artifactPath.split('/').filter((s) => s !== '' && s !== '.');
    if (segments.length === 0 || segments.includes('..') || artifactPath.startsWith('/')) {
      throw new MlflowError(
        `invalid artifact path '${artifactPath}': must be relative, without '..'`,
        false,
      );
    }
    const encoded = segments.map(encodeURIComponent).join('/');
    const anchor = '/api/2.0/mlflow-artifacts/artifacts';
    const tracking = new URL(this.trackingUri);
    const prefix = tracking.pathname.replace(/\/+$/, '');
    let base: string;
    if (artifactUri.startsWith('mlflow-artifacts:')) {
      // mlflow-artifacts:/<exp>/<run>/artifacts, or mlflow-artifacts://host:port/<exp>/...
      const rest = artifactUri.slice('mlflow-artifacts:'.length);
      let host = tracking.host;
      let path = rest;
      if (rest.startsWith('//')) {
        const slash = rest.indexOf('/', 2);
        host = rest.slice(2, slash === -1 ? undefined : slash) || tracking.host;
        path = slash === -1 ? '' : rest.slice(slash);
      }
      base = `${tracking.protocol}//${host}${prefix}${anchor}/${path.replace(/^\/+/, '')}`;
    } else if (/^https?:\/\//.test(artifactUri) && artifactUri.includes(anchor)) {
      base = artifactUri;
    } else {
      throw new MlflowError(
        `the run's artifact root '${redactUrl(artifactUri)}' is not served by the tracking server, so ` +
          `artifacts cannot be uploaded over REST; start 'mlflow server' with --serve-artifacts ` +
          `(the default) and a fresh experiment`,
        false,
      );
    }
    return `${base.replace(/\/+$/, '')}/${encoded}`;
  }

  // ---- transport -----------------------------------------------------------------------------

  /** Call an endpoint under /api/2.0/mlflow/ and parse its JSON answer. */
  private async call<T = unknown>(
    method: 'GET' | 'POST' | 'PATCH',
    endpoint: string,
    options: { query?: Record<string, string | undefined>; body?: unknown },
  ): Promise<T> {
    const url = new URL(`${this.trackingUri}/api/2.0/mlflow/${endpoint}`);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const response = await this.send(method, url.toString(), endpoint, {
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      contentType: options.body === undefined ? undefined : 'application/json',
    });
    const text = await response.text();
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch {
      throw new MlflowError(
        `MLflow ${endpoint}: the answer is not JSON: ${this.redact(text.slice(0, 200))}`,
        false,
      );
    }
  }

  /** One HTTP exchange with retries for network errors, timeouts, 429 and 5xx. */
  private async send(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH',
    url: string,
    what: string,
    options: { body?: string | Uint8Array; contentType?: string; timeoutMs?: number },
  ): Promise<Response> {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      'User-Agent': 'affectlab-mlflow-client',
    };
    if (options.contentType) headers['Content-Type'] = options.contentType;
    if (this.authorization) headers.Authorization = this.authorization;
    for (let attempt = 0; ; attempt++) {
      let failure: MlflowError;
      let retryAfterMs: number | undefined;
      try {
        const response = await this.fetchImpl(url, {
          method,
          headers,
          body: options.body,
          signal: AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs),
        });
        if (response.ok) return response;
        failure = await this.apiError(response, what);
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      } catch (error) {
        failure =
          error instanceof MlflowError
            ? error
            : this.networkError(error, method, url, what, options.timeoutMs);
      }
      if (!failure.transient || attempt >= this.retry.maxRetries) throw failure;
      const backoff = Math.min(
        this.retry.maxDelayMs,
        this.retry.initialDelayMs * this.retry.factor ** attempt,
      );
      // Jitter keeps clients that failed together from retrying together.
      const delay = Math.min(
        this.retry.maxDelayMs,
        retryAfterMs ?? backoff * (0.5 + Math.random() * 0.5),
      );
      await this.sleep(delay);
    }
  }

  private async apiError(response: Response, what: string): Promise<MlflowApiError> {
    let errorCode: string | undefined;
    let detail = '';
    try {
      const text = await response.text();
      detail = text.slice(0, 500);
      const parsed = JSON.parse(text) as { error_code?: string; message?: string };
      errorCode = parsed.error_code;
      detail = parsed.message ?? detail;
    } catch {
      // not JSON: keep the raw text
    }
    const message = `MLflow ${what}: HTTP ${response.status}${errorCode ? ` ${errorCode}` : ''}${detail ? `: ${detail}` : ''}`;
    return new MlflowApiError(this.redact(message), response.status, errorCode, what);
  }

  private networkError(
    error: unknown,
    method: string,
    url: string,
    what: string,
    timeoutMs?: number,
  ): MlflowError {
    const err = error as {
      name?: string;
      message?: string;
      cause?: { code?: string; message?: string };
    };
    const reason =
      err.name === 'TimeoutError'
        ? `no answer within ${Math.round((timeoutMs ?? this.timeoutMs) / 1000)} s`
        : [err.message, err.cause?.code ?? err.cause?.message].filter(Boolean).join(': ');
    const where = new URL(url);
    return new MlflowError(
      this.redact(`MLflow ${what}: ${method} ${where.origin}${where.pathname} failed: ${reason}`),
      true,
    );
  }
}

// ---- helpers ---------------------------------------------------------------------------------

interface WireExperiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  tags?: MlflowKeyValue[];
}

interface WireRunInfo {
  run_id?: string;
  run_uuid?: string;
  experiment_id: string;
  run_name?: string;
  user_id?: string;
  status?: MlflowRunStatus;
  start_time?: number | string;
  end_time?: number | string;
  artifact_uri?: string;
  lifecycle_stage?: string;
}

/** An MLflow 3 LoggedModel, as far as affectlab uses it. */
export interface MlflowLoggedModel {
  modelId: string;
  experimentId: string;
  name: string;
  artifactUri: string;
  status: string;
  sourceRunId?: string;
  metrics: MlflowMetric[];
}

interface WireLoggedModel {
  info: {
    model_id: string;
    experiment_id: string;
    name: string;
    artifact_uri: string;
    status?: string;
    source_run_id?: string;
  };
  data?: { metrics?: WireMetric[] };
}

function toLoggedModel(wire: WireLoggedModel): MlflowLoggedModel {
  return {
    modelId: wire.info.model_id,
    experimentId: wire.info.experiment_id,
    name: wire.info.name,
    artifactUri: wire.info.artifact_uri,
    status: wire.info.status ?? 'LOGGED_MODEL_STATUS_UNSPECIFIED',
    ...(wire.info.source_run_id ? { sourceRunId: wire.info.source_run_id } : {}),
    metrics: (wire.data?.metrics ?? []).map(toMetric),
  };
}

interface WireMetric {
  key: string;
  value: number | string;
  timestamp?: number | string;
  step?: number | string;
}

interface WireRun {
  info: WireRunInfo;
  data?: { metrics?: WireMetric[]; params?: MlflowKeyValue[]; tags?: MlflowKeyValue[] };
  inputs?: {
    dataset_inputs?: {
      tags?: MlflowKeyValue[];
      dataset: {
        name: string;
        digest: string;
        source_type: string;
        source: string;
        schema?: string;
        profile?: string;
      };
    }[];
  };
}

function toExperiment(wire: WireExperiment): MlflowExperiment {
  return {
    experimentId: wire.experiment_id,
    name: wire.name,
    artifactLocation: wire.artifact_location ?? '',
    lifecycleStage: wire.lifecycle_stage ?? 'active',
    tags: Object.fromEntries((wire.tags ?? []).map((t) => [t.key, t.value])),
  };
}

function toRunInfo(wire: WireRunInfo): MlflowRunInfo {
  return {
    runId: wire.run_id ?? wire.run_uuid ?? '',
    experimentId: wire.experiment_id,
    runName: wire.run_name ?? '',
    userId: wire.user_id ?? '',
    status: wire.status ?? 'RUNNING',
    startTime: Number(wire.start_time ?? 0),
    endTime: wire.end_time === undefined ? undefined : Number(wire.end_time),
    artifactUri: wire.artifact_uri ?? '',
    lifecycleStage: wire.lifecycle_stage ?? 'active',
  };
}

function toMetric(wire: WireMetric): MlflowMetric {
  return {
    key: wire.key,
    value: decodeMetricValue(wire.value),
    timestamp: Number(wire.timestamp ?? 0),
    step: Number(wire.step ?? 0),
  };
}

function toRun(wire: WireRun): MlflowRun {
  return {
    info: toRunInfo(wire.info),
    metrics: (wire.data?.metrics ?? []).map(toMetric),
    params: Object.fromEntries((wire.data?.params ?? []).map((p) => [p.key, p.value])),
    tags: Object.fromEntries((wire.data?.tags ?? []).map((t) => [t.key, t.value])),
    datasetInputs: (wire.inputs?.dataset_inputs ?? []).map((input) => ({
      tags: input.tags ?? [],
      dataset: {
        name: input.dataset.name,
        digest: input.dataset.digest,
        sourceType: input.dataset.source_type,
        source: input.dataset.source,
        schema: input.dataset.schema,
        profile: input.dataset.profile,
      },
    })),
  };
}

/** JSON has no NaN or Infinity; MLflow's protobuf JSON accepts them as strings. */
function encodeMetricValue(value: number | null): number | string {
  if (value === null || Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

function decodeMetricValue(value: number | string): number {
  if (typeof value === 'number') return value;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  return Number(value);
}

/** Split a batch into requests within MLflow's per-request limits, keeping every item's order. */
export function chunkBatch(
  metrics: MlflowMetric[],
  params: MlflowKeyValue[],
  tags: MlflowKeyValue[],
): { metrics: MlflowMetric[]; params: MlflowKeyValue[]; tags: MlflowKeyValue[] }[] {
  const chunks: { metrics: MlflowMetric[]; params: MlflowKeyValue[]; tags: MlflowKeyValue[] }[] =
    [];
  let m = 0;
  let p = 0;
  let t = 0;
  while (m < metrics.length || p < params.length || t < tags.length) {
    const chunkParams = params.slice(p, p + MLFLOW_LIMITS.paramsPerBatch);
    p += chunkParams.length;
    const chunkTags = tags.slice(t, t + MLFLOW_LIMITS.tagsPerBatch);
    t += chunkTags.length;
    const room = Math.min(
      MLFLOW_LIMITS.metricsPerBatch,
      MLFLOW_LIMITS.entitiesPerBatch - chunkParams.length - chunkTags.length,
    );
    const chunkMetrics = metrics.slice(m, m + room);
    m += chunkMetrics.length;
    chunks.push({ metrics: chunkMetrics, params: chunkParams, tags: chunkTags });
  }
  return chunks;
}

function parseRetryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  jsonl: 'application/x-ndjson',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  md: 'text/markdown',
  csv: 'text/csv',
  txt: 'text/plain',
  log: 'text/plain',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  svg: 'image/svg+xml',
  html: 'text/html',
};

function contentTypeFor(path: string): string {
  const extension = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return CONTENT_TYPES[extension] ?? 'application/octet-stream';
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
