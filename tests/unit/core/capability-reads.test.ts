// Which agents' capabilities the autoscaler reads again (src/core/capability-reads.ts): only registrations that changed
// since they were read, one by one while few changed, else all at once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { capabilityReads, changedRegistrations, forget, fullReadMs, keepListed, lookReadsCapabilities, maxReadsById, newCapabilityMemory, remember } from '../../../src/core/capability-reads.js';
import { tstuCost } from '../../../emulator/src/rate-limit.js';
import type { AgentInfo } from '../../../src/core/model.js';

const agent = (id: number, statusChangedOn: string | undefined, capabilities: Record<string, string> = { RUNNER_NAMESPACE: 'runners' }): AgentInfo =>
  ({ id, name: `runner-${id}`, status: 'online', enabled: true, capabilities, ...(statusChangedOn !== undefined && { statusChangedOn }) });
/** Two status changes a second apart, as the service dates them. */
const [T1, T2] = ['2026-01-01T10:00:00.000Z', '2026-01-01T10:00:01.000Z'];
const pool = (size: number, at = T1) => Array.from({ length: size }, (_, i) => agent(i + 1, at));

describe('the capabilities the autoscaler reads again', () => {
  it('reads them all with the first look, then only for a new agent or a changed status', () => {
    const memory = newCapabilityMemory();
    assert.equal(lookReadsCapabilities(memory, 0), true, 'nothing known yet');
    remember(memory, pool(5), { at: 0 });
    assert.equal(memory.burst, false, 'the first read is no burst');
    assert.equal(lookReadsCapabilities(memory, 5000), false);
    const looked = [...pool(5).slice(0, 3), agent(4, T2), agent(5, T1), agent(6, T2)];
    // The look leaves the capabilities out: what it compares is the id and statusChangedOn.
    assert.deepEqual(changedRegistrations(looked.map((a) => ({ ...a, capabilities: {} })), memory), [4, 6]);
  });

  it('counts as changed an agent the service sends no status date for, and one the autoscaler wrote itself', () => {
    const memory = newCapabilityMemory();
    remember(memory, [agent(1, undefined), agent(2, T1)], { at: 0 });
    forget(memory, [2]);
    assert.deepEqual(changedRegistrations([agent(1, undefined), agent(2, T1)], memory), [1, 2]);
  });

  it('keeps the newest capabilities a read returned, with the status change they were read after', () => {
    const memory = newCapabilityMemory();
    remember(memory, [agent(1, T1)], { at: 0 });
    remember(memory, [agent(1, T2, { RUNNER_NAMESPACE: 'elsewhere' })]);
    assert.deepEqual(memory.agents.get(1), { statusChangedOn: T2, capabilities: { RUNNER_NAMESPACE: 'elsewhere' } });
    assert.deepEqual(changedRegistrations([agent(1, T2)], memory), []);
  });

  it('reads at most a few changed agents by id, else all at once: a look costs at most one list and those few light calls', () => {
    assert.equal(capabilityReads(Array.from({ length: maxReadsById }, (_, i) => i)), 'each');
    assert.equal(capabilityReads(Array.from({ length: maxReadsById + 1 }, (_, i) => i)), 'all');
    // By the emulator's model a list costs as much without capabilities as with them: each read by id is a call more.
    const list = (agents: number) => tstuCost('GET', '/org/_apis/distributedtask/pools/1/agents', { agents, jobRequests: 0 });
    const byId = tstuCost('GET', '/org/_apis/distributedtask/pools/1/agents/7', { agents: 1, jobRequests: 0 });
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 1000 }), (poolSize, changed) => {
      fc.pre(changed <= poolSize);
      const reads = capabilityReads(Array.from({ length: changed }, (_, i) => i));
      const look = list(poolSize) + (reads === 'each' ? changed * byId : list(poolSize));
      assert.ok(reads === 'all' || look <= list(poolSize) + maxReadsById * byId + 1e-9, `${changed} of ${poolSize}`);
    }));
  });

  it('takes the same instant in another format for no change, and a missing or unreadable date for one', () => {
    const memory = newCapabilityMemory();
    remember(memory, [agent(1, '2026-01-01T10:00:00.000Z'), agent(2, '2026-01-01T10:00:00Z'), agent(3, 'soon')], { at: 0 });
    const looked = [agent(1, '2026-01-01T10:00:00Z'), agent(2, '2026-01-01T10:00:00.001Z'), agent(3, 'soon'), agent(4, undefined)];
    assert.deepEqual(changedRegistrations(looked, memory), [2, 3, 4]);
  });

  it('forgets the agents a look no longer lists', () => {
    const memory = newCapabilityMemory();
    remember(memory, pool(5), { at: 0 });
    keepListed(memory, [agent(2, T1), agent(4, T1), agent(9, T1)]);
    assert.deepEqual([...memory.agents.keys()], [2, 4]);
  });

  it('reads them with the look while a burst lasts, and at least every 10 minutes', () => {
    const memory = newCapabilityMemory();
    remember(memory, pool(10, T1), { at: 0 });
    // Half the pool changed: the read of all that served them says a burst goes on, so the next look reads them itself.
    remember(memory, [...pool(5, T2), ...pool(10, T1).slice(5)], { at: 5000 });
    assert.equal(memory.burst, true);
    assert.equal(lookReadsCapabilities(memory, 10_000), true);
    // The burst is over once a read of all finds few changed.
    remember(memory, [...pool(5, T2), ...pool(10, T1).slice(5)], { at: 10_000 });
    assert.equal(memory.burst, false);
    assert.equal(lookReadsCapabilities(memory, 10_000 + fullReadMs - 1), false);
    assert.equal(lookReadsCapabilities(memory, 10_000 + fullReadMs), true, 'a person\'s user capabilities change no status');
  });

  it('forgets the agents a read of all no longer lists', () => {
    const memory = newCapabilityMemory();
    remember(memory, pool(3), { at: 0 });
    remember(memory, pool(2), { at: 1 });
    assert.deepEqual([...memory.agents.keys()], [1, 2]);
  });
});
