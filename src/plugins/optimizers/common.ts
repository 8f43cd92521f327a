import { Type } from '../../core/plugin/define.js';

/** The learning rate every optimizer takes: the first epoch's, and LR schedules' base. */
export const learningRateOption = Type.Number({
  exclusiveMinimum: 0,
  default: 0.001,
  description: 'Learning rate of the first epoch (LR-schedule callbacks start from it).',
});
