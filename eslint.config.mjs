// Flat config: type-aware rules everywhere, and a determinism fence around workflows/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert',
  'async_hooks',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', 'coverage/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs', '*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((name) => [name, `node:${name}`]),
            'pg',
            'ioredis',
            '@temporalio/client',
            '@temporalio/worker',
            '@temporalio/activity',
          ].map((name) => ({
            name,
            message:
              'workflows/ must stay deterministic: no Node built-ins, I/O clients or non-workflow SDK parts.',
          })),
          patterns: [
            {
              group: [
                '../db',
                '../db/*',
                '../redis',
                '../redis/*',
                '../config',
                '../config/*',
                '../activities',
                '../activities/*',
                '../packets',
                '../packets/*',
                '../api',
                '../api/*',
              ],
              allowTypeImports: true,
              message:
                'workflows/ imports activities, packets, api and I/O modules type-only; the contract is in saga/.',
            },
          ],
        },
      ],
    },
  },
  // Only the worker runs workflow code; everyone else talks to workflows through the contract in saga/.
  ...[
    {
      files: ['**/*.ts'],
      ignores: ['workflows/**', 'workers/**', 'test/**', 'bench/references/**'],
      up: '+',
    },
    // bench/references/temporal.ts drives the bench's own reference workflows, in bench/workflows/.
    { files: ['bench/references/**/*.ts'], up: '{2,}' },
  ].map(({ files, ignores, up }) => ({
    files,
    ...(ignores ? { ignores } : {}),
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)${up}workflows(/.*)?$`,
              allowTypeImports: true,
              message: 'Only workers/ value-imports workflows/; import the contract from saga/.',
            },
          ],
        },
      ],
    },
  })),
  {
    // supertest bodies are untyped JSON; tests assert on their shape instead.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      globals: {
        module: 'writable',
        require: 'readonly',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
      },
    },
  },
);
