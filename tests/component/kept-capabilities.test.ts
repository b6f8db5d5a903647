// The autoscaler's client that keeps agents' capabilities (src/flows/kept-capabilities.ts), over the emulator: what its
// looks read, and that what it returns is what a full read would, whoever else writes the registrations meanwhile.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { FakeClock } from '../support/fake-clock.js';
import { RestAdoClient } from '../../src/clients/ado-rest.js';
import { unheldKey } from '../../src/clients/unheld-key.js';
import { DelegatingAdoClient, type AdoClient } from '../../src/core/ports/ado.js';
import { KeptCapabilities } from '../../src/flows/kept-capabilities.js';
import { fullReadMs, maxReadsById } from '../../src/core/capability-reads.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator();
});
after(() => emulator.stop());

/** The real client, counting the agent reads it passes on, with a test's hook before each read by id. */
class CountedReads extends DelegatingAdoClient {
  reads: string[] = [];
  inFlight = 0;
  mostInFlight = 0;
  beforeRead: (agentId: number) => Promise<void> = async () => {};

  override async listAgents(...args: Parameters<AdoClient['listAgents']>) {
    this.reads.push(args[1] !== undefined ? 'by name' : args[2]?.capabilities === false ? 'lean list' : 'full list');
    return this.inner.listAgents(...args);
  }

  override async getAgent(poolId: number, agentId: number) {
    await this.beforeRead(agentId);
    this.reads.push(`by id ${agentId}`);
    this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
    try {
      return await this.inner.getAgent(poolId, agentId);
    } finally {
      this.inFlight--;
    }
  }

  /** The reads since the last call. */
  taken(): string[] {
    const taken = this.reads;
    this.reads = [];
    return taken;
  }
}

let clock: FakeClock;
/** Another writer of the pool's registrations (a person, a copied PAT): the service, not through the kept client. */
let other: RestAdoClient;
let counted: CountedReads;
let kept: KeptCapabilities;
let poolId: number;

beforeEach(async () => {
  clock = new FakeClock();
  other = new RestAdoClient({ organizationUrl: emulator.orgUrl, token: 'emulator-pat', sleep: (ms) => clock.sleep(ms), now: () => clock.now(), log: () => {} });
  counted = new CountedReads(other);
  kept = new KeptCapabilities(counted, clock);
  poolId = (await emulator.admin.createPool(`kept-${Date.now()}-${Math.random()}`)).id;
});

/** Registers `count` agents as another writer would; their ids. */
async function register(count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push((await other.registerAgent(poolId, { name: `agent-${ids.length}-${Math.random()}`, publicKey: unheldKey(), systemCapabilities: { at: 'registration' } })).id);
  return ids;
}

/** An agent's session, reporting its capabilities as the agent does. */
async function openSession(agentId: number, systemCapabilities: Record<string, string>): Promise<void> {
  const response = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${poolId}/sessions?api-version=7.1-preview.1`, {
    method: 'POST', headers: { Authorization: `Basic ${Buffer.from(':emulator-pat').toString('base64')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ownerName: `listener-${agentId}`, agent: { id: agentId }, systemCapabilities }),
  });
  assert.equal(response.status, 201);
}

/** A look, and what a full read says at once after it: the two must agree on every agent the look returned. */
async function look() {
  const looked = await kept.listAgents(poolId);
  const reads = counted.taken();
  const full = new Map((await other.listAgents(poolId)).map((agent) => [agent.id, agent]));
  for (const agent of looked) assert.deepEqual(agent, full.get(agent.id), `agent ${agent.id} as a full read shows it`);
  return { looked, reads };
}

