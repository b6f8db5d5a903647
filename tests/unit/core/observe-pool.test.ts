// Reading the pool's state from Azure DevOps: which slots are busy and which queued jobs this runner can take.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jobsSeen, observePool } from '../../../src/core/scale-decision.js';
import type { AgentInfo } from '../../../src/core/model.js';

const agent = (name: string, busyWith?: number, capabilities: Record<string, string> = {}): AgentInfo => ({
  id: 1,
  name,
  status: busyWith === undefined ? 'offline' : 'online',
  enabled: true,
  busyWith,
  capabilities: { 'Agent.Name': name, 'Agent.Version': '4.266.2', ...capabilities },
});

describe('observePool', () => {
  const agents = [agent('linux-0', 11, { java: '/usr/bin/java' }), agent('linux-1', undefined, { java: '/usr/bin/java' }), agent('other-0', 12, { gpu: 'yes' })];

  it('counts only waiting jobs that one of this runner\'s registrations can run', () => {
    const observed = observePool({ runnerName: 'linux', namespace: 'runners' }, agents, [
      { requestId: 1, demands: [] },
      { requestId: 2, demands: ['java'] },
      { requestId: 3, demands: ['gpu'] },
      { requestId: 4, demands: ['Agent.Version -gtVersion 4.200.0'] },
      { requestId: 5, demands: ['Agent.Version -gtVersion 5.0.0'] },
      { requestId: 6, demands: [], reservedAgentName: 'other-0', assignTime: '2026-11-28T00:00:00Z' },
    ]);
    assert.equal(observed.queuedJobs, 3);
    assert.deepEqual(observed.ours.map((a) => a.name), ['linux-0', 'linux-1']);
  });

  it('treats a slot with a job reserved for it as busy before its agent reports it', () => {
    const observed = observePool({ runnerName: 'linux', namespace: 'runners' }, agents, [{ requestId: 7, demands: [], reservedAgentName: 'linux-1', assignTime: '2026-11-28T00:00:00Z' }]);
    assert.deepEqual(observed.busyOrdinals, [0, 1]);
    assert.equal(observed.queuedJobs, 0);
  });

  it('counts a job once when the agents were read after it was assigned: busy, not also queued', () => {
    // The jobs are read, then the agents: a job handed to linux-0 in between is still waiting in the first list and
    // already running in the second. Counted twice, it would add a slot no job ever takes.
    const observed = observePool({ runnerName: 'linux', namespace: 'runners' }, agents, [{ requestId: 11, demands: [] }, { requestId: 12, demands: [] }, { requestId: 13, demands: [] }]);
    assert.deepEqual(observed.busyOrdinals, [0]);
    assert.equal(observed.queuedJobs, 1);
    assert.equal(observed.leftToOthers, 0);
  });

  it('counts nothing when the runner has no registration at all', () => {
    assert.equal(observePool({ runnerName: 'linux', namespace: 'runners' }, [agent('other-0')], [{ requestId: 1, demands: [] }]).queuedJobs, 0);
  });
});

describe('jobsSeen', () => {
  const waiting = [{ requestId: 7, demands: ['java'] }, { requestId: 9, demands: [], reservedAgentName: 'linux-0', assignTime: '2026-12-07T10:00:00Z' }];

  it('is the same for the same jobs in any order, and changes when one is taken, received, added or gone (done: gone)', () => {
    assert.equal(jobsSeen(waiting), jobsSeen([...waiting].reverse()));
    assert.equal(jobsSeen([]), '');
    const changed = [
      [{ ...waiting[0], reservedAgentName: 'other-0' }, waiting[1]],
      [waiting[0], { ...waiting[1], receiveTime: '2026-12-07T10:00:01Z' }],
      [waiting[0], { ...waiting[1], assignTime: '2026-12-07T10:00:02Z' }],
      [...waiting, { requestId: 10, demands: [] }],
      [waiting[1]],
    ];
    for (const jobs of changed) assert.notEqual(jobsSeen(jobs), jobsSeen(waiting), JSON.stringify(jobs));
  });
});
