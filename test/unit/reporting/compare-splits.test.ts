import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  compareTable,
  formatCompare,
  localRuns,
  mixedSplitsWarning,
} from '../../../src/core/reporting/compare.js';
import type { DatasetSplits, Example } from '../../../src/sdk/contracts/data.js';
import { Logger } from '../../../src/sdk/services.js';
import { warnIfValidationIsTest } from '../../../src/core/runner/experiment-run.js';
import { formatSweepCompare, sweepCompare } from '../../../src/core/sweep/compare.js';
import type { SweepRecord } from '../../../src/core/sweep/launch.js';
import { repoRoot, tempDir, writeFiles } from '../../support/helpers.js';

/** A finished run in a local store whose final metrics scored `split` (from `source`). */
function runFiles(
  experiment: string,
  runId: string,
  split: string,
  source: string | undefined,
  accuracy: number,
): Record<string, string> {
  const dir = `${experiment}/${runId}`;
  return {
    [`${dir}/run.json`]: JSON.stringify({ runId, experiment, status: 'FINISHED', startTime: 1 }),
    [`${dir}/metrics.json`]: JSON.stringify({
      split,
      ...(source === undefined ? {} : { source }),
      count: 10,
      metrics: { [`${split}_accuracy`]: accuracy, [`${split}_f1_macro`]: accuracy / 2 },
      report: null,
    }),
  };
}

function affectlab(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/affectlab.js'), ...args], {
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('compare shows the split each run was scored on', () => {
  const runs = tempDir('affectlab-compare-splits-');
  writeFiles(runs, {
    ...runFiles('a', 'r1', 'test', 'validation.csv', 0.5),
    ...runFiles('a', 'r2', 'test', 'validation.csv', 0.6),
    ...runFiles('b', 'r3', 'validation', 'training.csv: 500 per class held out', 0.9),
  });

  it('reads the split and its source from metrics.json; warns when a table mixes splits', async () => {
    const all = await localRuns({ runsRoot: runs, options: {} });
    assert.deepEqual(
      all.map((r) => [r.runId, r.split, r.splitSource, r.metrics.accuracy]),
      [
        ['r1', 'test', 'validation.csv', 0.5],
        ['r2', 'test', 'validation.csv', 0.6],
        ['r3', 'validation', 'training.csv: 500 per class held out', 0.9],
      ],
    );
    const sameSplit = all.filter((r) => r.split === 'test');
    assert.equal(mixedSplitsWarning(sameSplit), undefined);
    assert.equal(compareTable(sameSplit).warning, undefined);
    const mixed = compareTable(all);
    assert.match(
      mixed.warning ?? '',
      /different splits.*test \(validation\.csv\) for 2 run\(s\), validation \(training\.csv: 500 per class held out\) for 1 run\(s\)/,
    );
    const table = formatCompare(mixed, 'table');
    assert.match(table.split('\n')[0], /^run\s+experiment\s+status\s+split\s+accuracy/);
    assert.match(
      table,
      /r3\s+b\s+FINISHED\s+validation \(training\.csv: 500 per class held out\)\s+0\.900\*/,
    );
    assert.match(table, /warning: these runs were scored on different splits/);
    assert.match(formatCompare(mixed, 'markdown'), /\*\*Warning:\*\* these runs/);
    assert.match(formatCompare(mixed, 'html'), /<td>test \(validation\.csv\)<\/td>/);
    const json = JSON.parse(formatCompare(mixed, 'json')) as { split: string }[];
    assert.deepEqual(json.map((r) => r.split).sort(), ['test', 'test', 'validation']);
    // a run from before metrics.json named its source still compares, its split marked
    const legacy = [{ ...all[0], splitSource: undefined }, all[1]];
    assert.match(mixedSplitsWarning(legacy) ?? '', /test for 1 run\(s\)/);
  });

  it('affectlab compare warns on stderr, and --split keeps one split', () => {
    const mixed = affectlab(['compare', '--runs', runs]);
    assert.equal(mixed.code, 0, mixed.stderr);
    assert.match(mixed.stderr, /scored on different splits/);
    const test = affectlab(['compare', '--runs', runs, '--split', 'test', '--format', 'json']);
    assert.equal(test.code, 0, test.stderr);
    assert.doesNotMatch(test.stderr, /different splits/);
    assert.deepEqual((JSON.parse(test.stdout) as { runId: string }[]).map((r) => r.runId).sort(), [
      'r1',
      'r2',
    ]);
    const none = affectlab(['compare', '--runs', runs, '--split', 'train']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /none of the 3 run\(s\) was scored on the train split/);
  });
});

describe('a validation split that holds test images', () => {
  const example = (id: string): Example => ({ id, imagePath: `/data/${id}`, label: 0 });
  const splits = (validation: string[], test: string[]): DatasetSplits => ({
    task: { kind: 'classification', classes: [{ index: 0, code: 0, name: 'Neutral' }] },
    image: { height: 8, width: 8, channels: 3 },
    train: [example('t1')],
    validation: validation.map(example),
    test: test.map(example),
    badRecords: { total: 0, byReason: {}, examples: [] },
    description: {},
  });
  const warnings = (s: DatasetSplits): string[] => {
    const logger = new Logger();
    const seen: string[] = [];
    logger.warn = (line: string) => void seen.push(line);
    warnIfValidationIsTest(s, logger);
    return seen;
  };

  it('is warned about at the start of a run, naming how many images it shares', () => {
    assert.deepEqual(warnings(splits(['v1', 'v2'], ['x1', 'x2'])), []);
    const [line, ...rest] = warnings(splits(['v1', 'x1', 'x2'], ['x1', 'x2', 'x3']));
    assert.equal(rest.length, 0);
    assert.match(line, /validation split shares 2 of its 3 images with the test split/);
    assert.match(line, /checkpoint selection and early stopping .* optimistic/);
  });
});

describe('compare --sweep and a swept split', () => {
  it("warns when the combinations' val_* metrics scored different validation splits", () => {
    const dir = tempDir('affectlab-sweep-splits-');
    const sources = [
      'training.csv: 500 per class held out',
      'training.csv: 0.05 of each class held out',
    ];
    writeFiles(dir, {
      'r0/params.json': JSON.stringify({ 'data.validation_source': sources[0] }),
      'r1/params.json': JSON.stringify({ 'data.validation_source': sources[1] }),
      'r2/params.json': JSON.stringify({ 'data.validation_source': sources[0] }),
    });
    const record = (runs: number[]): SweepRecord => ({
      sweepId: 's',
      experiment: 'e',
      sourceFile: 'e.yaml',
      mode: 'grid',
      parameters: {},
      launcher: { type: 'local' },
      runsRoot: dir,
      createdAt: 0,
      combinations: runs.map((i) => ({
        index: i,
        overrides: [],
        runId: `r${i}`,
        runDir: join(dir, `r${i}`),
        configFile: join(dir, `r${i}`, 'config.yaml'),
        status: 'FINISHED',
      })),
    });
    assert.equal(sweepCompare(record([0, 2])).warning, undefined);
    const mixed = sweepCompare(record([0, 1, 2]));
    assert.equal(
      mixed.warning,
      "the combinations' validation metrics scored different validation splits, so they do not compare: " +
        `${sources[0]} (#0, #2); ${sources[1]} (#1)`,
    );
    assert.match(formatSweepCompare(record([0, 1, 2]), 'table'), /\nwarning: the combinations'/);
  });
});
