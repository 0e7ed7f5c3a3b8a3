// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'scratch/**', 'tests/generated/**', 'client/src/generated.ts', 'client/src/rest/reckon-rest.ts', 'dashboard/src/generated.ts'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      'no-console': ['error', { allow: ['error', 'warn'] }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Layers only look down: src/server assembles the modules into a process, so a module (or a shared
    // building block below the modules) that imported it would make a loop between layers.
    files: ['src/modules/**/*.ts', 'src/graphql/**/*.ts', 'src/common/**/*.ts', 'src/db/**/*.ts', 'src/services/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/server', '**/server/**'], message: 'src/server assembles the modules; import shared GraphQL pieces from src/graphql and services from src/services instead.' }],
      }],
    },
  },
  {
    // Decorated classes need their decorator-referenced types as values for emitDecoratorMetadata.
    files: ['src/**/*.resolver.ts', 'src/**/*.objects.ts', 'src/**/*.inputs.ts', 'src/**/*.entity.ts', 'src/server/graphql/**/*.ts', 'src/graphql/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    files: ['src/cli.ts', 'scripts/**/*.ts', 'bench/**/*.ts', 'tests/**/*.ts', 'examples/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { module: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
