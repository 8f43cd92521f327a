import 'reflect-metadata';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { parseCsvText as parseCsv } from '../../../src/core/pipeline/csv.js';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { tinyTrainedRun } from '../../support/trained-run.js';

const work = tempDir('affectlab-predict-');
const CLASSES = 'Neutral,Happy,Sad,Surprise,Fear,Anger';
let runDir = '';
let synth = '';
let runTest: Record<string, number> = {};

function readCsv(file: string): { header: string[]; rows: string[][] } {
  const { header, records } = parseCsv(readFileSync(file, 'utf8'), file);
  return { header, rows: records.map((r) => r.cells) };
}

describe('affectlab predict and evaluate on a trained run', () => {
  before(async () => {
    ({ runDir, synth, testMetrics: runTest } = await tinyTrainedRun(work, 'pred'));
  });

  it('predicts an AffectNet CSV; affectlab metrics reads the CSV back to the same scores as evaluate --list', () => {
    const list = join(synth, 'Manually_Annotated_file_lists', 'validation.csv');
    const out = join(work, 'val-preds.csv');
    const predicted = affectlab(['predict', '--run', runDir, list, '--out', out, '--batch', '5']);
    assert.equal(predicted.code, 0, predicted.stderr);
    const { header, rows } = readCsv(out);
    assert.deepEqual(header, ['image', 'label', 'pred', ...CLASSES.split(',')]);
    // validation.csv: 60 rows of 11 codes; the 6 report6 classes' rows are kept, the rest named
    assert.match(predicted.stderr, /left out \d+ row\(s\) of classes the run was not trained on: /);
    assert.match(predicted.stderr, new RegExp(`predicted ${rows.length} of ${rows.length} image`));
    assert.ok(rows.length > 20, String(rows.length));
    for (const row of rows) {
      const p = row.slice(3).map(Number);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5, row.join(','));
      assert.equal(row[2], CLASSES.split(',')[p.indexOf(Math.max(...p))]);
    }
    const scored = affectlab(['metrics', '--input', out, '--classes', CLASSES, '--json']);
    assert.equal(scored.code, 0, scored.stderr);
    const fromCsv = (JSON.parse(scored.stdout) as { metrics: Record<string, number | null> })
      .metrics;
    const evalDir = join(work, 'eval-list');
    const evaluated = affectlab(['evaluate', '--run', runDir, '--list', list, '--out', evalDir]);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const metrics = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8')) as {
      metrics: Record<string, number>;
      count: number;
    };
    assert.equal(metrics.count, rows.length);
    for (const key of ['accuracy', 'f1_macro', 'kappa', 'auc_roc', 'auc_pr', 'norm_f1_macro']) {
      assert.ok(Number.isFinite(metrics.metrics[`list_${key}`]), key);
      // the CSV holds 7 significant digits
      assert.ok(
        Math.abs((fromCsv[key] as number) - metrics.metrics[`list_${key}`]) < 1e-5,
        `${key}: csv ${fromCsv[key]} vs evaluate ${metrics.metrics[`list_${key}`]}`,
      );
    }
  });

  it("evaluate on the run's test split reproduces the run's own final metrics and writes a run's artifacts", () => {
    const evaluated = affectlab(['evaluate', '--run', runDir]);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    const dir = /evaluation: (\S+) \(test, (\d+) images\)/.exec(evaluated.stdout);
    assert.ok(dir, evaluated.stdout);
    assert.ok(dir[1].startsWith(join(runDir, 'evaluations')), dir[1]);
    for (const f of [
      'metrics.json',
      'metrics.md',
      'confusion_matrix.csv',
      'confusion_matrix.png',
      'predictions.csv',
      'config.yaml',
      'evaluation.json',
      'bad_records.json',
    ])
      assert.ok(existsSync(join(dir[1], f)), f);
    const metrics = JSON.parse(readFileSync(join(dir[1], 'metrics.json'), 'utf8')) as {
      metrics: Record<string, number>;
    };
    const compared = Object.keys(runTest).filter((k) => k !== 'test_loss');
    assert.ok(compared.length > 40, String(compared.length));
    for (const key of compared) {
      const a = runTest[key];
      const b = metrics.metrics[key];
      assert.ok(
        (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) < 1e-6,
        `${key}: run ${a} vs evaluate ${b}`,
      );
    }
    assert.match(evaluated.stdout, /Confusion|actual/i);
  });

  it('evaluate --set changes the data, never the model', () => {
    const refused = affectlab(['evaluate', '--run', runDir, '--set', 'architecture.dense=[4]']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /dataset\.\*, evaluation\.\*.*architecture\.dense/);
    const resized = affectlab(['evaluate', '--run', runDir, '--set', 'dataset.imageSize=64']);
    assert.equal(resized.code, 1);
    assert.match(resized.stderr, /takes input \[null,48,48,3\].*64x64x3/);
    const official = affectlab([
      'evaluate',
      '--run',
      runDir,
      '--split',
      'validation',
      '--set',
      'dataset.split.policy=official',
      '--out',
      join(work, 'eval-official'),
    ]);
    assert.equal(official.code, 0, official.stderr);
    const record = JSON.parse(
      readFileSync(join(work, 'eval-official', 'evaluation.json'), 'utf8'),
    ) as { split: string; overrides: string[] };
    assert.equal(record.split, 'validation');
    assert.deepEqual(record.overrides, ['dataset.split.policy=official']);
  });

  it('--backend cpu (pure JS) predicts what the native backend does', () => {
    const list = join(synth, 'Manually_Annotated_file_lists', 'validation.csv');
    const rows = (backend: string): number[][] => {
      const r = affectlab([
        'predict',
        '--run',
        runDir,
        list,
        '--backend',
        backend,
        '--batch',
        '16',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`images/s, ${backend}\\)`));
      return parseCsv(r.stdout, 'stdout').records.map((row) => row.cells.slice(3).map(Number));
    };
    const native = rows('tensorflow');
    const js = rows('cpu');
    assert.equal(js.length, native.length);
    const diff = Math.max(...js.flatMap((row, i) => row.map((v, j) => Math.abs(v - native[i][j]))));
    assert.ok(diff < 1e-5, String(diff));
  });

  it('names and counts missing and corrupt images instead of skipping them silently', async () => {
    const images = join(work, 'loose');
    mkdirSync(join(images, 'sub'), { recursive: true });
    const source = join(synth, 'Manually_Annotated_Images');
    const first = readCsv(join(synth, 'Manually_Annotated_file_lists', 'validation.csv')).rows;
    copyFileSync(join(source, first[0][0]), join(images, 'a.jpg'));
    copyFileSync(join(source, first[1][0]), join(images, 'sub', 'b.jpg'));
    await sharp({ create: { width: 30, height: 20, channels: 3, background: '#808080' } })
      .png()
      .toFile(join(images, 'c.png'));
    writeFileSync(join(images, 'broken.jpg'), 'not a jpeg');
    writeFileSync(join(images, 'notes.txt'), 'not an image, not picked from a folder');
    const r = affectlab([
      'predict',
      '--run',
      runDir,
      images,
      join(work, 'nope.jpg'),
      '--detector',
      'none',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const { header, records: rows } = parseCsv(r.stdout, 'stdout');
    assert.deepEqual(header, ['image', 'pred', ...CLASSES.split(',')]);
    assert.deepEqual(
      rows.map((row) => row.cells[0]),
      [join(images, 'a.jpg'), join(images, 'c.png'), join(images, 'sub', 'b.jpg')],
    );
    assert.match(r.stderr, /predicted 3 of 5 image\(s\)/);
    assert.match(r.stderr, /2 not predicted/);
    assert.match(r.stderr, /not predicted: .*broken\.jpg: corrupt image/);
    assert.match(r.stderr, /not predicted: .*nope\.jpg: missing image file/);
    const none = affectlab([
      'predict',
      '--run',
      runDir,
      join(work, 'nope.jpg'),
      '--detector',
      'none',
    ]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no image to predict/);
  });
});

