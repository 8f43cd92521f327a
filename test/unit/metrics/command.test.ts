import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  datasetClassPresets,
  scorePredictionsFile,
  formatPredictionScores,
} from '../../../src/core/cli/commands/metrics.js';
import { createCli } from '../../../src/core/cli/program.js';
import { UserError } from '../../../src/sdk/errors.js';
import { parseCsvText, splitCsvLine } from '../../../src/core/pipeline/csv.js';
import type { ClassPresets } from '../../../src/sdk/contracts/data.js';
import { Registry } from '../../../src/core/host/registry.js';
import { affectnetDataset } from '../../../src/plugins/datasets/affectnet/index.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';
import { affectnetClassPresets as classPresets } from '../../../src/plugins/datasets/affectnet/constants.js';

const dir = tempDir();

function csvFile(name: string, text: string): string {
  writeFiles(dir, { [name]: text });
  return join(dir, name);
}

/** Run the CLI in-process, capturing stdout. */
async function runCli(args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    const program = createCli(testRuntime());
    program.exitOverride();
    await program.parseAsync(args, { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

describe('parseCsvText (the one CSV reader, as metrics reads predictions)', () => {
  it('handles quotes, CRLF, blank lines and reports record line numbers', () => {
    const { header, records } = parseCsvText('a,b\r\n"x, y",2\r\n\r\n"say ""hi""",3\n', 'f.csv');
    assert.deepEqual(header, ['a', 'b']);
    assert.deepEqual(records, [
      { line: 2, cells: ['x, y', '2'] },
      { line: 4, cells: ['say "hi"', '3'] },
    ]);
  });

  it('reads plain and quoted lines alike; a BOM, a lone CR and `""` as a dataset list is read', () => {
    const text = '\uFEFFa,b\n1,2\n"q""",3\r\n4, 5 \n\n"one, field",6\r7,8\n  \n""\n9,\n';
    const { header, records } = parseCsvText(text, 'm.csv');
    assert.deepEqual(header, ['a', 'b']);
    assert.deepEqual(records, [
      { line: 2, cells: ['1', '2'] },
      { line: 3, cells: ['q"', '3'] },
      { line: 4, cells: ['4', ' 5 '] },
      { line: 6, cells: ['one, field', '6'] },
      { line: 7, cells: ['7', '8'] },
      { line: 10, cells: ['9', ''] },
    ]);
  });

  it('names the line of a row with the wrong number of fields, an open quote, an empty file', () => {
    assert.throws(
      () => parseCsvText('label,pred\n0,1\n1\n', 'p.csv'),
      /p\.csv:3: 1 fields, but the header has 2/,
    );
    assert.throws(
      () => parseCsvText('a\n"open\nline"\n', 'q.csv'),
      /q\.csv:2: a quoted field is not closed \(a field cannot span lines\)/,
    );
    assert.throws(() => parseCsvText('\n\n', 'e.csv'), /e\.csv: the file is empty/);
  });

  it('splits each line as the dataset plugins split file-list rows', () => {
    const line = 'x/1.jpg,"1,2",3';
    assert.deepEqual(
      parseCsvText(`h1,h2,h3\n${line}\n`, 'l.csv').records[0].cells,
      splitCsvLine(line),
    );
  });
});

describe('affectlab metrics', () => {
  it('scores score_<i> columns with class-name labels and the report6 preset', () => {
    const file = csvFile(
      'scores.csv',
      [
        'label,score_0,score_1,score_2,score_3,score_4,score_5',
        'Neutral,0.6,0.1,0.1,0.1,0.05,0.05',
        'happy,0.1,0.7,0.05,0.05,0.05,0.05',
        '2,0.2,0.2,0.4,0.1,0.05,0.05',
        'Surprise,0.1,0.1,0.1,0.6,0.05,0.05',
        'Fear,0.3,0.1,0.1,0.1,0.35,0.05',
        'Anger,0.5,0.1,0.1,0.1,0.1,0.1',
      ].join('\n'),
    );
    const scores = scorePredictionsFile(file, { classPresets, normalized: true });
    const report = scores.classification?.report;
    assert.ok(report);
    assert.deepEqual(report.classNames, ['Neutral', 'Happy', 'Sad', 'Surprise', 'Fear', 'Anger']);
    assert.equal(report.orig.accuracy, 5 / 6);
    assert.equal(report.perClass[5].recall, 0);
    assert.equal(scores.classification?.metrics.recall_anger, 0);
    assert.equal(typeof report.orig.auc_roc, 'number');
    const text = formatPredictionScores(scores, 'table');
    assert.match(text, /Classification: 6 examples/);
    assert.match(text, /Confusion matrix/);
  });

  it('accepts class-name score columns, a pred column alone, and --classes lists', () => {
    const named = csvFile('named.csv', 'label,Neutral,Happy\n0,0.8,0.2\n1,0.3,0.7\n1,0.6,0.4\n');
    const byName = scorePredictionsFile(named, {
      classPresets,
      classes: 'Neutral,Happy',
      normalized: false,
    });
    assert.equal(byName.classification?.report.orig.accuracy, 2 / 3);
    assert.equal(byName.classification?.report.norm, undefined);

    const predOnly = csvFile('pred.csv', 'label,pred\nSad,Sad\nSad,Happy\nHappy,Happy\n');
    const scored = scorePredictionsFile(predOnly, {
      classPresets,
      classes: 'Happy,Sad',
      normalized: true,
    });
    assert.equal(scored.classification?.report.orig.accuracy, 2 / 3);
    assert.equal(scored.classification?.report.orig.auc_roc, null);
  });

  it('refuses a column named after a dataset class that --classes leaves out, naming it', () => {
    // Disgust holds most of the probability: scoring Neutral,Happy alone would hide it
    const file = csvFile(
      'extra-class.csv',
      'image,label,Neutral,Happy,disgust\na.jpg,0,0.1,0.1,0.8\nb.jpg,1,0.2,0.2,0.6\n',
    );
    assert.throws(
      () =>
        scorePredictionsFile(file, { classPresets, classes: 'Neutral,Happy', normalized: false }),
      (e: unknown) =>
        e instanceof UserError &&
        e.message.startsWith(`${file}:1: column(s) 'disgust' name a class of the dataset`) &&
        /'Neutral,Happy' \(Neutral, Happy\) leaves out/.test(e.message),
    );
    // with the class in --classes the same file scores
    const scored = scorePredictionsFile(file, {
      classPresets,
      classes: 'Neutral,Happy,Disgust',
      normalized: false,
    });
    assert.equal(scored.classification?.report.count, 2);
  });

  it('scores regression columns, skipping rows without values', () => {
    const file = csvFile(
      'va.csv',
      'valence,arousal,pred_valence,pred_arousal\n0.5,0.2,0.4,0.1\n-0.3,0.1,-0.2,0.1\n,,,\n0.1,-0.4,0.2,0.1\n',
    );
    const scores = scorePredictionsFile(file, { classPresets, normalized: true });
    assert.equal(scores.classification, undefined);
    assert.equal(scores.regression?.examples, 3);
    assert.equal(scores.regression?.skipped, 1);
    assert.equal(scores.regression?.report.valence_sagr, 1);
    assert.equal(scores.regression?.report.arousal_sagr, 2 / 3);
  });

  it('gives clear errors naming file and line', () => {
    const badLabel = csvFile('bad-label.csv', 'label,pred\n0,0\nJoy,1\n');
    assert.throws(
      () => scorePredictionsFile(badLabel, { classPresets, normalized: true }),
      (e: unknown) =>
        e instanceof UserError &&
        /bad-label\.csv:3: label 'Joy' is not one of the classes/.test(e.message),
    );
    const badIndex = csvFile('bad-index.csv', 'label,pred\n0,7\n');
    assert.throws(
      () =>
        scorePredictionsFile(badIndex, {
          classPresets,
          normalized: true,
          numericLabels: 'indices',
        }),
      /bad-index\.csv:2: pred 7 is not a class index in 0\.\.5/,
    );
    const badScore = csvFile('bad-score.csv', 'label,score_0,score_1\n0,0.5,abc\n');
    assert.throws(
      () =>
        scorePredictionsFile(badScore, {
          classPresets,
          classes: 'Neutral,Happy',
          normalized: true,
        }),
      /bad-score\.csv:2: score of Happy is 'abc', not a finite number/,
    );
    const partialScores = csvFile('partial.csv', 'label,score_0\n0,0.5\n');
    assert.throws(
      () =>
        scorePredictionsFile(partialScores, {
          classPresets,
          classes: 'Neutral,Happy',
          normalized: true,
        }),
      /score columns are missing for Happy/,
    );
    const sentinel = csvFile(
      'sentinel.csv',
      'valence,arousal,pred_valence,pred_arousal\n-2,-2,0.1,0.1\n',
    );
    assert.throws(
      () => scorePredictionsFile(sentinel, { classPresets, normalized: true }),
      /sentinel\.csv:2: valence -2 is outside \[-1, 1\]/,
    );
    const nothing = csvFile('nothing.csv', 'foo,bar\n1,2\n');
    assert.throws(
      () => scorePredictionsFile(nothing, { classPresets, normalized: true }),
      /nothing to score/,
    );
    assert.throws(
      () => scorePredictionsFile(join(dir, 'missing.csv'), { classPresets, normalized: true }),
      /cannot read/,
    );
  });

  it('is registered in the CLI and prints JSON with null for undefined metrics', async () => {
    const file = csvFile(
      'cli.csv',
      'label,pred,valence,arousal,pred_valence,pred_arousal\n0,0,0.1,0.2,0.3,0.3\n1,0,0.2,-0.1,0.3,0.3\n',
    );
    const out = JSON.parse(
      await runCli(['metrics', '--input', file, '--classes', 'Neutral,Happy', '--json']),
    );
    assert.equal(out.classification.orig.accuracy, 0.5);
    assert.equal(out.classification.perClass[1].precision, null);
    assert.equal(out.regression.report.valence_corr, null);
    assert.equal(out.metrics.accuracy, 0.5);
    assert.equal('valence_corr' in out.metrics, false);
    const table = await runCli([
      'metrics',
      '--input',
      file,
      '--classes',
      'Neutral,Happy',
      '--no-normalized',
      '--markdown',
    ]);
    assert.match(table, /\| Metric +\| Orig +\|\n/);
    assert.match(table, /CORR \(Pearson\) \| +undefined/);
  });
});

describe('metrics --classes: presets come from the registered dataset plugins', () => {
  class NoDataset {}
  const toyPresets: ClassPresets = {
    codeName: 'toy code',
    names: ['cat', 'dog', 'bird'],
    presets: { pets: [1, 0] },
    defaultPreset: 'pets',
    resolve: (spec) => {
      const codes = typeof spec === 'string' ? [1, 0] : spec.map(Number);
      return codes.map((code, index) => ({ index, code, name: ['cat', 'dog', 'bird'][code] }));
    },
  };
  const toy = {
    kind: 'dataset' as const,
    type: 'toy',
    description: 'a dataset with its own codes',
    optionsSchema: { type: 'object' },
    implementation: NoDataset,
    classPresets: toyPresets,
  };

  it('picks the only dataset with presets, asks for --dataset when there are several', () => {
    const registry = new Registry();
    assert.throws(() => datasetClassPresets(registry), /no registered dataset plugin/);
    registry.register(toy);
    assert.equal(datasetClassPresets(registry), toyPresets);
    registry.register(affectnetDataset);
    assert.throws(() => datasetClassPresets(registry), /several dataset plugins .*--dataset/);
    assert.equal(datasetClassPresets(registry, 'affectnet'), classPresets);
    assert.throws(() => datasetClassPresets(registry, 'toi'), /did you mean 'toy'/);
  });

  it("scores with another dataset's codes and names", () => {
    const dir = tempDir();
    writeFiles(dir, { 'toy.csv': 'label,pred\n0,0\n1,0\n1,1\n2,1\n' });
    assert.throws(
      () =>
        scorePredictionsFile(join(dir, 'toy.csv'), { classPresets: toyPresets, normalized: false }),
      /toy\.csv:5: label 2 is toy code 2 \(bird\), not one of the classes of 'pets'/,
    );
    writeFiles(dir, { 'pets.csv': 'label,pred\n0,0\n1,0\n1,1\n' });
    const scores = scorePredictionsFile(join(dir, 'pets.csv'), {
      classPresets: toyPresets,
      normalized: false,
    });
    assert.deepEqual(scores.classification?.report.classNames, ['dog', 'cat']);
    assert.match(scores.notes.join('\n'), /toy codes: 1 = dog \(index 0\), 0 = cat \(index 1\)/);
  });
});