describe('the kept capabilities', () => {
  it('reads a few changed registrations by id, one at a time; more than a few with one read of all, which a burst goes on with', async () => {
    const ids = await register(20);
    assert.deepEqual((await look()).reads, ['full list'], 'nothing is known yet');
    for (const id of ids.slice(0, 3)) await openSession(id, { at: 'session' });
    assert.deepEqual((await look()).reads, ['lean list', ...ids.slice(0, 3).map((id) => `by id ${id}`)]);
    assert.equal(counted.mostInFlight, 1, 'one read by id at a time');
    // One more than a look reads by id: by the TSTU model each would be a call more, a list costs the same either way.
    for (const id of ids.slice(3, 3 + maxReadsById + 1)) await openSession(id, { at: 'session' });
    assert.deepEqual((await look()).reads, ['lean list', 'full list']);
    assert.deepEqual((await look()).reads, ['full list'], 'a burst: the look reads them itself');
    assert.deepEqual((await look()).reads, ['lean list'], 'the burst is over');
  });

  it('keeps each read by id as it comes: a failing one fails the look, keeps nothing wrong, and is read again', async () => {
    const ids = await register(10);
    await look();
    for (const id of ids.slice(0, 3)) await openSession(id, { at: 'session' });
    await emulator.admin.addFault({ method: 'GET', path: `/agents/${ids[1]}$`, kind: 'error', status: 500 });
    await assert.rejects(kept.listAgents(poolId), /500/);
    await emulator.admin.clearFaults();
    counted.taken();
    const { looked, reads } = await look();
    assert.deepEqual(reads, ['lean list', `by id ${ids[1]}`, `by id ${ids[2]}`], 'the one read before the failure was kept');
    assert.deepEqual(looked.filter((agent) => ids.slice(0, 3).includes(agent.id)).map((agent) => agent.capabilities.at), ['session', 'session', 'session']);
  });

  it('leaves out an agent deleted between the look and its read by id, and returns a changed one as read by id', async () => {
    const ids = await register(10);
    await look();
    await openSession(ids[0], { at: 'session' });
    await openSession(ids[1], { at: 'session' });
    // Another writer disables the first and deletes the second while the look runs.
    counted.beforeRead = async (id) => {
      if (id === ids[0]) await other.setAgentEnabled(poolId, id, false);
      if (id === ids[1]) await emulator.admin.endSession(id).then(() => other.deleteAgent(poolId, id));
    };
    const { looked, reads } = await look();
    assert.deepEqual(reads, ['lean list', `by id ${ids[0]}`, `by id ${ids[1]}`]);
    assert.deepEqual(looked.map((agent) => agent.id), [ids[0], ...ids.slice(2)]);
    assert.equal(looked[0].enabled, false, 'the read by id is newer than the look');
  });

  it('keeps what its own registrations\' answers show: neither a new agent nor a re-key is read again', async () => {
    const [id] = await register(1);
    await look();
    const added = await kept.registerAgent(poolId, { name: `added-${Math.random()}`, publicKey: unheldKey(), systemCapabilities: { at: 'added' } });
    await kept.registerAgent(poolId, { name: (await other.getAgent(poolId, id))!.name, publicKey: unheldKey(), systemCapabilities: { at: 're-keyed' } }, id);
    const { looked, reads } = await look();
    assert.deepEqual(reads, ['lean list']);
    assert.deepEqual(looked.map((agent) => [agent.id, agent.capabilities.at]), [[id, 're-keyed'], [added.id, 'added']]);
  });

  it('sees a registration re-keyed in place by another writer while offline (no status change) at the next full read', async () => {
    const [id] = await register(1);
    await look();
    const { name } = (await other.getAgent(poolId, id))!;
    await other.registerAgent(poolId, { name, publicKey: unheldKey(), systemCapabilities: { at: 'elsewhere' } }, id);
    const before = await kept.listAgents(poolId);
    assert.deepEqual([counted.taken(), before[0].capabilities.at], [['lean list'], 'registration'], 'no status change tells of it');
    await clock.advance(fullReadMs);
    const { looked, reads } = await look();
    assert.deepEqual([reads, looked[0].capabilities.at], [['full list'], 'elsewhere']);
  });

  it('starts fresh when told to (a new term of its lease): one read of all', async () => {
    await register(2);
    await look();
    kept.startFresh();
    assert.deepEqual((await look()).reads, ['full list']);
  });
});
