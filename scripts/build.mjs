#!/usr/bin/env node
// Builds the extension's contents into dist/extension: one self-contained bundle per task (no node_modules in the
// .vsix) next to its task.json, the hub page (one minified browser bundle, its CSS and fonts), plus the manifest's files. azure-pipelines-task-lib 5 embeds its message strings
// (lib-resource.js), so a bundle needs no resource files beside it. First the runner image's helper (runner/) into
// dist/runner/runner.js: the image builds copy it from there, and BuildRunnerImage ships it.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;
export const stage = join(root, 'dist', 'extension');
export const runnerBundle = join(root, 'dist', 'runner', 'runner.js');
/** The in-cluster autoscaler, also carried by the runner image and run on the agent's Node (autoscaler/DESIGN.md). */
export const autoscalerBundle = join(root, 'dist', 'runner', 'autoscaler.js');
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
/** The command line (cli/): one CommonJS file with nothing to install, run with plain `node` (bin/azure-devops-runner.js). */
export const cliBundle = join(root, 'dist', 'cli', 'azure-devops-runner.cjs');
export const taskNames = readdirSync(join(root, 'tasks')).filter((name) => existsSync(join(root, 'tasks', name, 'task.json')));

// Files a task carries besides its bundle: BuildRunnerImage builds the runner image from its own copy of the sources.
const taskFiles = {
  BuildRunnerImage: [['images/linux', 'runner-image/images/linux'], ['docker', 'runner-image/docker'], ['dist/runner/runner.js', 'runner-image/dist/runner/runner.js'], ['dist/runner/autoscaler.js', 'runner-image/dist/runner/autoscaler.js'], ['runner/bin/docker', 'runner-image/runner/bin/docker']],
};

/** The Runner pools hub: React + azure-devops-ui in one IIFE; esbuild gathers the CSS the components import. */
export async function buildHub(out = join(stage, 'hub')) {
  await build({
    entryPoints: [join(root, 'hub', 'src', 'runner-pools.tsx')],
    outdir: out,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    minify: true,
    legalComments: 'external',
    define: { 'process.env.NODE_ENV': '"production"' },
    // Icon fonts only (the colours and layout are CSS); files beside the bundle, addressable from the page.
    loader: { '.woff': 'file', '.woff2': 'file' },
    assetNames: 'fonts/[name]-[hash]',
    logLevel: 'warning',
  });
  cpSync(join(root, 'hub', 'runner-pools.html'), join(out, 'runner-pools.html'));
}

/** One self-contained CommonJS file for Node (a task, the autoscaler, the runner's helper): no node_modules needed. */
function nodeBundle(entry, outfile, { target = 'node20', minify = true } = {}) {
  return build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'cjs', target, minify, ...(minify && { legalComments: 'external' }), logLevel: 'warning' });
}

/**
 * The programs the runner image carries, each one CommonJS file with nothing to install, run on the Node the agent
 * package ships: the image's helper (runner/; that Node may be older than ours; not minified: it is small, and its
 * stack traces are read inside runner pods) and the in-cluster autoscaler (autoscaler/; Node 20 at least, as the
 * Kubernetes client needs).
 */
export async function buildRunner(outfile = runnerBundle) {
  await nodeBundle(join(root, 'runner', 'main.ts'), outfile, { target: 'node16', minify: false });
  await nodeBundle(join(root, 'autoscaler', 'main.ts'), join(outfile, '..', 'autoscaler.js'));
  // CommonJS here too, below the repository's ES-module package.json.
  writeFileSync(join(outfile, '..', 'package.json'), '{ "type": "commonjs" }\n');
}

export async function buildCli(outfile = cliBundle) {
  await nodeBundle(join(root, 'cli', 'main.ts'), outfile);
}

export async function buildExtension() {
  await buildRunner();
  rmSync(stage, { recursive: true, force: true });
  await buildHub();
  for (const task of taskNames) {
    const out = join(stage, 'tasks', task);
    await nodeBundle(join(root, 'tasks', task, 'index.ts'), join(out, 'index.js'));
    cpSync(join(root, 'tasks', task, 'task.json'), join(out, 'task.json'));
    // Which extension the task belongs to: the data storage it publishes the hub's snapshots into.
    writeFileSync(join(out, 'extension.json'), JSON.stringify({ publisher: manifest.publisher, id: manifest.id }) + '\n');
    // The bundle is CommonJS wherever the task folder is unpacked, even below an ES-module package.json.
    writeFileSync(join(out, 'package.json'), '{ "type": "commonjs" }\n');
    cpSync(join(root, 'assets', 'icon.png'), join(out, 'icon.png'));
    for (const [from, to] of taskFiles[task] ?? []) {
      if (existsSync(join(root, from))) cpSync(join(root, from), join(out, to), { recursive: true });
    }
  }
  mkdirSync(join(stage, 'assets'), { recursive: true });
  cpSync(join(root, 'assets', 'icon.png'), join(stage, 'assets', 'icon.png'));
  cpSync(join(root, 'overview.md'), join(stage, 'overview.md'));
  cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
}

/**
 * Set by scripts/test.mjs once it has packaged everything (scripts/package.mjs) for the run: the test files then use
 * that build instead of each rebuilding dist/ (and racing each other when they run side by side).
 */
export const packagedForTests = () => process.env.ADR_TESTS_PACKAGED === '1';

/** The extension in dist/extension, as the test files need it: the run's own package when there is one. */
export async function ensureExtension() {
  if (!packagedForTests()) await buildExtension();
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  await buildExtension();
  await buildCli();
  console.log(`built ${taskNames.join(', ')} and the hub into ${stage}, the command line into ${cliBundle}`);
}
