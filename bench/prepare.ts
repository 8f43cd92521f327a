/**
 * `affectnet` dataset prepare at AffectNet's real size: 414,799 training rows and 5,500
 * validation rows (Table 1's category counts) pointing at a few hundred real JPEGs. Wall time
 * and peak RSS of prepare, each repetition in a fresh process (so the peak is prepare's own,
 * not the list generator's), the progress lines prepare prints, and a baseline process that
 * only loads the same modules (what node + tfjs + sharp cost before any row is read).
 *
 *   npm run bench:prepare -- [--reps 3] [--classes report6] [--policy report-table3] [--task classification]
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    classes: { type: 'string', default: 'report6' },
    policy: { type: 'string', default: 'report-table3' },
    task: { type: 'string', default: 'classification' },
    data: { type: 'string', default: join('.cache', 'affectlab', 'bench-prepare') },
    out: { type: 'string', default: join('bench', 'results', 'prepare.json') },
    child: { type: 'string' },
    baseline: { type: 'boolean', default: false },
  },
});

interface ChildResult {
  seconds: number;
  maxRssMiB: number;
  train: number;
  validation: number;
  test: number;
  progressLines: string[];
}

/** One prepare in this process: the child side. */
async function child(root: string): Promise<void> {
  const { Logger, RunContext } = await import('../src/core/services.js');
  const { AffectNetDataset } = await import('../src/plugins/datasets/affectnet/dataset.js');
  const progressLines: string[] = [];
  const logger = new Logger();
  logger.level = 'info';
  logger.sink = (line) => progressLines.push(line);
  if (values.baseline) {
    process.stdout.write(
      JSON.stringify({
        seconds: 0,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
        train: 0,
        validation: 0,
        test: 0,
        progressLines,
      } satisfies ChildResult) + '\n',
    );
    return;
  }
  const dataset = new AffectNetDataset(
    {
      root,
      classes: values.classes,
      task: values.task as 'classification',
      split: { policy: values.policy as 'report-table3', validationPerClass: 500 },
    },
    logger,
    new RunContext('bench-prepare', 'bench', 42, root, process.cwd()),
  );
  const started = performance.now();
  const splits = await dataset.prepare();
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    JSON.stringify({
      seconds,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      train: splits.train.length,
      validation: splits.validation.length,
      test: splits.test.length,
      progressLines,
    } satisfies ChildResult) + '\n',
  );
}

function runChild(root: string, baseline: boolean): Promise<ChildResult> {
  const args = [
    fileURLToPath(import.meta.url),
    '--child',
    root,
    '--classes',
    values.classes,
    '--policy',
    values.policy,
    '--task',
    values.task,
    ...(baseline ? ['--baseline'] : []),
  ];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) reject(new Error(`prepare child exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as ChildResult);
    });
  });
}

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  return `${f(s[0])} / **${f(s[Math.floor(s.length / 2)])}** / ${f(s[s.length - 1])}`;
};

async function main(): Promise<void> {
  const { writeFullSizeAffectNet } = await import('../test/support/full-size.js');
  const root = join(values.data, 'root');
  const started = performance.now();
  const lists = await writeFullSizeAffectNet({ root, seedSet: join(values.data, 'seed-set') });
  process.stderr.write(
    `wrote ${lists.trainingRows} + ${lists.validationRows} rows (${(lists.bytes / 2 ** 20).toFixed(0)} MiB, ` +
      `${lists.images} distinct images) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
  );
  const baseline = await runChild(root, true);
  const reps: ChildResult[] = [];
  for (let i = 0; i < Number(values.reps); i++) {
    process.stderr.write(`prepare ${i + 1}/${values.reps}\n`);
    const r = await runChild(root, false);
    process.stderr.write(
      `  ${r.seconds.toFixed(2)} s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB; train ${r.train}, validation ${r.validation}, test ${r.test}\n`,
    );
    reps.push(r);
  }
  const argv = process.argv.slice(2).join(' ');
  const command = `npm run bench:prepare${argv ? ` -- ${argv}` : ''}`;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadavg()[0].toFixed(1)} at the end`;
  const table =
    `\naffectnet prepare at full size: ${lists.trainingRows} training + ${lists.validationRows} validation rows ` +
    `(${(lists.bytes / 2 ** 20).toFixed(0)} MiB of CSV, ${lists.images} distinct images), classes ${values.classes}, ` +
    `split ${values.policy}, task ${values.task}\nmachine: ${machine}\n` +
    `repetitions: ${reps.length}, each in a fresh process; min / **median** / max\n\n` +
    `| figure | value |\n|---|---:|\n` +
    `| wall time of prepare (s) | ${stats(reps.map((r) => r.seconds))} |\n` +
    `| peak RSS of the process (MiB) | ${stats(reps.map((r) => r.maxRssMiB))} |\n` +
    `| peak RSS of the same process without prepare (MiB) | ${baseline.maxRssMiB.toFixed(0)} |\n` +
    `| splits (train / validation / test) | ${reps[0].train} / ${reps[0].validation} / ${reps[0].test} |\n` +
    `\nreproduce: ${command}\n`;
  process.stdout.write(table);
  mkdirSync(join(values.out, '..'), { recursive: true });
  writeFileSync(
    values.out,
    JSON.stringify(
      {
        benchmark: 'prepare',
        date: new Date().toISOString(),
        command,
        machine,
        lists: { ...lists, root: undefined },
        baselineMaxRssMiB: baseline.maxRssMiB,
        reps,
      },
      null,
      2,
    ) + '\n',
  );
  process.stderr.write(`wrote ${values.out}\n`);
}

if (values.child) await child(values.child);
else await main();
