#!/usr/bin/env node
// The CLI entry: runs the compiled TypeScript (tsc emits the decorator metadata tsyringe needs).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('affectlab: not built yet; run `npm run build` (npm install does it for you)\n');
  process.exit(1);
}
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
