// Type-aware checks only where the compiler is silent: a promise nobody awaits or handles is how
// a daemon loses work or races itself (the output relay once did).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // peercred/ is a native addon: its one .d.ts declares, and holds no code these rules check
  { ignores: ['**/dist/**', 'node_modules/**', '**/*.js', '**/*.cjs', '**/*.mjs', 'peercred/**'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      // bench/ is type-checked with the tests (test/tsconfig.json), which the project service
      // cannot find from there; it holds more than the 8 files the default project takes unasked
      parserOptions: {
        projectService: { allowDefaultProject: ['bench/*.ts', 'schemas/scripts/*.ts'], maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 32 },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
);
