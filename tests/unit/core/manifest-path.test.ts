// Where render may write: below the agent's working folders unless the user opts out; never a folder or nowhere.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputReader, UnusableInput } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { manifestTarget } from '../../../src/flows/manifest-path.js';
import { MemoryFiles } from '../../support/memory-files.js';
import { MemoryHost } from '../../support/memory-host.js';

const variables = { 'Agent.TempDirectory': '/agent/_temp', 'Build.SourcesDirectory': '/agent/1/s', 'System.DefaultWorkingDirectory': '/agent/1/s' };
const files = new MemoryFiles();
for (const dir of ['/agent', '/agent/_temp', '/agent/1', '/agent/1/s', '/etc']) files.directories.add(dir);

function target(inputs: Record<string, string>) {
  const base = { kubernetesServiceConnection: 'k', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p', action: 'render' };
  const options = readDeployOptions(new InputReader(new MemoryHost({ ...base, ...inputs })));
  return manifestTarget(options, new MemoryHost({}, {}, variables), files);
}

describe('manifestTarget', () => {
  it('takes a file below a working folder, .. resolved', () => {
    assert.equal(target({ manifestPath: '/agent/_temp/pool.yaml' }), '/agent/_temp/pool.yaml');
    assert.equal(target({ manifestPath: '/agent/1/s/../s/pool.yaml' }), '/agent/1/s/pool.yaml');
  });

  it('refuses a file outside them unless allowManifestOutsideWorkspace is set', () => {
    assert.throws(() => target({ manifestPath: '/agent/_temp/../../etc/passwd' }),
      /^UnusableInput: Input 'manifestPath': '\/agent\/_temp\/..\/..\/etc\/passwd' is outside the agent's working folders \(Agent.TempDirectory, Pipeline.Workspace, Build.SourcesDirectory, System.DefaultWorkingDirectory\); write below one of them, or set allowManifestOutsideWorkspace\.$/);
    assert.equal(target({ manifestPath: '/etc/pool.yaml', allowManifestOutsideWorkspace: 'true' }), '/etc/pool.yaml');
  });

  it('refuses a folder and a missing folder, naming the input', () => {
    assert.throws(() => target({ manifestPath: '/agent/_temp' }), /^UnusableInput: Input 'manifestPath': '\/agent\/_temp' is a folder: name a file in it, such as \/agent\/_temp\/runner-pool.yaml\.$/);
    assert.throws(() => target({ manifestPath: '/agent/_temp/no/pool.yaml' }), /^UnusableInput: Input 'manifestPath': the folder '\/agent\/_temp\/no' does not exist\.$/);
    // The input is data on the error, for an entry to name it its own way (the command line: --manifestPath).
    assert.throws(() => target({ manifestPath: '/agent/_temp/no/pool.yaml' }), (error) => error instanceof UnusableInput && error.problem.input === 'manifestPath');
  });

  it('reads the sources folder that an empty filePath input arrives as, for apply, as no manifest', () => {
    assert.equal(target({ action: 'apply', manifestPath: '/agent/1/s' }), undefined);
    assert.throws(() => target({ manifestPath: '/agent/1/s' }), /is a folder/);
  });
});
