#!/usr/bin/env node
// Builds the extension and packages it with tfx-cli: the release .vsix and a private dev .vsix with its own
// extension id and task ids, so both can be installed in one organization side by side.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { buildCli, buildExtension, cliBundle, root, stage } from './build.mjs';

const dist = join(root, 'dist');
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));

/** A stable, different GUID for the dev build of a task (name-based, RFC 4122 version 5 layout). */
function devTaskId(id) {
  const hash = createHash('sha1').update(`azure-devops-runner-dev:${id}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function tfx(dir, overrides) {
  const overridesFile = join(root, 'configs', overrides);
  const { id } = { ...manifest, ...JSON.parse(readFileSync(overridesFile, 'utf8')) };
  const output = join(dist, `${id}-${manifest.version}.vsix`);
  cpSync(join(root, 'vss-extension.json'), join(dir, 'vss-extension.json'));
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules', 'tfx-cli', '_build', 'tfx-cli.js'), 'extension', 'create', '--root', dir,
        '--manifest-globs', 'vss-extension.json', '--overrides-file', overridesFile,
        '--output-path', output, '--no-prompt', '--no-color'],
      { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (error) {
    // tfx reports its errors on stdout.
    console.error(error.stdout, error.stderr);
    throw new Error(`tfx extension create failed for ${overrides}`);
  }
  console.log(`packaged ${output}`);
  return output;
}

await buildExtension();
tfx(stage, 'release.json');

const devStage = join(dist, 'extension-dev');
rmSync(devStage, { recursive: true, force: true });
cpSync(stage, devStage, { recursive: true });
for (const task of readdirSync(join(devStage, 'tasks'))) {
  const file = join(devStage, 'tasks', task, 'task.json');
  const taskJson = JSON.parse(readFileSync(file, 'utf8'));
  taskJson.id = devTaskId(taskJson.id);
  taskJson.friendlyName = `${taskJson.friendlyName} (dev)`;
  writeFileSync(file, JSON.stringify(taskJson, null, 2));
  const dev = JSON.parse(readFileSync(join(root, 'configs', 'dev.json'), 'utf8'));
  writeFileSync(join(devStage, 'tasks', task, 'extension.json'), JSON.stringify({ publisher: manifest.publisher, id: dev.id }) + '\n');
}
tfx(devStage, 'dev.json');

// The command line, a release asset next to the .vsix: one file, run with `node` wherever it is copied.
await buildCli();
const cli = join(dist, `azure-devops-runner-${manifest.version}-cli.cjs`);
cpSync(cliBundle, cli);
console.log(`packaged ${cli}`);
