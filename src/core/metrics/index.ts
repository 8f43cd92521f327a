/**
 * The metric module: every metric the runner, `affectlab metrics` and `affectlab compare` report,
 * defined once. Import from here.
 */
export * from './keys.js';
export * from './classification.js';
export * from './regression.js';
export * from './format.js';
