import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { affectlab } from '../../support/cli.js';
import { tempDir } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';
import { readSweepRecord } from './common.js';

const work = tempDir();
let synth = '';

/** A tiny training (48 px, 3 steps of 8 per epoch) with the given sweep section. */
function experiment(name: string, sweep: string, epochs = 2, extra = ''): string {
  const file = join(work, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 3
runs: { root: runs }
dataset:
  type: affectnet
  root: ${synth || '/nonexistent'}
  classes: report6
  imageSize: 48
  split: { validationPerClass: 4, limit: { test: 24 } }
architecture: { type: vgg-type, filters: [4, 4, 8, 8], dense: [8, 8] }
training: { epochs: ${epochs}, batchSize: 8, stepsPerEpoch: 3, optimizer: { type: adam, learningRate: 0.001 }, checkpoint: { monitor: val_loss } }
reporters: [{ type: console, progress: none }]
launcher: { type: local, parallel: 2 }
${extra}sweep:
  group: ${name}
${sweep}`,
  );
  return file;
}

/** The overrides of each combination a --dry-run prints. */
function dryOverrides(file: string, set: string[] = []): string[][] {
  const r = affectlab(['run', file, '--dry-run', ...set.flatMap((s) => ['--set', s])]);
  assert.equal(r.code, 0, r.stderr);
  return parseAllDocuments(r.stdout.replace(/^(?=experiment:)/gm, '---\n')).map(
    (d) => (d.toJS() as { overrides?: string[] }).overrides ?? [],
  );
}

describe('sweep search modes', () => {
  before(async () => {
    synth = await smallSyntheticSet();
  });

  it('random: N seeded trials from choice/uniform/loguniform/int, shown by --dry-run; repeat adds derived seeds', () => {
    const file = experiment(
      'random-sweep',
      `  mode: random
  trials: 5
  seed: 11
  parameters:
    training.optimizer.learningRate: { loguniform: [0.0001, 0.1] }
    training.optimizer.beta1: { uniform: [0.8, 0.95] }
    training.batchSize: { int: [4, 9] }
    sampler.type: { choice: [imbalanced, weighted] }
`,
    );
    const first = dryOverrides(file);
    assert.equal(first.length, 5);
    assert.deepEqual(dryOverrides(file), first, 'the same seed draws the same trials');
    assert.notDeepEqual(dryOverrides(file, ['sweep.seed=12']), first, 'another seed, others');
    const value = (o: string[], key: string) =>
      o.find((x) => x.startsWith(`${key}=`))?.slice(key.length + 1) as string;
    for (const o of first) {
      const lr = Number(value(o, 'training.optimizer.learningRate'));
      assert.ok(lr >= 0.0001 && lr <= 0.1, `lr ${lr}`);
      const beta = Number(value(o, 'training.optimizer.beta1'));
      assert.ok(beta >= 0.8 && beta <= 0.95, `beta1 ${beta}`);
      const batch = Number(value(o, 'training.batchSize'));
      assert.ok(Number.isInteger(batch) && batch >= 4 && batch <= 9, `batch ${batch}`);
      assert.match(value(o, 'sampler.type'), /^(imbalanced|weighted)$/);
    }
    // log-uniform spreads over decades: five draws do not all fall in the top one
    assert.ok(first.some((o) => Number(value(o, 'training.optimizer.learningRate')) < 0.01));

    const repeated = dryOverrides(file, ['sweep.repeat=2', 'sweep.trials=2']);
    assert.equal(repeated.length, 4);
    assert.deepEqual(
      repeated.map((o) => o.at(-1)),
      ['seed=3', 'seed=4', 'seed=3', 'seed=4'],
    );
    assert.deepEqual(repeated[0].slice(0, -1), repeated[1].slice(0, -1));
    assert.deepEqual(repeated[0].slice(0, -1), first[0], 'repeat keeps the draws');
  });

  it('refuses bad distributions, keys and mode mixes with the file and line', () => {
    const cases: [string, RegExp][] = [
      [
        `  mode: random\n  trials: 2\n  parameters:\n    training.optimizer.learningRate: { normal: [0, 1] }\n`,
        /bad-0\.yaml:\d+:\d+: .*sweep\.parameters.*normal/,
      ],
      [
        `  mode: random\n  trials: 2\n  parameters:\n    training.optimizer.learningRate: { uniform: [0.1, 0.01] }\n`,
        /bad-1\.yaml:\d+:\d+: .*low 0\.1 is above high 0\.01/,
      ],
      [
        `  mode: random\n  trials: 2\n  parameters:\n    training.optimizer.learningRate: { loguniform: [0, 1] }\n`,
        /bad-2\.yaml:\d+:\d+: .*loguniform/,
      ],
      [
        `  parameters:\n    training.optimizer.learningRate: { uniform: [0.001, 0.01] }\n`,
        /bad-3\.yaml:\d+:\d+: .*a distribution needs sweep\.mode random/,
      ],
      [
        `  mode: random\n  parameters:\n    training.optimizer.learningRate: [0.1, 0.01]\n`,
        /bad-4\.yaml:\d+:\d+: .*needs sweep\.trials/,
      ],
      [
        `  mode: random\n  trials: 2\n  parameters:\n    __proto__.polluted: { choice: [1] }\n`,
        /bad-5\.yaml:\d+:\d+: .*__proto__/,
      ],
      [
        `  repeat: 2\n  parameters:\n    seed: [1, 2]\n`,
        /bad-6\.yaml:\d+:\d+: .*repeat sets each run's seed/,
      ],
      [
        `  trials: 3\n  parameters:\n    seed: [1, 2]\n`,
        /bad-7\.yaml:\d+:\d+: .*sweep\.trials applies to mode random only/,
      ],
      [
        `  mode: random\n  trials: 2\n  parameters:\n    training.optimizer.learningRate: { int: [1, 2], extra: 1 }\n`,
        /bad-8\.yaml:\d+:\d+: .*sweep\.parameters/,
      ],
    ];
    // one validate for every file: each error names its own file and line
    const files = cases.map(([sweep], i) => experiment(`bad-${i}`, sweep));
    const r = affectlab(['validate', ...files]);
    assert.equal(r.code, 1, r.stdout);
    for (const [i, [, expected]] of cases.entries())
      assert.match(r.stdout + r.stderr, expected, `case ${i}`);
    assert.match(r.stdout + r.stderr, new RegExp(`${cases.length} of ${cases.length} experiment`));
  });

  it('ASHA with repeat (local launcher, parallel 2): a bad learning rate is stopped at the first rung, FINISHED; mean ± sd per combination, the best by the mean', () => {
    // lr 0.5 makes Adam's first steps throw the weights far off: a val_loss far above lr 0.003's
    const file = experiment(
      'asha-sweep',
      `  repeat: 2
  scheduler: { type: asha, eta: 2, minEpochs: 1 }
  parameters:
    training.optimizer.learningRate: [0.003, 0.5]
`,
      3,
    );
    const r = affectlab(['run', file, '--cache-dir', join(work, 'cache')], { cwd: work });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const record = readSweepRecord(work, 'asha-sweep');
    assert.deepEqual(
      record.combinations.map((c) => [c.status, c.group, c.replica]),
      [
        ['FINISHED', 0, 0],
        ['FINISHED', 0, 1],
        ['FINISHED', 1, 0],
        ['FINISHED', 1, 1],
      ],
    );
    // runs.root 'runs' is relative: the runs are under the sweep's cwd, not the file's
    assert.ok(record.combinations.every((c) => c.runDir.startsWith(join(work, 'runs'))));
    const epochsOf = (i: number) =>
      readFileSync(join(record.combinations[i].runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
        .length;
    // trials 0 and 1 reach the first rung before a slot frees for 2 and 3, so each bad trial
    // meets both good ones there and ranks below them
    for (const i of [2, 3]) {
      const c = record.combinations[i];
      assert.equal(epochsOf(i), 1, `trial ${i} trained one epoch`);
      assert.equal(c.stopped?.epoch, 0);
      assert.match(c.stopped?.reason ?? '', /^stopped by ASHA at rung 0 \(epoch 1\): val_loss/);
      const decision = JSON.parse(
        readFileSync(
          join(work, 'runs', 'sweeps', 'asha-sweep', 'asha', 'decisions', `${i}.rung-0.json`),
          'utf8',
        ),
      ) as { continue: boolean; rank: number; of: number };
      assert.equal(decision.continue, false);
      assert.ok(decision.rank >= 3 && decision.of >= 3, JSON.stringify(decision));
      assert.ok(existsSync(join(c.runDir, 'metrics.json')), 'a stopped trial is still evaluated');
    }
    // the first trial at each rung always goes on: at least one good trial trains every epoch
    assert.ok(epochsOf(0) === 3 || epochsOf(1) === 3);
    assert.match(r.stdout, /stopped after epoch 1: stopped by ASHA at rung 0/);
    const rung0 = readFileSync(
      join(work, 'runs', 'sweeps', 'asha-sweep', 'asha', 'rung-0.jsonl'),
      'utf8',
    );
    assert.deepEqual(
      rung0
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { trial: number }).trial)
        .sort(),
      [0, 1, 2, 3],
    );

    // the best by the mean over the two seeds
    assert.equal(record.best?.group, 0);
    assert.equal(record.best?.n, 2);
    const goodValues = [0, 1].map((i) => record.combinations[i].best?.value as number);
    const mean = (goodValues[0] + goodValues[1]) / 2;
    assert.ok(Math.abs((record.best?.mean as number) - mean) < 1e-12);
    const sd = Math.abs(goodValues[0] - goodValues[1]) / Math.SQRT2;
    assert.ok(Math.abs((record.best?.sd as number) - sd) < 1e-12);
    assert.match(r.stdout, /best: combination 0 by its mean val_loss over 2 seeds/);

    const cmp = affectlab(['compare', '--sweep', 'asha-sweep', '--format', 'json'], { cwd: work });
    assert.equal(cmp.code, 0, cmp.stderr);
    const table = JSON.parse(cmp.stdout) as {
      rows: { stopped?: { epoch: number; reason: string } }[];
      groups: {
        group: number;
        params: Record<string, unknown>;
        n: number;
        mean: Record<string, number>;
        sd: Record<string, number>;
      }[];
    };
    assert.deepEqual(
      table.rows.map((row) => row.stopped?.epoch),
      [record.combinations[0].stopped?.epoch, record.combinations[1].stopped?.epoch, 0, 0],
    );
    assert.equal(table.groups.length, 2);
    assert.deepEqual(Object.keys(table.groups[0].params), ['training.optimizer.learningRate']);
    assert.equal(table.groups[0].n, 2);
    assert.ok(Math.abs(table.groups[0].mean.val_loss - mean) < 1e-12);
    assert.ok(Math.abs(table.groups[0].sd.val_loss - sd) < 1e-12);
    const text = affectlab(['compare', '--sweep', 'asha-sweep'], { cwd: work });
    assert.match(text.stdout, /stopped after/);
    assert.match(text.stdout, /#2 after epoch 1: stopped by ASHA at rung 0/);
    assert.match(text.stdout, /mean ± sd over the seeds of each combination/);
    assert.match(text.stdout, /\* best: combination 0 by its mean val_loss over 2 seeds/);
    assert.match(text.stdout, /\n0\*\s+0\.0030\s+0,1\s+2\s+/);
  });
});
