import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { projectRoot, TENSORFLOW_VERSION } from '../../../src/core/training/gpu.js';

const pinned = (
  JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    affectlab: { tensorflow: string };
  }
).affectlab.tensorflow;

const skipped = /^(node_modules|dist|results|\.venv.*|\.cache|__pycache__|build)$/;

/** Every source file that could carry a copy of the pin (code and requirement files, not prose). */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (skipped.test(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mjs|js|sh|py|txt|cc|yml|yaml)$/.test(name) ? [path] : [];
  });
}

/** The lines of a file that are not comments (#, //, or a block comment's lines). */
const codeLines = (text: string): string[] =>
  text.split('\n').filter((line) => !/^\s*(#|\/\/|\*|\/\*)/.test(line));

test('the TensorFlow version is pinned once, in package.json', () => {
  assert.match(pinned, /^\d+\.\d+\.\d+$/);
  assert.equal(TENSORFLOW_VERSION, pinned);
  const version = new RegExp(`\\b${pinned.replaceAll('.', '\\.')}\\b`);
  const self = join(projectRoot, 'test', 'unit', 'core', 'versions.test.ts');
  const copies = ['src', 'scripts', 'bench', 'native', '.ci', 'test']
    .flatMap((d) => sources(join(projectRoot, d)))
    .filter((file) => file !== self)
    .flatMap((file) =>
      codeLines(readFileSync(file, 'utf8'))
        .filter((line) => /tensorflow(-cpu|-gpu)?\s*==\s*\d/.test(line) || version.test(line))
        .map((line) => `${relative(projectRoot, file)}: ${line.trim()}`),
    );
  assert.deepEqual(copies, [], 'lines that pin TensorFlow again');
});

test('the requirement files leave TensorFlow to their installers, which take the package.json pin', () => {
  for (const file of ['scripts/keras-requirements.txt', 'bench/requirements-keras.txt']) {
    const pins = readFileSync(join(projectRoot, file), 'utf8')
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter((line) => /^tensorflow/.test(line));
    assert.deepEqual(pins, [], `${file} pins ${pins.join(', ')}`);
  }
  // setup-keras.sh adds tensorflow-cpu at affectlab.tensorflow; bench/train.ts at TENSORFLOW_VERSION
  assert.match(
    readFileSync(join(projectRoot, 'scripts/setup-keras.sh'), 'utf8'),
    /tensorflow-cpu==\$\(node -p "require\('\$root\/package\.json'\)\.affectlab\.tensorflow"\)/,
  );
  assert.match(
    readFileSync(join(projectRoot, 'bench/train.ts'), 'utf8'),
    /pins\.set\('tensorflow-cpu', TENSORFLOW_VERSION\)/,
  );
});
