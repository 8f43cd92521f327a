import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../support/helpers.js';

const skipped = /^(node_modules|dist|results|\.venv.*|\.cache|__pycache__|build)$/;
const code = /\.(ts|mjs|js|py|sh|txt|cc|yml|yaml)$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (skipped.test(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return code.test(name) ? [path] : [];
  });
}

/** The lines of a file that are not comments (#, //, or inside a /* … *\/ block's * lines). */
const codeLines = (text: string): string[] =>
  text.split('\n').filter((line) => !/^\s*(#|\/\/|\*|\/\*)/.test(line));

test("TensorFlow's version is pinned once, in package.json (affectlab.tensorflow)", () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    affectlab: { tensorflow: string };
  };
  const version = pkg.affectlab.tensorflow;
  assert.match(version, /^\d+\.\d+\.\d+$/);
  const dirs = ['src', 'scripts', 'bench', 'native', '.ci', 'test'].map((d) => join(repoRoot, d));
  const self = join(repoRoot, 'test', 'unit', 'core', 'pins.test.ts');
  const offending = dirs
    .flatMap((d) => files(d))
    .filter((file) => file !== self)
    .flatMap((file) =>
      codeLines(readFileSync(file, 'utf8'))
        .filter(
          (line) =>
            /tensorflow(-cpu|-gpu)?\s*==\s*\d/.test(line) ||
            line.includes(`'${version}'`) ||
            line.includes(`"${version}"`) ||
            new RegExp(`\\b${version.replace(/\./g, '\\.')}\\b`).test(line),
        )
        .map((line) => `${relative(repoRoot, file)}: ${line.trim()}`),
    );
  assert.deepEqual(offending, []);
});
