/** Helpers shared by the sampler plugins. */
import { Random } from '../../sdk/index.js';

/**
 * The generator for one epoch: a pure function of (seed, epoch), so a resumed run replays the
 * same epochs and two samplers with the same seed never depend on call order.
 */
export function epochRandom(seed: number, epoch: number): Random {
  return Random.fork(seed, 'sampler', epoch);
}

/** Example indices grouped by class, in ascending order; labels checked against numClasses. */
export function indicesByClass(labels: readonly number[], numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`sampler: the number of classes must be a positive integer; got ${numClasses}`);
  }
  const byClass = Array.from({ length: numClasses }, () => [] as number[]);
  labels.forEach((label, i) => {
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new Error(
        `sampler: training example ${i} has label ${label}, not a class index in 0..${numClasses - 1}`,
      );
    }
    byClass[label].push(i);
  });
  return byClass;
}

/** Indices of the classes without training examples. */
export function emptyClasses(byClass: readonly (readonly number[])[]): number[] {
  return byClass.flatMap((members, c) => (members.length === 0 ? [c] : []));
}

/** Size of the largest class (0 when there are none); a loop, so any class count works. */
export function largestClassSize(byClass: readonly (readonly number[])[]): number {
  let largest = 0;
  for (const members of byClass) if (members.length > largest) largest = members.length;
  return largest;
}

/** Size of the smallest class that has examples (0 when none has). */
export function smallestNonEmptyClassSize(byClass: readonly (readonly number[])[]): number {
  let smallest = 0;
  for (const members of byClass) {
    if (members.length > 0 && (smallest === 0 || members.length < smallest))
      smallest = members.length;
  }
  return smallest;
}

/** `k` distinct items drawn uniformly without replacement (a partial Fisher-Yates shuffle). */
export function drawWithoutReplacement<T>(items: readonly T[], k: number, rng: Random): T[] {
  const pool = [...items];
  const take = Math.min(k, pool.length);
  for (let i = 0; i < take; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, take);
}

/**
 * Every training example once, shuffled with the epoch's generator: the order of the samplers
 * that leave the class balance alone (imbalanced, weighted). Labels are still checked.
 */
export function everyExampleOnce(
  labels: readonly number[],
  numClasses: number,
  epoch: number,
  seed: number,
): number[] {
  indicesByClass(labels, numClasses);
  return epochRandom(seed, epoch).shuffle(Array.from({ length: labels.length }, (_, i) => i));
}
