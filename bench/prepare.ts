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
  /** CPU time of prepare (user + system), less sensitive than wall time to a loaded machine. */
  cpuSeconds: number;
  maxRssMiB: number;
  train: number;
  validation: number;
  test: number;
  progressLines: string[];
}

/** One prepare in this process: the child side. */
async function child(root: string): Promise<void> {
  // the SDK and the one plugin, not the whole of affectlab: the baseline's peak RSS is the
  // cost of what prepare needs
  const { createPluginRuntime, openDataset } = await import('../src/sdk/index.js');
  const { affectnetDataset } = await import('../src/plugins/datasets/affectnet/index.js');
  const progressLines: string[] = [];
  const runtime = createPluginRuntime([affectnetDataset]);
  const logger = runtime.logger;
  logger.level = 'info';
  logger.sink = (line) => progressLines.push(line);
  if (values.baseline) {
    process.stdout.write(
      JSON.stringify({
        seconds: 0,
        cpuSeconds: 0,
        maxRssMiB: process.resourceUsage().maxRSS / 1024,
        train: 0,
        validation: 0,
        test: 0,
        progressLines,
      } satisfies ChildResult) + '\n',
    );
    return;
  }
  const dataset = openDataset(
    runtime,
    {
      type: 'affectnet',
      root,
      classes: values.classes,
      task: values.task,
      split: { policy: values.policy, validationPerClass: 500 },
    },
    { name: 'bench-prepare', seed: 42, cacheDir: root },
  );
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const splits = await dataset.prepare();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(
    JSON.stringify({
      seconds,
      cpuSeconds,
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

/** Issue 16's aims for prepare at full size. */
const AIM_SECONDS = 3;
const AIM_RSS_MIB = 400;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  return `${f(s[0])} / **${f(s[Math.floor(s.length / 2)])}** / ${f(s[s.length - 1])}`;
};

async function main(): Promise<void> {
  const loadBefore = loadavg()[0];
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
      `  ${r.seconds.toFixed(2)} s (CPU ${r.cpuSeconds.toFixed(2)} s), peak RSS ${r.maxRssMiB.toFixed(0)} MiB; train ${r.train}, validation ${r.validation}, test ${r.test}\n`,
    );
    reps.push(r);
  }
  const seconds = reps.map((r) => r.seconds);
  const rss = reps.map((r) => r.maxRssMiB);
  const argv = process.argv.slice(2).join(' ');
  const command = `npm run bench:prepare${argv ? ` -- ${argv}` : ''}`;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} at the end`;
  const table =
    `\naffectnet prepare at full size: ${lists.trainingRows} training + ${lists.validationRows} validation rows ` +
    `(${(lists.bytes / 2 ** 20).toFixed(0)} MiB of CSV, ${lists.images} distinct images), classes ${values.classes}, ` +
    `split ${values.policy}, task ${values.task}\nmachine: ${machine}\n` +
    `repetitions: ${reps.length}, each in a fresh process; min / **median** / max\n\n` +
    `| figure | value | aim | median / aim |\n|---|---:|---:|---:|\n` +
    `| wall time of prepare (s) | ${stats(seconds)} | < ${AIM_SECONDS} | ${(median(seconds) / AIM_SECONDS).toFixed(2)} |\n` +
    `| CPU time of prepare, user + system (s) | ${stats(reps.map((r) => r.cpuSeconds))} | | |\n` +
    `| peak RSS of the process (MiB) | ${stats(rss)} | < ${AIM_RSS_MIB} | ${(median(rss) / AIM_RSS_MIB).toFixed(2)} |\n` +
    `| peak RSS of the same process without prepare (MiB) | ${baseline.maxRssMiB.toFixed(0)} | | |\n` +
    `| splits (train / validation / test) | ${reps[0].train} / ${reps[0].validation} / ${reps[0].test} | | |\n` +
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
        aim: { seconds: AIM_SECONDS, maxRssMiB: AIM_RSS_MIB },
        ratioToAim: {
          seconds: median(seconds) / AIM_SECONDS,
          maxRssMiB: median(rss) / AIM_RSS_MIB,
        },
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
