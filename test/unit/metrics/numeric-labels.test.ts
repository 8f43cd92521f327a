import 'reflect-metadata';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  formatPredictionScores,
  scorePredictionsFile,
} from '../../../src/core/cli/commands/metrics.js';
import { createCli } from '../../../src/core/cli/program.js';
import { UserError } from '../../../src/sdk/errors.js';
import { tempDir, testRuntime, writeFiles } from '../../support/helpers.js';
import { affectnetClassPresets as classPresets } from '../../../src/plugins/datasets/affectnet/constants.js';

const dir = tempDir();

function csvFile(name: string, text: string): string {
  writeFiles(dir, { [name]: text });
  return join(dir, name);
}

/** The CLI in-process (a child process per call would cost seconds): exit code, stdout, stderr. */
async function affectlab(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const capture =
    (into: string[]) =>
    (chunk: string | Uint8Array): boolean => {
      into.push(String(chunk));
      return true;
    };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  let code = 0;
  try {
    const program = createCli(testRuntime());
    // subcommands made before exitOverride() would otherwise call process.exit
    for (const command of [program, ...program.commands]) {
      command.exitOverride();
      command.configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
    }
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    if (exitCode === 0) code = 0;
    else {
      code = 1;
      err.push((error as Error).message);
    }
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('affectlab metrics: numeric labels', () => {
  it('reads numbers as AffectNet codes under a preset: 6 is Anger, not index 6', () => {
    // report6 = codes 0,1,2,3,4,6: Anger is code 6 at model index 5
    const file = csvFile(
      'codes.csv',
      ['label,pred', '6,6', '6,Anger', '0,0', '4,4', 'Fear,5'].join('\n').replace(',5', ',Anger'),
    );
    const scores = scorePredictionsFile(file, { classPresets, normalized: false });
    const report = scores.classification?.report;
    assert.ok(report);
    assert.equal(report.perClass[5].support, 2, 'two Anger labels');
    assert.equal(report.confusion[5][5], 2);
    assert.equal(report.confusion[4][5], 1, 'the Fear row predicted Anger');
    assert.match(scores.notes.join('\n'), /AffectNet expression codes: .*6 = Anger \(index 5\)/);
    assert.match(formatPredictionScores(scores, 'table'), /Notes\n.*6 = Anger \(index 5\)/);
  });

  it('refuses a code outside the preset (Disgust under report6) with a hint', () => {
    const file = csvFile('disgust.csv', 'label,pred\n0,0\n5,6\n');
    assert.throws(
      () => scorePredictionsFile(file, { classPresets, normalized: true }),
      (e: unknown) =>
        e instanceof UserError &&
        /disgust\.csv:3: label 5 is AffectNet expression code 5 \(Disgust\), not one of the classes of 'report6'/.test(
          e.message,
        ) &&
        /--numeric-labels indices/.test(e.message),
    );
    const outOfRange = csvFile('eleven.csv', 'label,pred\n0,11\n');
    assert.throws(
      () => scorePredictionsFile(outOfRange, { classPresets, normalized: true }),
      /eleven\.csv:2: pred 11 is not an AffectNet expression code \(0\.\.10\)/,
    );
  });

  it('reads numbers as model indices with numericLabels: indices', () => {
    const file = csvFile('indices.csv', 'label,pred\n5,5\n4,4\n0,5\n');
    const scores = scorePredictionsFile(file, {
      classPresets,
      normalized: false,
      numericLabels: 'indices',
    });
    const report = scores.classification?.report;
    assert.ok(report);
    assert.equal(report.perClass[5].support, 1, 'index 5 is Anger under report6');
    assert.equal(report.confusion[0][5], 1);
    assert.match(scores.notes[0], /model indices: .*5 = Anger/);
    assert.throws(
      () =>
        scorePredictionsFile(csvFile('six.csv', 'label,pred\n6,0\n'), {
          classPresets,
          normalized: false,
          numericLabels: 'indices',
        }),
      /six\.csv:2: label 6 is not a class index in 0\.\.5/,
    );
  });

  it('the CLI takes --numeric-labels and refuses other values', async () => {
    const file = csvFile('cli.csv', 'label,pred\n5,5\n0,0\n');
    const codes = await affectlab(['metrics', '--input', file]);
    assert.equal(codes.code, 1);
    assert.match(codes.stderr, /label 5 is AffectNet expression code 5 \(Disgust\)/);
    const indices = await affectlab([
      'metrics',
      '--input',
      file,
      '--numeric-labels',
      'indices',
      '--json',
    ]);
    assert.equal(indices.code, 0, indices.stderr);
    assert.equal(JSON.parse(indices.stdout).classification.perClass[5].support, 1);
    const bad = await affectlab(['metrics', '--input', file, '--numeric-labels', 'ids']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Allowed choices are codes, indices/);
    const help = await affectlab(['metrics', '--help']);
    assert.match(help.stdout, /--numeric-labels/);
  });
});

describe('affectlab metrics: scores that are not probabilities', () => {
  it('warns for negative scores and rows not summing to 1, not for softmax rows', async () => {
    const header = 'label,score_0,score_1';
    const fine = csvFile('fine.csv', `${header}\nNeutral,0.7,0.3\nHappy,0.2995,0.7\n`);
    assert.deepEqual(
      scorePredictionsFile(fine, { classPresets, classes: 'Neutral,Happy', normalized: false })
        .warnings,
      [],
    );
    const logits = csvFile(
      'logits.csv',
      `${header}\nNeutral,2.5,-1.0\nHappy,0.2,0.8\nHappy,0.6,0.6\nNeutral,0.5,0.5\n`,
    );
    const scores = scorePredictionsFile(logits, {
      classPresets,
      classes: 'Neutral,Happy',
      normalized: false,
    });
    assert.equal(scores.warnings.length, 1);
    assert.match(
      scores.warnings[0],
      /logits\.csv: 2 of 4 score rows are not probabilities \(line 2: negative score -1; line 4: sums to 1\.2000\)/,
    );
    const cli = await affectlab([
      'metrics',
      '--input',
      logits,
      '--classes',
      'Neutral,Happy',
      '--json',
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stderr, /2 of 4 score rows are not probabilities/);
    assert.equal(JSON.parse(cli.stdout).warnings.length, 1);
  });
});
