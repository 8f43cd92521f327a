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

/** `text` with the `user:password@` of every URL in it replaced by `***@`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, `$1${REDACTED}@`);
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
