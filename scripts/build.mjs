#!/usr/bin/env node
// Builds the extension's contents into dist/extension: one self-contained bundle per task (no node_modules in the
// .vsix) next to its task.json, the hub page (one minified browser bundle, its CSS and fonts), plus the manifest's files. azure-pipelines-task-lib 5 embeds its message strings
// (lib-resource.js), so a bundle needs no resource files beside it.
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('..', import.meta.url).pathname;
export const stage = join(root, 'dist', 'extension');
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
export const taskNames = readdirSync(join(root, 'tasks')).filter((name) => existsSync(join(root, 'tasks', name, 'task.json')));

/** Where the programs the runner image carries are bundled (and what its Dockerfile copies in). */
export const runtimeDir = join(root, 'dist', 'runtime');

// Files a task carries besides its bundle: BuildRunnerImage builds the runner image from its own copy of the sources.
const taskFiles = {
  BuildRunnerImage: [['images/linux', 'runner-image/images/linux'], ['docker', 'runner-image/docker'], ['dist/runtime', 'runner-image/dist/runtime']],
};

/** One self-contained CommonJS bundle for Node (no node_modules beside it): a task, or a program of the runner image. */
function bundleForNode(entry, outfile) {
  return build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    legalComments: 'external',
    logLevel: 'warning',
  });
}

/** The programs inside the runner image, run on the agent's own Node: the pod's helper (runner/). */
export async function buildRuntime() {
  for (const [entry, name] of [['runner/main.ts', 'runner.js']]) await bundleForNode(join(root, entry), join(runtimeDir, name));
}

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

export async function buildExtension() {
  rmSync(stage, { recursive: true, force: true });
  await buildRuntime();
  await buildHub();
  for (const task of taskNames) {
    const out = join(stage, 'tasks', task);
    await bundleForNode(join(root, 'tasks', task, 'index.ts'), join(out, 'index.js'));
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

if (process.argv[1] === new URL(import.meta.url).pathname) {
  await buildExtension();
  console.log(`built ${taskNames.join(', ')} and the hub into ${stage}, the runner image's programs into ${runtimeDir}`);
}
