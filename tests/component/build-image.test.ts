// BuildRunnerImage against the emulator's agent package: it asks the organization once for the newest agent and warns
// when the image bakes an older one; when it cannot ask (no connection, a refused token, no answer) it says so in one
// line and builds anyway. The builder is a fake docker: what is checked here is what the task says, not the image.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from '../support/emulator.js';
import { MemoryHost } from '../support/memory-host.js';
import { MemoryFiles } from '../support/memory-files.js';
import { InputReader } from '../../src/core/inputs.js';
import { readBuildImageOptions } from '../../src/core/build-options.js';
import type { CommandRunner } from '../../src/core/ports/commands.js';
import type { ServiceEndpoint } from '../../src/core/ports/host.js';
import { buildRunnerImage } from '../../src/flows/build-image.js';
import { agentPackagesClient } from '../../src/clients/agent-packages.js';

const offered = '4.280.1';
let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator({
    agentPackage: { path: '/nonexistent', filename: `vsts-agent-linux-x64-${offered}.tar.gz`, version: offered, sha256: 'a'.repeat(64), platform: 'linux-x64' },
  });
});
after(async () => {
  await emulator.stop();
});

/** A docker that builds anything: the task's own calls, answered as docker answers them. */
const docker: CommandRunner = {
  has: async (program) => program === 'docker',
  run: async (_program, args) => ({ code: 0, stdout: args[0] === 'version' ? '27.0.1' : args[0] === 'image' ? '123456789' : '', stderr: '' }),
};

/** The job's own connection to its organization, as the agent hands it to every task. */
const systemConnection = (url: string, token: string): Record<string, ServiceEndpoint> =>
  ({ SystemVssConnection: { url, scheme: 'OAuth', parameters: { AccessToken: token }, data: {} } });

async function build(inputs: Record<string, string>, endpoints: Record<string, ServiceEndpoint> = systemConnection(emulator.orgUrl, DEFAULT_PAT.token)) {
  const host = new MemoryHost({ imageRepository: 'registry.example.com/runner', push: 'false', ...inputs }, endpoints);
  const files = new MemoryFiles();
  for (const dir of ['/builtin', '/builtin/images', '/builtin/images/linux', '/tmp']) files.directories.add(dir);
  files.write('/builtin/images/linux/Dockerfile', 'FROM debian\nARG AGENT_VERSION=4.272.0\nARG AGENT_PACKAGE_URL=https://example.com/${AGENT_VERSION}\n');
  const result = await buildRunnerImage(readBuildImageOptions(new InputReader(host)), {
    host, commands: docker, files, builtinContext: '/builtin', tempDir: '/tmp', existingLogins: { docker: [], buildah: [] }, agentPackages: agentPackagesClient,
  });
  assert.equal(result.imageReference, 'registry.example.com/runner:latest', 'built all the same');
  return host;
}

const packageRequests = async () => (await emulator.admin.requests()).filter((request) => request.path.includes('/distributedtask/packages/agent')).length;

describe('BuildRunnerImage and the organization\'s newest agent', () => {
  it('warns, naming both versions, when the image bakes an older agent than the organization offers, asking once', async () => {
    const before = await packageRequests();
    const host = await build({ agentVersion: '4.266.2' });
    assert.equal(await packageRequests() - before, 1);
    assert.deepEqual(host.warnings, [`The image bakes agent 4.266.2, older than ${offered}, the newest this organization offers for linux-x64: set agentVersion to ${offered}.`]);
  });

  it('reads the version the built-in Dockerfile bakes when no agentVersion is given', async () => {
    const host = await build({});
    assert.match(host.warnings.join('\n'), new RegExp(`bakes agent 4\\.272\\.0, older than ${offered.replace(/\./g, '\\.')}`));
  });

  it('says nothing more than one line when the agent is the newest', async () => {
    const host = await build({ agentVersion: offered });
    assert.deepEqual(host.warnings, []);
    assert.ok(host.log.includes(`Agent ${offered} is up to date: the newest this organization offers for linux-x64 is ${offered}.`), host.log.join('\n'));
  });

  it('when it cannot ask, says why in one line and builds: no connection, a refused token, nothing listening', async () => {
    const closed = await startEmulator();
    const closedUrl = closed.orgUrl;
    await closed.stop();
    const cases: Array<[Record<string, ServiceEndpoint>, RegExp]> = [
      [{}, /^Not checking agent 4\.266\.2 against the organization's newest: this step has no connection to the organization\.$/],
      [systemConnection(emulator.orgUrl, 'not-a-token'), /^Could not ask the organization for its newest agent \(Azure DevOps answered 401\); building with agent 4\.266\.2 unchecked\.$/],
      [systemConnection(closedUrl, DEFAULT_PAT.token), /^Could not ask the organization for its newest agent \(cannot reach .*ECONNREFUSED.*\); building with agent 4\.266\.2 unchecked\.$/],
    ];
    for (const [endpoints, line] of cases) {
      const host = await build({ agentVersion: '4.266.2' }, endpoints);
      assert.deepEqual(host.warnings, []);
      assert.equal(host.log.filter((message) => line.test(message)).length, 1, host.log.join('\n'));
    }
  });
});
