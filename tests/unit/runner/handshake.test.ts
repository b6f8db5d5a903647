// The capabilities a runner pod asks the autoscaler to register: what the agent itself will report once online.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCapabilities, recordedAgentVersion } from '../../../runner/handshake.js';
// The agent double stands for the real agent here: written from the agent's sources, not from ours.
import { systemCapabilities } from '../../../emulator/agent/capabilities.js';

const dir = mkdtempSync(join(tmpdir(), 'handshake-'));
const onPath = mkdtempSync(join(tmpdir(), 'handshake-path-'));
for (const tool of ['git', 'curl', 'nodejs', 'javac']) {
  writeFileSync(join(onPath, tool), '#!/bin/sh\n');
  chmodSync(join(onPath, tool), 0o755);
}
writeFileSync(join(onPath, 'not-executable-make'), '');

const env = {
  PATH: `${onPath}:/nonexistent`, HOME: '/home/agent', TOOLBOX: 'yes', SHLVL: '2', TERM: 'xterm', LONG: 'x'.repeat(1024),
  SECRET_NAME: 'kept out', VSO_AGENT_IGNORE: 'SECRET_NAME, AZP_TOKEN', 'agent.disableupdate': 'true',
};

describe('the registration request’s capabilities', () => {
  it('name the same capabilities the running agent reports in its session', () => {
    const requested = agentCapabilities(env, 'linux-3', '/azp/agent', '4.999.0');
    const reported = systemCapabilities(env, 'linux-3', '4.999.0', '/azp/agent');
    assert.deepEqual(Object.keys(requested).sort(), Object.keys(reported).sort());
  });

  it('hold the tools found on PATH, the environment the agent keeps and its Agent.* facts', () => {
    const requested = agentCapabilities(env, 'linux-3', '/azp/agent', '4.999.0');
    assert.equal(requested.git, join(onPath, 'git'));
    assert.equal(requested['node.js'], join(onPath, 'nodejs'));
    assert.equal(requested.JDK, join(onPath, 'javac'));
    assert.equal(requested.make, undefined, 'a file that is not executable is no tool');
    assert.equal(requested.TOOLBOX, 'yes');
    assert.equal(requested['Agent.Version'], '4.999.0');
    assert.equal(requested['Agent.Name'], 'linux-3');
    for (const left of ['SHLVL', 'TERM', 'LONG', 'SECRET_NAME']) assert.equal(requested[left], undefined, `${left} is left out`);
  });

  it('leave Agent.Version out when the image recorded none', () => {
    assert.equal(agentCapabilities(env, 'linux-3', '/azp/agent')['Agent.Version'], undefined);
  });

  it('read the recorded version only when it is one', () => {
    const file = join(dir, 'agent-version');
    writeFileSync(file, '4.272.0\n');
    assert.equal(recordedAgentVersion(file), '4.272.0');
    writeFileSync(file, 'Agent.Listener failed\n');
    assert.equal(recordedAgentVersion(file), undefined);
    assert.equal(recordedAgentVersion(join(dir, 'absent')), undefined);
  });
});
