// Lint rules for all TypeScript in the repository: typescript-eslint's recommended set, strict about unused code and
// promises, the layers' import rules (README, "Repository map"): imports run one way, core ← clients, flows ← entries,
// and the code's layout, which `npm run format` fixes.
import eslint from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import { defineConfig } from 'eslint/config';
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

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', '**/*.js', '!scripts/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
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
      // strictTypeChecked, less what does not fit this code, each for its reason:
      // a value just checked (Map.get after has, a match's group) is asserted, not checked twice;
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `(x) => log(x)` hands a callback its void; nothing is confused by it;
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // @kubernetes/client-node's V1* classes are plain data: its own docs build them as object literals;
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      // without noUncheckedIndexedAccess the types say every index hits: a regex group, a record keyed by input or an
      // answer's member checked for undefined is flagged as unnecessary, and those checks are the point;
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // readJson<T>-style helpers: the caller names the shape of the JSON it reads;
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      // numbers and booleans print as they read; a possibly-undefined value still has to be said how.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowRegExp: true }],
    },
  },
  {
    // The layout the code already has, as a formatter: `eslint --fix` puts a deviation right. Nothing here wraps or
    // joins lines (no length limit, no rules on where a line breaks): long lines and line breaks are the writer's choice.
    plugins: { '@stylistic': stylistic },
    rules: {
      // A chain of conditionals reads flat, one `: condition ? value` a line, not as a staircase: a nested one's lines
      // are left as written.
      '@stylistic/indent': ['error', 2, { ignoredNodes: ['ConditionalExpression > ConditionalExpression.alternate'] }],
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      '@stylistic/semi-spacing': 'error',
      '@stylistic/semi-style': 'error',
      '@stylistic/no-extra-semi': 'error',
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/comma-spacing': 'error',
      '@stylistic/comma-style': 'error',
      '@stylistic/quote-props': ['error', 'as-needed'],
      '@stylistic/member-delimiter-style': 'error',
      '@stylistic/type-annotation-spacing': 'error',
      '@stylistic/type-generic-spacing': 'error',
      '@stylistic/type-named-tuple-spacing': 'error',
      '@stylistic/arrow-parens': ['error', 'always'],
      '@stylistic/arrow-spacing': 'error',
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/nonblock-statement-body-position': ['error', 'beside'],
      '@stylistic/padded-blocks': ['error', 'never'],
      // Not object-curly-spacing nor array-bracket-spacing: deprecated (a warning on every run) for list-style, which
      // would also rewrap every list whose items share lines.
      '@stylistic/computed-property-spacing': 'error',
      '@stylistic/block-spacing': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/space-before-function-paren': ['error', { anonymous: 'always', named: 'never', asyncArrow: 'always' }],
      '@stylistic/space-in-parens': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/space-unary-ops': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/switch-colon-spacing': 'error',
      '@stylistic/rest-spread-spacing': 'error',
      '@stylistic/template-curly-spacing': 'error',
      '@stylistic/template-tag-spacing': 'error',
      '@stylistic/generator-star-spacing': ['error', { before: false, after: true }],
      '@stylistic/yield-star-spacing': ['error', 'after'],
      '@stylistic/function-call-spacing': 'error',
      '@stylistic/no-whitespace-before-property': 'error',
      '@stylistic/dot-location': ['error', 'property'],
      '@stylistic/new-parens': 'error',
      '@stylistic/no-floating-decimal': 'error',
      '@stylistic/one-var-declaration-per-line': ['error', 'initializations'],
      '@stylistic/no-multi-spaces': 'error',
      '@stylistic/spaced-comment': ['error', 'always', { markers: ['/'], block: { balanced: true } }],
      '@stylistic/no-tabs': 'error',
      '@stylistic/no-mixed-spaces-and-tabs': 'error',
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1, maxBOF: 0, maxEOF: 0 }],
      '@stylistic/eol-last': 'error',
      '@stylistic/linebreak-style': 'error',
      // The hub's React components.
      '@stylistic/jsx-quotes': ['error', 'prefer-double'],
      '@stylistic/jsx-indent-props': ['error', 2],
      '@stylistic/jsx-curly-spacing': 'error',
      '@stylistic/jsx-curly-newline': ['error', 'consistent'],
      '@stylistic/jsx-curly-brace-presence': ['error', { props: 'never', children: 'never' }],
      '@stylistic/jsx-equals-spacing': 'error',
      '@stylistic/jsx-tag-spacing': ['error', { beforeSelfClosing: 'always' }],
      '@stylistic/jsx-self-closing-comp': 'error',
      '@stylistic/jsx-wrap-multilines': 'error',
    },
  },
  {
    // The stand-ins read untyped request bodies and environments as the service and the agent do (String() of
    // whatever came, keys removed by name).
    files: ['emulator/**', 'tests/support/**'],
    rules: {
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  {
    // Tests, benchmarks and scripts read JSON answers (typed any) and check them by assertion, and their fakes
    // implement async ports with synchronous bodies.
    files: ['tests/**', 'bench/**', 'scripts/**', 'eslint.config.mjs'],
    rules: {
      '@typescript-eslint/require-await': 'off',
      // A test's own plumbing: error callbacks, Buffer chunks appended to strings, abort reasons passed on as they
      // came, `void` in one-line callbacks; and its defensive checks of what an answer holds.
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'off',
      '@typescript-eslint/restrict-plus-operands': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      '@typescript-eslint/no-misused-spread': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowRegExp: true, allowAny: true, allowNullish: true, allowArray: true, allowNever: true }],
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
