import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { Progress, type Runtime } from '../../../sdk/index.js';
import { generateSyntheticAffectNet, SYNTH_DEFAULTS } from './synth.js';

function integer(name: string): (value: string) => number {
  return (value: string) => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer`);
    return Number(value);
  };
}

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n >= 1)
    throw new InvalidArgumentError('must be a number in [0, 1)');
  return n;
}

/** `affectlab synth`: write a synthetic AffectNet-format set the `affectnet` dataset reads. */
export function registerSynthCommand(program: Command, runtime: Runtime): void {
  program
    .command('synth')
    .addHelpText(
      'after',
      '\nExamples:\n  $ affectlab synth --out data/synth\n  $ affectlab synth --out data/synth8 --count 4000 --classes affectnet8 --size 96\n',
    )
    .description(
      'write synthetic AffectNet-format data (file lists + JPEG faces) that the affectnet dataset reads unchanged',
    )
    .requiredOption('--out <dir>', 'output directory (use it as dataset.root / AFFECTNET_ROOT)')
    .option(
      '--count <n>',
      'rows of training.csv (Table 1 class proportions)',
      integer('--count'),
      SYNTH_DEFAULTS.count,
    )
    .option(
      '--validation-count <n>',
      'rows of validation.csv, balanced over classes (default count/10)',
      integer('--validation-count'),
    )
    .option(
      '--seed <n>',
      'random seed; the same seed gives the same bytes',
      integer('--seed'),
      SYNTH_DEFAULTS.seed,
    )
    .option('--size <px>', 'image side in pixels', integer('--size'), SYNTH_DEFAULTS.size)
    .option(
      '--classes <preset|codes>',
      'a class preset or comma-separated codes/names (default all eleven)',
    )
    .option(
      '--label-noise <p>',
      'fraction of rows labelled with another expression',
      fraction,
      SYNTH_DEFAULTS.labelNoise,
    )
    .option(
      '--concurrency <n>',
      'images rendered at once (default 2 x cores)',
      integer('--concurrency'),
    )
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: {
        out: string;
        count: number;
        validationCount?: number;
        seed: number;
        size: number;
        classes?: string;
        labelNoise: number;
        concurrency?: number;
        json?: boolean;
      }) => {
        const classes = opts.classes?.includes(',')
          ? opts.classes.split(',').map((s) => s.trim())
          : opts.classes;
        const out = resolve(opts.out);
        let progress: Progress | undefined;
        const result = await generateSyntheticAffectNet({
          out,
          count: opts.count,
          validationCount: opts.validationCount,
          seed: opts.seed,
          size: opts.size,
          classes,
          labelNoise: opts.labelNoise,
          concurrency: opts.concurrency,
          onProgress: (done, total) => {
            progress ??= new Progress('synth', total, runtime.logger, 5000);
            progress.tick();
            if (done === total) progress.finish();
          },
        });
        if (opts.json) {
          process.stdout.write(JSON.stringify(result, null, 2) + '\n');
          return;
        }
        const names = Object.keys(result.training);
        const width = Math.max(10, ...names.map((n) => n.length));
        let table = `${'expression'.padEnd(width)}  ${'training'.padStart(8)}  ${'validation'.padStart(10)}\n`;
        for (const name of names) {
          table += `${name.padEnd(width)}  ${String(result.training[name]).padStart(8)}  ${String(result.validation[name] ?? 0).padStart(10)}\n`;
        }
        process.stdout.write(table);
        process.stdout.write(
          `${result.images} images (${opts.size} px) in ${result.seconds.toFixed(1)} s (${result.imagesPerSecond.toFixed(0)} images/s) -> ${out}\n` +
            `use it with: dataset.root: ${out}   (or export AFFECTNET_ROOT=${out})\n`,
        );
      },
    );
}
