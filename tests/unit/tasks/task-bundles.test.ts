// The packaged extension as a black box: each bundled task run the way the agent runs it (node + INPUT_* variables),
// and the .vsix holding exactly what the agent needs.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, taskFolders } from '../../support/task-manifests.js';
import { runBundledTask } from '../../support/run-task.js';
import { zipEntries } from '../../support/zip.js';
import { packagedForTests } from '../../../scripts/build.mjs';

const stage = join(repoRoot, 'dist', 'extension');
const version = JSON.parse(readFileSync(join(repoRoot, 'vss-extension.json'), 'utf8')).version as string;

describe('bundled tasks and the .vsix', () => {
  before(() => {
    if (packagedForTests()) return;
    const result = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs')], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
  });

  const required: Record<string, string> = {
    BuildRunnerImage: 'imageRepository',
    DeployRunnerPool: 'kubernetesServiceConnection',
    ScaleRunnerPool: 'runnerName',
  };
  for (const task of taskFolders()) {
    it(`${task} without inputs fails, naming a missing required input`, async () => {
      const run = await runBundledTask(task, {});
      assert.equal(run.status, 1);
      assert.equal(run.result, 'Failed');
      assert.match(run.message ?? '', new RegExp(`Input '${required[task]}': is required but was empty`));
    });
  }

  it('DeployRunnerPool reads INPUT_* variables and reports each bad value', async () => {
    const run = await runBundledTask('DeployRunnerPool', {
      kubernetesServiceConnection: 'aks',
      poolName: 'Linux',
      azureDevOpsUrl: 'https://dev.azure.com/contoso',
      image: 'runner:1',
      personalAccessToken: 'pat',
      replicas: 'many',
      dockerMode: 'rootful',
    });
    assert.equal(run.status, 1);
    assert.equal(run.message, "Input 'dockerMode': must be one of none, hostSocket, dind, buildah, podContainers; got 'rootful'.%0AInput 'replicas': must be a whole number from 0 to 500; got 'many'.");
  });

  for (const id of ['azure-devops-runner', 'azure-devops-runner-dev']) {
    it(`${id}.vsix is under 5 MB and holds task.json and one bundle per task, no node_modules`, () => {
      const vsix = join(repoRoot, 'dist', `${id}-${version}.vsix`);
      assert.ok(statSync(vsix).size < 5 * 1024 * 1024);
      const entries = zipEntries(vsix);
      for (const task of taskFolders()) {
        for (const file of ['task.json', 'index.js']) assert.ok(entries.includes(`tasks/${task}/${file}`), `${task}/${file}`);
        // BuildRunnerImage's image context is no part of the task: the runner image's helper goes into the image.
        const bundles = entries.filter((e) => e.startsWith(`tasks/${task}/`) && !e.startsWith(`tasks/${task}/runner-image/`) && e.endsWith('.js'));
        assert.deepEqual(bundles, [`tasks/${task}/index.js`]);
      }
      for (const file of ['Dockerfile', 'install.sh'].map((f) => `images/linux/${f}`).concat('docker/start.sh', 'dist/runner/runner.js', 'dist/runner/autoscaler.js', 'runner/bin/docker')) {
        assert.ok(entries.includes(`tasks/BuildRunnerImage/runner-image/${file}`), `BuildRunnerImage ships ${file}`);
      }
      assert.ok(!entries.some((e) => e.includes('node_modules')));
    });
  }

  it('each .vsix carries the hub page: its HTML, one script, its CSS and fonts, and nothing unminified', () => {
    for (const id of ['azure-devops-runner', 'azure-devops-runner-dev']) {
      const entries = zipEntries(join(repoRoot, 'dist', `${id}-${version}.vsix`));
      for (const file of ['hub/runner-pools.html', 'hub/runner-pools.js', 'hub/runner-pools.css']) assert.ok(entries.includes(file), `${id}: ${file}`);
      assert.deepEqual(entries.filter((e) => e.startsWith('hub/') && e.endsWith('.js')), ['hub/runner-pools.js']);
      assert.ok(entries.some((e) => /^hub\/fonts\/.+\.woff2?$/.test(e)), `${id}: icon fonts`);
    }
    assert.ok(statSync(join(stage, 'hub', 'runner-pools.js')).size < 1024 * 1024, 'hub bundle under 1 MB');
  });

  it('the hub contribution points at a page in the package that loads files that exist, under exactly the scopes it reads with', () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'vss-extension.json'), 'utf8'));
    const hub = manifest.contributions.find((c: { type: string }) => c.type === 'ms.vss-web.hub');
    assert.deepEqual(hub.targets, ['ms.vss-build-web.build-release-hub-group']);
    assert.equal(hub.properties.name, 'Runner pools');
    const page = readFileSync(join(stage, hub.properties.uri), 'utf8');
    for (const [, src] of page.matchAll(/(?:src|href)="([^"]+)"/g)) statSync(join(stage, 'hub', src));
    statSync(join(stage, hub.properties.icon.light));
    assert.ok(manifest.files.some((f: { path: string; addressable?: boolean }) => f.path === 'hub' && f.addressable === true));
    assert.deepEqual(manifest.scopes, ['vso.agentpools', 'vso.extension.data']);
  });

  it('the dev package has its own task ids', () => {
    for (const task of taskFolders()) {
      const release = JSON.parse(readFileSync(join(stage, 'tasks', task, 'task.json'), 'utf8'));
      const dev = JSON.parse(readFileSync(join(repoRoot, 'dist', 'extension-dev', 'tasks', task, 'task.json'), 'utf8'));
      assert.notEqual(dev.id, release.id);
      assert.match(dev.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('the command line, a release asset next to the .vsix, runs with plain node wherever it is copied', () => {
    const away = join(mkdtempSync(join(tmpdir(), 'cli-asset-')), 'azure-devops-runner.cjs');
    copyFileSync(join(repoRoot, 'dist', `azure-devops-runner-${version}-cli.cjs`), away);
    const run = (args: string[]) => spawnSync(process.execPath, [away, ...args], { cwd: tmpdir(), encoding: 'utf8', env: { PATH: process.env.PATH } });
    assert.equal(run(['--version']).stdout, `${version}\n`);
    const deploy = run(['deploy', '--poolName', 'Linux']);
    assert.equal(deploy.status, 2);
    assert.match(deploy.stderr, /Input '--azureDevOpsUrl': is required but was empty/);
    // The repository's `bin` runs the same bundle.
    assert.equal(spawnSync(process.execPath, [join(repoRoot, 'bin', 'azure-devops-runner.js'), '--version'], { encoding: 'utf8' }).stdout, `${version}\n`);
  });
});
