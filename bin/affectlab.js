#!/usr/bin/env node
// The CLI entry: runs the compiled TypeScript (tsc emits the decorator metadata tsyringe needs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// libtensorflow's start-up notices (oneDNN, CPU features) are noise for a CLI; TF's own
// variable still wins when set.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'affectlab: not built yet; run `npm run build` (npm install does it for you)\n',
  );
  process.exit(1);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
