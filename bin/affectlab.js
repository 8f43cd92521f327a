#!/usr/bin/env node
// The CLI entry: runs the compiled TypeScript (tsc emits the decorator metadata tsyringe needs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { quietTensorFlow, runFiltered } from './quiet.js';

const args = process.argv.slice(2);
const verbose = args.includes('--verbose') || args.includes('--debug');

// libtensorflow's start-up notices (oneDNN, CPU features) are noise for a CLI; TF's own
// variable still wins when set, and --verbose/--debug keep TensorFlow's default.
if (!verbose) process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'affectlab: not built yet; run `npm run build` (npm install does it for you)\n',
  );
  process.exit(1);
}

// On a terminal, TensorFlow's absl log lines (which TF_CPP_MIN_LOG_LEVEL does not reach) are
// filtered out of stderr by running the command in a child process (bin/quiet.js says why).
if (quietTensorFlow(args, verbose)) {
  process.exitCode = await runFiltered(fileURLToPath(import.meta.url), args);
} else {
  // set by the filtering parent (bin/quiet.js); not passed on to this process's own children
  if (process.env.AFFECTLAB_STDERR_TTY === '1') process.stderr.isTTY = true;
  delete process.env.AFFECTLAB_STDERR_TTY;
  const { runCli } = await import(entry.href);
  process.exitCode = await runCli(args);
}
