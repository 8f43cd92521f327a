/**
 * Credentials written into URLs (`http://user:password@host`) must not reach what a run
 * persists or sends (config.yaml, params.json, events.jsonl, tracking-server params): any
 * plugin may take a URL option, so the runner redacts every string of the config the same way.
 */

/** What replaces the userinfo of a URL. */
export const REDACTED = '***';

/**
 * `scheme://userinfo@`: the userinfo runs to the last `@` before the path, query or fragment
 * (a password may hold an `@` of its own).
 */
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/\s?#]*@/gi;

/**
 * Whether an environment variable's name says it holds a credential: it contains PASSWORD,
 * PASSWD, TOKEN, SECRET or CREDENTIAL, ends in _KEY (or _KEY_ID), or is one of MLflow's
 * tracking credentials. A config may not interpolate such a variable, and the values of those
 * set in the process are scrubbed from everything a run writes or logs.
 */
export function isCredentialName(name: string): boolean {
  const n = name.toUpperCase();
  return (
    /PASSWORD|PASSWD|TOKEN|SECRET|CREDENTIAL/.test(n) ||
    /(^|_)(API_?)?KEY(_ID)?$/.test(n) ||
    /^MLFLOW_TRACKING_(USERNAME|CLIENT_CERT_PATH|SERVER_CERT_PATH|AUTH)$/.test(n)
  );
}

/** Shorter values are not scrubbed: replacing every "ab" in a log would hide nothing. */
const MIN_SCRUBBED_LENGTH = 4;

/** The values of the credential-looking variables set in `env`, longest first. */
export function credentialValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.length >= MIN_SCRUBBED_LENGTH && isCredentialName(name))
      values.add(value);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/** `text` with every known credential value (see credentialValues) replaced by `***`. */
export function scrubSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const value of credentialValues(env)) out = out.replaceAll(value, REDACTED);
  return out;
}

/**
 * `text` with the `user:password@` of every URL in it replaced by `***@`, and every known
 * credential value (the credential-looking environment variables set) by `***`.
 */
export function redactUrlCredentials(text: string): string {
  return scrubSecrets(text.replace(URL_USERINFO, `$1${REDACTED}@`));
}

/**
 * A copy of a JSON-like value (objects, arrays, strings, numbers...) with every string redacted
 * by redactUrlCredentials; keys and every other value are kept.
 */
export function redactCredentials<T>(value: T): T {
  if (typeof value === 'string') return redactUrlCredentials(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactCredentials(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // defineProperty: a key named __proto__ stays a plain key of the copy
      Object.defineProperty(out, k, {
        value: redactCredentials(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out as T;
  }
  return value;
}
