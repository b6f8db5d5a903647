// Which agents' capabilities the autoscaler reads again (src/core/capability-reads.ts): only registrations that changed
// since they were read, one by one while that costs fewer TSTUs than one read of all, by the emulator's own model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { capabilityReads, changedRegistrations, forget, fullReadMs, lookReadsCapabilities, newCapabilityMemory, remember } from '../../../src/core/capability-reads.js';
import { tstuCost } from '../../../emulator/src/rate-limit.js';
import type { AgentInfo } from '../../../src/core/model.js';

const agent = (id: number, statusChangedOn: string | undefined, capabilities: Record<string, string> = { RUNNER_NAMESPACE: 'runners' }): AgentInfo =>
  ({ id, name: `runner-${id}`, status: 'online', enabled: true, capabilities, ...(statusChangedOn !== undefined && { statusChangedOn }) });
const pool = (size: number, at = 'T1') => Array.from({ length: size }, (_, i) => agent(i + 1, at));

describe('the capabilities the autoscaler reads again', () => {
  it('reads them all with the first look, then only for a new agent or a changed status', () => {
    const memory = newCapabilityMemory();
    assert.equal(lookReadsCapabilities(memory, 0), true, 'nothing known yet');
    remember(memory, pool(5), { at: 0 });
    assert.equal(memory.burst, false, 'the first read is no burst');
    assert.equal(lookReadsCapabilities(memory, 5000), false);
    const looked = [...pool(5).slice(0, 3), agent(4, 'T2'), agent(5, 'T1'), agent(6, 'T2')];
    // The look leaves the capabilities out: what it compares is the id and statusChangedOn.
    assert.deepEqual(changedRegistrations(looked.map((a) => ({ ...a, capabilities: {} })), memory), [4, 6]);
  });

  it('counts as changed an agent the service sends no status date for, and one the autoscaler wrote itself', () => {
    const memory = newCapabilityMemory();
    remember(memory, [agent(1, undefined), agent(2, 'T1')], { at: 0 });
    forget(memory, [2]);
    assert.deepEqual(changedRegistrations([agent(1, undefined), agent(2, 'T1')], memory), [1, 2]);
  });

  it('keeps the newest capabilities a read returned, with the status change they were read after', () => {
    const memory = newCapabilityMemory();
    remember(memory, [agent(1, 'T1')], { at: 0 });
    remember(memory, [agent(1, 'T2', { RUNNER_NAMESPACE: 'elsewhere' })]);
    assert.deepEqual(memory.agents.get(1), { statusChangedOn: 'T2', capabilities: { RUNNER_NAMESPACE: 'elsewhere' } });
    assert.deepEqual(changedRegistrations([agent(1, 'T2')], memory), []);
  });

  it('reads the changed agents one by one exactly while that costs no more TSTUs than one read of all, by the emulator\'s model', () => {
    const oneAgent = tstuCost('GET', '/org/_apis/distributedtask/pools/1/agents/7', { agents: 1, jobRequests: 0 });
    fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (poolSize, changed) => {
      fc.pre(changed <= poolSize);
      const all = tstuCost('GET', '/org/_apis/distributedtask/pools/1/agents', { agents: poolSize, jobRequests: 0 });
      const ids = Array.from({ length: changed }, (_, i) => i);
      assert.equal(capabilityReads(ids, poolSize), changed * oneAgent <= all + 1e-9 ? 'each' : 'all', `${changed} of ${poolSize}`);
    }));
    // In figures: up to 1 + n / 5 agents one by one.
    assert.equal(capabilityReads([1, 2], 5), 'each');
    assert.equal(capabilityReads([1, 2, 3], 5), 'all');
    assert.equal(capabilityReads(Array.from({ length: 21 }, (_, i) => i), 100), 'each');
    assert.equal(capabilityReads(Array.from({ length: 22 }, (_, i) => i), 100), 'all');
  });

  it('reads them with the look while a burst lasts, and at least every 10 minutes', () => {
    const memory = newCapabilityMemory();
    remember(memory, pool(10, 'T1'), { at: 0 });
    // Half the pool changed: the read of all that served them says a burst goes on, so the next look reads them itself.
    remember(memory, [...pool(5, 'T2'), ...pool(10, 'T1').slice(5)], { at: 5000 });
    assert.equal(memory.burst, true);
    assert.equal(lookReadsCapabilities(memory, 10_000), true);
    // The burst is over once a read of all finds few changed.
    remember(memory, [...pool(5, 'T2'), ...pool(10, 'T1').slice(5)], { at: 10_000 });
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
