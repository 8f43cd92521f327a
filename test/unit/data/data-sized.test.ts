/**
 * Code paths that take AffectNet-sized arrays (a 134k-example Happy class): none may spread an
 * array into a call (`push(...xs)`, `Math.max(...xs)`), which overflows the call stack at about
 * 120k elements. Each test fails with "Maximum call stack size exceeded" on such code.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compareTable,
  formatCompare,
  type RunSummary,
} from '../../../src/core/reporting/compare.js';
import { lineChartSvg } from '../../../src/core/reporting/plots.js';
import { Logger } from '../../../src/sdk/services.js';
import { balancedSplit } from '../../../src/plugins/datasets/affectnet/split.js';
import { DownSampleSampler } from '../../../src/plugins/samplers/down-sample.js';
import { UpSampleSampler } from '../../../src/plugins/samplers/up-sample.js';
import { WeightedSampler } from '../../../src/plugins/samplers/weighted.js';

/** AffectNet training.csv per-class sizes, report6 order (Neutral, Happy, Sad, Surprise, Fear, Anger). */
const REPORT6_TRAIN = [74_874, 134_415, 25_459, 14_090, 6_378, 24_882];

function labelsOf(counts: readonly number[]): number[] {
  const labels: number[] = [];
  // interleaved, as the file list is
  const left = [...counts];
  while (left.some((n) => n > 0)) {
    left.forEach((n, c) => {
      if (n > 0) {
        labels.push(c);
        left[c]--;
      }
    });
  }
  return labels;
}

const quiet = (): Logger => {
  const logger = new Logger();
  logger.level = 'error';
  return logger;
};

test('balancedSplit at full size: 280k records, a 134k class', () => {
  const labels = labelsOf(REPORT6_TRAIN);
  const records = labels.map((group, i) => ({ group, line: i + 2 }));
  const split = balancedSplit(records, [0, 1, 2, 3, 4, 5], 500, 42);
  assert.equal(split.validation.length, 3000);
  assert.equal(split.train.length, records.length - 3000);
  const happy = split.train.filter((r) => r.group === 1).length;
  assert.equal(happy, 134_415 - 500);
  for (let i = 1; i < split.train.length; i++)
    assert.ok(split.train[i].line > split.train[i - 1].line, 'file order');
  const capped = balancedSplit(records, [0, 1, 2, 3, 4, 5], 500, 42, 100_000);
  assert.equal(capped.train.filter((r) => r.group === 1).length, 100_000);
});

test('up-sample at full size: every class raised to the 134k Happy class', () => {
  const labels = labelsOf(REPORT6_TRAIN);
  const sampler = new UpSampleSampler({}, quiet());
  const order = sampler.epochPlan({ labels: labels, numClasses: 6, epoch: 0, seed: 42 });
  assert.equal(order.length, 6 * 134_415);
  const counts = new Array<number>(6).fill(0);
  for (const i of order) counts[labels[i]]++;
  assert.deepEqual(counts, new Array<number>(6).fill(134_415));
});

test('down-sample and weighted at full size', () => {
  const labels = labelsOf(REPORT6_TRAIN);
  const down = new DownSampleSampler({}, quiet()).epochPlan({
    labels: labels,
    numClasses: 6,
    epoch: 0,
    seed: 42,
  });
  assert.equal(down.length, 6 * 6_378);
  const weighted = new WeightedSampler({}, quiet());
  assert.equal(
    weighted.epochPlan({ labels: labels, numClasses: 6, epoch: 0, seed: 42 }).length,
    labels.length,
  );
  assert.equal(weighted.lossWeighting.classWeights(REPORT6_TRAIN).length, 6);
});

test('compare over more runs than a call takes arguments', () => {
  const runs: RunSummary[] = Array.from({ length: 150_000 }, (_, i) => ({
    runId: `r${i}`,
    experiment: 'sweep',
    status: 'FINISHED',
    source: 'local',
    metrics: { accuracy: (i % 997) / 997, f1_macro: (i % 991) / 991 },
  }));
  const table = compareTable(runs);
  assert.equal(table.rows.length, runs.length);
  assert.equal(table.rows[0].run.metrics.f1_macro, 990 / 991);
  assert.ok(table.rows[0].best[table.columns.indexOf('f1_macro')]);
  assert.ok(formatCompare(table, 'table').length > 0);
});

test('a line chart of more points than a call takes arguments', () => {
  const points = Array.from({ length: 200_000 }, (_, i): [number, number] => [
    i,
    Math.sin(i / 1000),
  ]);
  const svg = lineChartSvg('loss per step', [{ name: 'loss', points }], 'step');
  assert.match(svg, /^<svg/);
  assert.match(svg, />199999</, 'the x axis ends at the last step');
});
