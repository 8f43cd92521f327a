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

/** Every source file that could carry a copy of the pin (code, not prose or lock files). */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mjs|js|sh|py)$/.test(name) ? [path] : [];
  });
}

test('the TensorFlow version is pinned once, in package.json', () => {
  assert.match(pinned, /^\d+\.\d+\.\d+$/);
  assert.equal(TENSORFLOW_VERSION, pinned);
  const literal = new RegExp(`(['"\`=])${pinned.replaceAll('.', '\\.')}\\b`);
  const copies = ['src', 'scripts', 'bench']
    .flatMap((d) => sources(join(projectRoot, d)))
    .filter((file) => literal.test(readFileSync(file, 'utf8')))
    .map((file) => relative(projectRoot, file));
  assert.deepEqual(copies, [], `files that pin TensorFlow again: ${copies.join(', ')}`);
});

test('the pip requirement files install the pinned TensorFlow', () => {
  for (const file of ['scripts/keras-requirements.txt', 'bench/requirements-keras.txt']) {
    const pins = readFileSync(join(projectRoot, file), 'utf8')
      .split('\n')
      .map((line) => line.replace(/#.*/, '').trim())
      .filter((line) => /^tensorflow(-cpu)?==/.test(line));
    assert.deepEqual(
      pins.map((line) => line.split('==')[1]),
      [pinned],
      `${file} pins ${pins.join(', ')}`,
    );
  }
});
