#!/usr/bin/env node
// The CLI entry: runs the compiled TypeScript (tsc emits the decorator metadata tsyringe needs).
import { existsSync } from 'node:fs';

const args = process.argv.slice(2);
const verbose = args.includes('--verbose') || args.includes('--debug');

// libtensorflow's start-up notices (oneDNN, CPU features) are noise for a CLI; TF's own
// variable still wins when set, and --verbose/--debug keep TensorFlow's default. The graph
// addon reads it too, to keep absl's once-per-process notices off stderr (native/graph).
if (!verbose) process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'affectlab: not built yet; run `npm run build` (npm install does it for you)\n',
  );
  process.exit(1);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(args);
