import type { Command } from 'commander';

/**
 * Examples shown at the end of each core command's `--help`. A plugin's command adds its own with
 * `withExamples` where it is defined (core knows no plugin by name).
 */
const CORE_EXAMPLES: Record<string, string[]> = {
  run: [
    'affectlab run experiments/quickstart.yaml',
    'affectlab run experiments/quickstart.yaml --set training.epochs=3 --set seed=7',
    'affectlab run experiments/affectnet-alexnet-strategies.yaml --dry-run',
    'affectlab run --resume runs/quickstart/<run-id>          # a stopped run, or a sweep id',
  ],
  validate: ['affectlab validate experiments/*.yaml', 'affectlab validate my.yaml --set seed=1'],
  config: [
    'affectlab config experiments/vgg6-weighted.yaml --set dataset.root=/data/affectnet',
    'affectlab config experiments/quickstart.yaml --json',
  ],
  plugins: ['affectlab plugins', 'affectlab plugins --plugin ./my-plugin.mjs --json'],
  schema: [
    'affectlab schema --write schemas/experiment.schema.json',
    'affectlab schema --partial --write schemas/experiment-partial.schema.json',
    'affectlab schema --markdown docs/configuration.md',
  ],
  doctor: ['affectlab doctor', 'affectlab doctor --json --backend cpu'],
  setup: ['affectlab setup gpu', 'affectlab setup gpu --force'],
  metrics: [
    'affectlab metrics --input preds.csv --classes report6',
    'affectlab metrics --input preds.csv --classes report6 --json',
  ],
  compare: [
    'affectlab compare --experiment "affectnet-alexnet-*" --format markdown',
    'affectlab compare --sweep affectnet-alexnet-strategies   # its newest sweep',
    'affectlab compare --from mlflow --tracking-uri http://127.0.0.1:5000',
  ],
  predict: [
    'affectlab predict --run runs/quickstart/<run-id> photos/ --out preds.csv',
    'affectlab predict --run <run-id> list.csv --images /data/affectnet/Manually_Annotated_Images',
  ],
  evaluate: [
    'affectlab evaluate --run runs/quickstart/<run-id>',
    'affectlab evaluate --run <run-id> --set dataset.root=/data/other --split test',
  ],
  export: [
    'affectlab export --run runs/quickstart/<run-id> --format tfjs',
    'affectlab export --run <run-id> --format web --out site/',
    'affectlab export --run <run-id> --format keras',
  ],
};

/** Adds an "Examples:" section after a command's help. */
export function withExamples(command: Command, examples: string[]): Command {
  return command.addHelpText(
    'after',
    `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`,
  );
}

/**
 * Every command's help: its examples (core's from the table above), and its required options
 * under their own heading instead of among the optional ones.
 */
export function finishHelp(program: Command): void {
  for (const command of program.commands) {
    const examples = CORE_EXAMPLES[command.name()];
    if (examples) withExamples(command, examples);
    for (const option of command.options)
      if (option.mandatory) option.helpGroup('Required options:');
    finishHelp(command);
  }
}
