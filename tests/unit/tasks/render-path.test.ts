// DeployRunnerPool's render, black box on the real file system: it writes below the agent's folders only, through
// `..` and links alike, unless told otherwise, and names manifestPath when it refuses.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureExtension } from '../../../scripts/build.mjs';
import { runBundledTask } from '../../support/run-task.js';

const base = {
  kubernetesServiceConnection: 'unused', action: 'render', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/contoso',
  image: 'registry.example.com/runner:1', personalAccessToken: 'secret-value',
};

describe('render writes only where it may', () => {
  let root: string;
  let temp: string;
  let victim: string;
  const render = (manifestPath: string, inputs: Record<string, string> = {}) => runBundledTask('DeployRunnerPool', { ...base, manifestPath, ...inputs }, { AGENT_TEMPDIRECTORY: temp });

  before(async () => {
    await ensureExtension();
    root = mkdtempSync(join(tmpdir(), 'adr-render-path-'));
    temp = join(root, 'agent', '_temp');
    mkdirSync(temp, { recursive: true });
    mkdirSync(join(root, 'elsewhere'));
    victim = join(root, 'elsewhere', 'passwd');
    writeFileSync(victim, 'root:x:0:0\n');
    symlinkSync(victim, join(temp, 'link.yaml'));
    symlinkSync(join(root, 'elsewhere', 'created'), join(temp, 'dangling.yaml'));
  });

  for (const [what, path] of [['through ..', () => join(temp, '..', '..', 'elsewhere', 'passwd')], ['through a link', () => join(temp, 'link.yaml')]] as const) {
    it(`refuses a file outside the agent's folders ${what}, and leaves it as it was`, async () => {
      const run = await render(path());
      assert.match(run.message ?? '', /^Input 'manifestPath': '.+' is outside the agent's working folders/);
      assert.equal(readFileSync(victim, 'utf8'), 'root:x:0:0\n');
    });
  }

  it('refuses a dangling link to outside, creating nothing', async () => {
    const run = await render(join(temp, 'dangling.yaml'));
    assert.match(run.message ?? '', /is outside the agent's working folders/);
    assert.ok(!existsSync(join(root, 'elsewhere', 'created')));
  });

  it('refuses a folder and a missing folder', async () => {
    assert.match((await render(temp)).message ?? '', /^Input 'manifestPath': '.+' is a folder: name a file in it/);
    assert.match((await render(join(temp, 'missing', 'pool.yaml'))).message ?? '', /^Input 'manifestPath': the folder '.+missing' does not exist\.$/);
  });

  it('writes below the agent temp folder, and anywhere with allowManifestOutsideWorkspace', async () => {
    const inside = join(temp, 'pool.yaml');
    assert.equal((await render(inside)).result, 'Succeeded');
    assert.match(readFileSync(inside, 'utf8'), /kind: StatefulSet/);
    const outside = join(root, 'elsewhere', 'pool.yaml');
    assert.equal((await render(outside, { allowManifestOutsideWorkspace: 'true' })).result, 'Succeeded');
    assert.match(readFileSync(outside, 'utf8'), /kind: StatefulSet/);
  });
});
