import type { ClassInfo, Task, TaskKind } from '../../../src/sdk/contracts/data.js';

/** A task with `count` classes named c0, c1, ... (codes = indices). */
export function task(kind: TaskKind, count = 6): Task {
  const classes: ClassInfo[] =
    kind === 'valence-arousal'
      ? []
      : Array.from({ length: count }, (_, i) => ({ index: i, code: i, name: `c${i}` }));
  return { kind, classes };
}

export const TASK_KINDS: TaskKind[] = [
  'classification',
  'valence-arousal',
  'expression+valence-arousal',
];

/** The output shapes a task's model must have for a batch of `batch`. */
export function expectedOutputShapes(kind: TaskKind, classes: number, batch: number): number[][] {
  if (kind === 'classification') return [[batch, classes]];
  if (kind === 'valence-arousal') return [[batch, 2]];
  return [
    [batch, classes],
    [batch, 2],
  ];
}
