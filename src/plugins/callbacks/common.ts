import { Enum, Type, type JsonSchema } from '../../sdk/index.js';

/** A monitored metric key, optional with a default (the class also applies it when built directly). */
export const monitorOption = Type.Optional(
  Type.String({
    description: 'A metric key as logged per epoch, e.g. val_loss, val_accuracy, val_f1_macro',
    pattern: '^[a-z][a-z0-9_]*$',
    default: 'val_loss',
  }),
);

export const modeOption = Type.Optional(
  Enum(['min', 'max', 'auto'], {
    default: 'auto',
    description: 'auto: min for losses and errors (loss, error, rmse in the name), else max',
  }),
);

/** The same two as plain JSON Schema, for a callback not yet declared with definePlugin (asha). */
export const metricName: JsonSchema = {
  type: 'string',
  description: 'A metric key as logged per epoch, e.g. val_loss, val_accuracy, val_f1_macro',
  pattern: '^[a-z][a-z0-9_]*$',
};

export const modeSchema: JsonSchema = {
  enum: ['min', 'max', 'auto'],
  default: 'auto',
  description: 'auto: min for losses and errors (loss, error, rmse in the name), else max',
};
