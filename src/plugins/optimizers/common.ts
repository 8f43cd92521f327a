import { Type } from '../../sdk/index.js';

/** The learning rate every optimizer takes: the first epoch's, and LR schedules' base. */
// 0 is allowed, as in Keras: a step that only updates batch-norm statistics (and tests that
// compare dropout masks on unchanged weights)
export const learningRateOption = Type.Number({
  minimum: 0,
  // finite and bounded, far beyond any useful rate: a run that diverges (1e30 overflows the
  // weights on either engine) fails naming its step, as the faults tests check
  maximum: 1e30,
  default: 0.001,
  description: 'Learning rate of the first epoch (LR-schedule callbacks start from it).',
});
