// Benchmark: each bundled task's cold start (process start to its input-validation error) and the .vsix size.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { repoRoot, taskFolders } from '../tests/support/task-manifests.js';
import { median } from '../src/core/statistics.js';

const runs = 21;

const packaged = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs')], { cwd: repoRoot, encoding: 'utf8' });
if (packaged.status !== 0) throw new Error(packaged.stderr);

// A bare `node -e ''` start in the same run, as the floor the tasks are compared with.
const floor: number[] = [];
for (let i = 0; i < runs; i++) {
  const start = performance.now();
  spawnSync(process.execPath, ['-e', '']);
  floor.push(performance.now() - start);
}
console.log(`node-bare-start-ms: ${median(floor).toFixed(0)}`);

for (const task of taskFolders()) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const result = spawnSync(process.execPath, [join(repoRoot, 'dist', 'extension', 'tasks', task, 'index.js')], {
      env: { PATH: process.env.PATH ?? '', AGENT_TEMPDIRECTORY: tmpdir() },
      encoding: 'utf8',
    });
    times.push(performance.now() - start);
    if (!result.stdout.includes('result=Failed')) throw new Error(`${task} did not stop at input validation`);
  }
  console.log(`task-cold-start-ms ${task}: ${median(times).toFixed(0)}`);
}

const version = JSON.parse(readFileSync(join(repoRoot, 'vss-extension.json'), 'utf8')).version as string;
const vsix = join(repoRoot, 'dist', `azure-devops-runner-${version}.vsix`);
console.log(`vsix-size-mb: ${(statSync(vsix).size / 1024 / 1024).toFixed(2)}`);
