// Lint rules for all TypeScript in the repository: typescript-eslint's recommended set, strict about unused code and
// promises, and the layers' import rules (README, "Repository map"): imports run one way, core ← clients, flows ← entries.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'http', 'https', 'net', 'child_process', 'crypto', 'timers', 'timers/*', 'stream', 'url', 'util'];
const ioPackages = ['azure-pipelines-task-lib', 'azure-pipelines-task-lib/*'];
const layerMessage = 'This import crosses a layer boundary the wrong way (see README, "Repository map").';
/** The layers a file may not import from, by the folder it is in. */
const forbidden = (...groups) => ({ patterns: [{ group: groups.flat(), message: layerMessage }] });
/** The pure layers' imports: the Kubernetes client's object types, but none of its code. */
const pureImports = (...groups) => ({
  patterns: [
    ...forbidden(nodeBuiltins, ioPackages, ...groups).patterns,
    { group: ['@kubernetes/client-node', '@kubernetes/client-node/*'], allowTypeImports: true, message: `${layerMessage} Its types are allowed: import type.` },
  ],
});
// What makes code impure: the process, the network, the clock, timers. The core and the flows get these through ports.
const impureGlobals = ['process', 'fetch', 'Buffer', 'require', 'setTimeout', 'setInterval', '__dirname'].map((name) => ({ name, message: 'Pure layers reach the outside through ports (src/core/ports).' }));
const clockCalls = [
  { object: 'Date', property: 'now', message: 'Take the time from the Clock port.' },
  { object: 'Math', property: 'random', message: 'Pure layers are deterministic: take randomness as an input.' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', '**/*.js', '!scripts/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly', Buffer: 'readonly' },
      parserOptions: { projectService: { allowDefaultProject: ['scripts/*.mjs', 'eslint.config.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // node:test's describe/it/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-misused-promises': 'error',
      eqeqeq: ['error', 'smart'],
      'no-console': 'off',
    },
  },
  {
    files: ['src/core/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', pureImports(['**/clients/**', '**/flows/**', '**/wiring/**', '**/tasks/**', '**/hub/**'])],
      'no-restricted-globals': ['error', ...impureGlobals],
      'no-restricted-properties': ['error', ...clockCalls],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Take the time from the Clock port.' }],
    },
  },
  {
    files: ['src/flows/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', pureImports(['**/clients/**', '**/wiring/**', '**/tasks/**', '**/hub/**'])],
      'no-restricted-globals': ['error', ...impureGlobals],
      'no-restricted-properties': ['error', ...clockCalls],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Take the time from the Clock port.' }],
    },
  },
  {
    files: ['src/clients/**'],
    rules: { 'no-restricted-imports': ['error', forbidden(['**/flows/**', '**/wiring/**', '**/tasks/**', '**/hub/**'])] },
  },
  {
    // The runner image's helper is bundled on its own and runs inside runner pods: of the product, only the pure core's
    // public entry goes with it (the registration handshake's rules, shared with the autoscaler).
    files: ['runner/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: '(^|/)src/(clients|flows)/|(^|/)src/core/(?!index\\.js$)', message: 'runner/ takes the product through src/core/index.js only.' },
        { group: ['**/tasks/**', '**/hub/**', '**/emulator/**', '@kubernetes/*', 'azure-pipelines-task-lib', 'azure-pipelines-task-lib/*'], message: 'runner/ is bundled into the runner image on its own (README, "Repository map").' },
      ] }],
    },
  },
  {
    // The browser page and the Azure DevOps stand-in see the product through the core's public entry only.
    files: ['hub/**', 'emulator/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)src/(clients|flows)/|(^|/)src/core/(?!index\\.js$)', message: 'Import the product through src/core/index.js only.' }] }],
    },
  },
);
