#!/usr/bin/env node
// The whole test suite, as CI and a newcomer run it: type-check, lint, then every test file with Node's test runner
// (TypeScript through tsx). The extension is built and packaged once, first, for every file to use; the fast tiers
// run side by side (one file per core), the e2e suites one at a time, each tier closing with its own summary.
//   npm test             everything (the e2e suites need root: they install and start their own daemons)
//   npm test -- unit     the fast tiers (tests/unit, tests/component, tests/contract), no root needed
//   npm test -- component | contract | e2e   one tier;  npm test -- <file…>   those files
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const suites = {
  unit: ['tests/unit', 'tests/component', 'tests/contract'],
  component: ['tests/component'],
  contract: ['tests/contract'],
  e2e: ['tests/e2e'],
};

function findTests(dir) {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(join(root, path)).isDirectory()) return findTests(path);
    return /\.test\.tsx?$/.test(entry) ? [path] : [];
  }).sort();
}

/** Every shell script of the repository: by its name, or by its `#!` line. */
function shellScripts(dir = '') {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return ['node_modules', 'dist', 'out', '.git', '.tmp'].includes(entry.name) ? [] : shellScripts(path);
    if (!entry.isFile() || entry.name.endsWith('.template')) return [];
    if (entry.name.endsWith('.sh')) return [path];
    return /^#!.*\b(ba|da)?sh\b/.test(readFileSync(join(root, path), 'utf8').slice(0, 100).split('\n')[0]) ? [path] : [];
  }).sort();
}

function run(command, args, env = process.env) {
  console.log(`\n> ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  return result.status ?? 1;
}

const args = process.argv.slice(2);
const whole = args.length === 0;
const files = (whole ? ['unit', 'e2e'] : args).flatMap((arg) => (suites[arg] ? suites[arg].flatMap(findTests) : [arg]));

if (whole) {
  const bin = join(root, 'node_modules', '.bin');
  if (run(join(bin, 'tsc'), ['-p', 'tsconfig.json', '--noEmit']) !== 0) process.exit(1);
  if (run(join(bin, 'eslint'), ['.']) !== 0) process.exit(1);
}
// The e2e suites bring their own Kubernetes, Docker engine and browser: install them (root, idempotent) unless the
// user points the suites at an existing cluster, and stop the local cluster afterwards if this run started it.
const e2e = files.some((file) => file.startsWith('tests/e2e/'));
const clusterScript = join(root, 'tests', 'cluster', 'cluster.sh');
let stopCluster = false;
if (e2e && process.getuid?.() === 0) {
  if (run('bash', [join(root, 'tests', 'install-deps.sh')]) !== 0) process.exit(1);
  stopCluster = !process.env.KUBECONFIG && spawnSync(clusterScript, ['status'], { stdio: 'ignore' }).status !== 0;
}
// The shell scripts are linted in a whole run: CI's install-deps.sh brings shellcheck (.shellcheckrc says what is off).
if (whole) {
  if (spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).status === 0) {
    if (run('shellcheck', ['-x', ...shellScripts()]) !== 0) process.exit(1);
  } else {
    console.log('\nshellcheck is not installed: the shell scripts were not linted (Debian: apt-get install shellcheck)');
  }
}
// Built once for all files (scripts/build.mjs ensureExtension): files side by side must not rebuild dist/ under each other.
if (run(process.execPath, [join(root, 'scripts', 'package.mjs')]) !== 0) process.exit(1);
const env = { ...process.env, ADR_TESTS_PACKAGED: '1' };
const nodeTest = (concurrency, tierFiles, reporters = []) => (tierFiles.length === 0 ? 0
  : run(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', '--test-reporter-destination=stdout', ...reporters, ...tierFiles], env));
// The fast tiers use no shared daemon: one file per core. The e2e suites share one cluster, one Docker engine and the
// machine's cores: one file at a time, each file's time printed at the end (the e2e tier's minutes are CI's budget).
const fast = nodeTest(availableParallelism(), files.filter((file) => !file.startsWith('tests/e2e/')));
const timesDir = mkdtempSync(join(tmpdir(), 'adr-test-times-'));
const timesFile = join(timesDir, 'e2e.json');
const slow = nodeTest(1, files.filter((file) => file.startsWith('tests/e2e/')), [`--test-reporter=${join(root, 'scripts', 'file-times-reporter.mjs')}`, `--test-reporter-destination=${timesFile}`]);
if (existsSync(timesFile)) {
  const seconds = Object.entries(JSON.parse(readFileSync(timesFile, 'utf8') || '{}')).sort(([, a], [, b]) => b - a);
  console.log(`\ne2e time per file (${(seconds.reduce((sum, [, s]) => sum + s, 0) / 60).toFixed(1)} min in all):`);
  for (const [file, s] of seconds) console.log(`  ${(s / 60).toFixed(1).padStart(5)} min  ${file.replace(root, '')}`);
}
rmSync(timesDir, { recursive: true, force: true });
const status = fast || slow;
if (fast !== 0 && slow === 0 && e2e) console.error('\nThe fast tiers failed (their summary is above the e2e suites\'): see there.');
// Quietly, so the summaries stay the last thing printed.
if (stopCluster && spawnSync(clusterScript, ['down'], { stdio: 'ignore' }).status !== 0) console.error('tests/cluster/cluster.sh down failed');
process.exit(status);
