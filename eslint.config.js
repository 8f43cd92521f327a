import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'runs/**',
      '.cache/**',
      'bench/results/**',
      '**/.venv*/**',
      'mlruns/**',
      'mlartifacts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // a function reads at once: the product, its scripts and benches (test suites' describe
    // blocks are lists of cases, not functions to read, and are left out)
    files: ['src/**/*.ts', 'scripts/**/*.mjs', 'bench/**/*.ts', 'examples/**/*.ts', 'bin/**/*.js'],
    rules: {
      'max-lines-per-function': ['error', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
);