describe('affectlab predict for valence and arousal', () => {
  it('writes valence/arousal columns that affectlab metrics scores', async () => {
    const va = await tinyTrainedRun(work, 'pred-va', { task: 'expression+valence-arousal' });
    const list = join(va.synth, 'Manually_Annotated_file_lists', 'validation.csv');
    const out = join(work, 'va-preds.csv');
    const r = affectlab(['predict', '--run', va.runDir, list, '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const { header, rows } = readCsv(out);
    assert.deepEqual(header, [
      'image',
      'label',
      'pred',
      ...CLASSES.split(','),
      'valence',
      'arousal',
      'pred_valence',
      'pred_arousal',
    ]);
    assert.ok(rows.length > 10);
    const scored = affectlab(['metrics', '--input', out, '--classes', CLASSES, '--json']);
    assert.equal(scored.code, 0, scored.stderr);
    const json = JSON.parse(scored.stdout) as {
      metrics: Record<string, number>;
      regression: { examples: number };
    };
    assert.equal(json.regression.examples, rows.length);
    assert.ok(Number.isFinite(json.metrics.valence_rmse));
    assert.ok(Number.isFinite(json.metrics.accuracy));
    // evaluate scores both heads as the run did
    const evalDir = join(work, 'eval-va');
    const evaluated = affectlab(['evaluate', '--run', va.runDir, '--out', evalDir]);
    assert.equal(evaluated.code, 0, evaluated.stderr);
    assert.match(evaluated.stdout, /RMSE/);
    const metrics = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8')) as {
      metrics: Record<string, number>;
    };
    for (const key of ['test_valence_rmse', 'test_arousal_ccc', 'test_accuracy', 'test_f1_macro'])
      assert.ok(
        Math.abs(metrics.metrics[key] - va.testMetrics[key]) < 1e-6,
        `${key}: run ${va.testMetrics[key]} vs evaluate ${metrics.metrics[key]}`,
      );
  });
});
