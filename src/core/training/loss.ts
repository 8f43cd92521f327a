/**
 * What every loss shares: the clipping epsilon and the guard that stops a run whose loss is no
 * longer finite. The losses themselves are plugins (src/plugins/losses).
 */
import { UserError } from '../../sdk/errors.js';

/** Keras' backend epsilon: probabilities are clipped to [EPS, 1 - EPS] before the log. */
export const LOSS_EPSILON = 1e-7;

/**
 * A loss that became NaN or infinite. A user error (bad learning rate, bad data), not a crash:
 * the runner marks the run FAILED with this message and keeps every completed epoch.
 */
export class NonFiniteLossError extends UserError {
  constructor(
    readonly value: number,
    readonly context: string,
    /** What most likely made it non-finite (`the update of the step before`). */
    readonly origin?: string,
  ) {
    super(
      `loss became ${value} at ${context}${origin ? `, after ${origin}` : ''}; training stopped. ` +
        'Common causes: a learning rate too high, NaN or infinite input pixels or targets, or ' +
        'class weights that are 0 or huge.',
    );
    this.name = 'NonFiniteLossError';
  }
}

/** Throws NonFiniteLossError when a loss value is NaN or infinite. `context`: "epoch 3 step 17". */
export function assertFiniteLoss(value: number, context: string, origin?: string): void {
  if (!Number.isFinite(value)) throw new NonFiniteLossError(value, context, origin);
}
