import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { affectlab } from '../../support/cli.js';
import { repoRoot, tempDir } from '../../support/helpers.js';
import { smallSyntheticSet } from '../../support/synth.js';

/** Every experiment file: a dry run, then one training batch on a tiny synthetic set, so none can rot. */
const experiments = readdirSync(join(repoRoot, 'experiments'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

/** Input sizes small enough for one quick step, per architecture. */
const SMALL: Record<string, string[]> = {
  'vgg-type': ['dataset.imageSize=48'],
  alexnet: ['dataset.imageSize=67', 'architecture.fcUnits=32'],
  resnet50: ['dataset.imageSize=32', 'architecture.weights=none'],
  'mobilenet-v2': ['dataset.imageSize=32', 'architecture.weights=none'],
  'efficientnet-b0': ['dataset.imageSize=32', 'architecture.weights=none'],
};

function architectureOf(file: string): string {
  const r = affectlab(['config', join('experiments', file), '--json'], {
    env: { AFFECTNET_ROOT: '/nonexistent' },
  });
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { architecture: { type: string } }).architecture.type;
}

describe('every experiment file', () => {
  const work = tempDir();
  let synth = '';
  before(async () => {
    synth = await smallSyntheticSet();
  });

  for (const file of experiments) {
    it(`${file}: dry run builds every plugin`, () => {
      const r = affectlab(['run', join('experiments', file), '--dry-run'], {
        env: { AFFECTNET_ROOT: synth },
      });
      assert.equal(r.code, 0, r.stderr);
      // the first combination's document (a sweep's dry run starts with a `# sweep ...` line)
      const first = r.stdout.split(/^(?=experiment:)/m).find((d) => d.startsWith('experiment:'));
      const built = parse(first ?? '') as {
        built: Record<string, string>;
      };
      for (const slot of ['dataset', 'architecture', 'reporters[0]'])
        assert.ok(built.built[slot], `${slot} in ${r.stdout}`);
    });

    it(`${file}: one batch on a tiny synthetic set`, () => {
      const arch = architectureOf(file);
      const sets = [
        `dataset.root=${synth}`,
        'training.epochs=1',
        'training.stepsPerEpoch=1',
        'training.validationSteps=1',
        'training.batchSize=2',
        'dataset.split.validationPerClass=2',
        'dataset.split.limit.test=4',
        `runs.root=${join(work, 'runs')}`,
        'reporters=[{type: console, progress: none}]',
        ...(SMALL[arch] ?? []),
      ].flatMap((s) => ['--set', s]);
      const r = affectlab(
        ['run', join('experiments', file), ...sets, '--cache-dir', join(work, 'cache')],
        { env: { AFFECTNET_ROOT: undefined, RESNET50_WEIGHTS: undefined } },
      );
      assert.equal(r.code, 0, `${file}\n${r.stderr}`);
      const sweep = /^sweep \S+: (\d+) runs, (\d+) not finished$/m.exec(r.stdout);
      if (!sweep) {
        assert.match(r.stdout, /Accuracy|RMSE/);
        return;
      }
      // A sweep prints one line per combination (each a child `affectlab run`); every one must
      // have finished and written its metrics.
      const [, runs, unfinished] = sweep;
      assert.equal(unfinished, '0', r.stdout);
      const finished = [...r.stdout.matchAll(/^\s+FINISHED\s.*\s(\S+)$/gm)].map((m) => m[1]);
      assert.equal(finished.length, Number(runs), r.stdout);
      for (const dir of finished) assert.ok(existsSync(join(dir, 'metrics.json')), dir);
    });
  }
});
