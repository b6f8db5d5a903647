// What the flows make of a 404 from Azure DevOps: an agent gone meanwhile is no failure to drain or enable it; a
// missing extension costs the hub's snapshot, not the run; every other error still ends the call.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdoError, type AdoClient } from '../../../src/core/ports/ado.js';
import type { AgentInfo } from '../../../src/core/model.js';
import { enableAgain, publishForHub, setAgentsEnabled } from '../../../src/flows/agent-drain.js';
import { MemoryHost } from '../../support/memory-host.js';

const agent = (id: number): AgentInfo => ({ id, name: `linux-${id}`, status: 'online', enabled: true, capabilities: {} });

/** Azure DevOps as the client reports it: `failures` by agent id (or 'snapshot'). */
function ado(failures: Record<string, AdoError>) {
  const set: number[] = [];
  const client = {
    async setAgentEnabled(_pool: number, id: number) {
      if (failures[id]) throw failures[id];
      set.push(id);
    },
    async publishSnapshot() {
      if (failures.snapshot) throw failures.snapshot;
    },
  } as unknown as AdoClient;
  return { client, set };
}

describe('Azure DevOps 404s in the flows', () => {
  it('drains and enables the agents still registered, reporting one that is gone', async () => {
    const { client, set } = ado({ 2: new AdoError(404, 'Azure DevOps answered 404') });
    const host = new MemoryHost();
    assert.equal(await setAgentsEnabled(client, host, 1, [agent(1), agent(2), agent(3)], false, 'slots'), true);
    assert.deepEqual(set, [1, 3]);
    assert.deepEqual(host.log, ['The agent linux-2 is no longer registered; there is nothing to drain.']);
    await enableAgain(client, host, 1, [agent(2)]);
    assert.deepEqual(host.warnings, []);
  });

  it('still fails on any other error', async () => {
    const { client } = ado({ 2: new AdoError(500, 'Azure DevOps answered 500') });
    await assert.rejects(setAgentsEnabled(client, new MemoryHost(), 1, [agent(2)], false, 'slots'), /answered 500/);
  });

  it('warns when the hub snapshot has nowhere to go, and fails on other errors', async () => {
    const host = new MemoryHost();
    await publishForHub(ado({ snapshot: new AdoError(404, 'Azure DevOps answered 404 to PUT x') }).client, host, {} as never);
    assert.match(host.warnings[0], /^The Runner pools hub cannot show this pool: Azure DevOps answered 404 to PUT x\. Is the extension installed/);
    await assert.rejects(publishForHub(ado({ snapshot: new AdoError(503, 'down') }).client, host, {} as never), /down/);
  });
});
