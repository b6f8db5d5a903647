// Several runners in one pool: each waiting job is counted by exactly one of them, by a rule all compute the same way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assignWaitingJobs, poolRunners } from '../../../src/core/assignment.js';
import { agentSatisfiesDemands } from '../../../src/core/demands.js';
import { decideScale, observePool } from '../../../src/core/scale-decision.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { JobRequest } from '../../../src/core/ports/ado.js';

const agent = (name: string, runner: string, capabilities: Record<string, string> = {}, priority?: number): AgentInfo => ({
  id: name.length, name, status: 'offline', enabled: true,
  capabilities: { RUNNER_NAME: runner, RUNNER_SCALING: 'autoscaler', ...(priority !== undefined && { RUNNER_PRIORITY: String(priority) }), ...capabilities },
});
const job = (requestId: number, demands: string[] = []): JobRequest => ({ requestId, demands });

describe('assignWaitingJobs', () => {
  const plain = [agent('linux-0', 'linux'), agent('linux-1', 'linux')];
  const docker = [agent('docker-0', 'docker', { docker: '/usr/bin/docker' })];

  it('gives a job only one runner can take to that runner, and a plain job to the runner offering least', () => {
    const runners = poolRunners([...plain, ...docker], { name: 'linux', scaled: true });
    const assignment = assignWaitingJobs(runners, [job(1, ['docker']), job(2), job(3, ['gpu'])]);
    assert.equal(assignment.get(1), 'docker');
    assert.equal(assignment.get(2), 'linux');
    assert.equal(assignment.has(3), false, 'no runner can take it');
  });

  it('lets a higher priority win over fewer capabilities, and the name break a tie', () => {
    const preferred = [agent('docker-0', 'docker', { docker: '/usr/bin/docker' }, 5)];
    assert.equal(assignWaitingJobs(poolRunners([...plain, ...preferred], { name: 'linux', scaled: true }), [job(1)]).get(1), 'docker');
    const twins = [agent('a-0', 'a'), agent('b-0', 'b')];
    assert.equal(assignWaitingJobs(poolRunners(twins, { name: 'b', scaled: true }), [job(1)]).get(1), 'a');
  });

  it('gives a plain job to the same runner whether the other runner\'s slots are placeholders or live registrations', () => {
    // A live registration carries its pod's identity (RUNNER_POD_UID, RUNNER_NODE_NAME…); a placeholder carries none.
    // Were those counted, the tie would turn over to the other runner mid-burst as the first runner's pods register.
    const tools = [agent('tools-0', 'tools', { TOOLBOX: 'yes' })];
    const placeholders = [agent('plain-0', 'plain'), agent('plain-1', 'plain')];
    const live = placeholders.map((a, n) => ({ ...a, capabilities: { ...a.capabilities, RUNNER_POD_UID: `uid-${n}`, RUNNER_POD_NAME: a.name, RUNNER_NODE_NAME: 'node-a', RUNNER_NAMESPACE: 'runners', RUNNER_IMAGE: 'runner@sha256:1' } }));
    for (const slots of [placeholders, live]) assert.equal(assignWaitingJobs(poolRunners([...tools, ...slots], { name: 'tools', scaled: true }), [job(1)]).get(1), 'plain');
  });

  it('counts a job reserved for an agent for that agent\'s runner only, as busy', () => {
    const look = observePool({ runnerName: 'docker', namespace: 'runners' }, [...plain, ...docker], [{ requestId: 1, demands: [], reservedAgentName: 'docker-0', assignTime: 'now' }], true);
    assert.deepEqual(look.busyOrdinals, [0]);
    assert.equal(look.queuedJobs, 0);
    assert.equal(observePool({ runnerName: 'linux', namespace: 'runners' }, [...plain, ...docker], [{ requestId: 1, demands: [], reservedAgentName: 'docker-0', assignTime: 'now' }], true).queuedJobs, 0);
  });

  it('leaves no share to a runner with a fixed count: it would grow for no job', () => {
    const fixed = [agent('fixed-0', 'fixed')].map((a) => ({ ...a, capabilities: { ...a.capabilities, RUNNER_SCALING: 'fixed' } }));
    assert.equal(observePool({ runnerName: 'linux', namespace: 'runners' }, [...fixed, ...plain], [job(1)], true).queuedJobs, 1);
    assert.equal(observePool({ runnerName: 'fixed', namespace: 'runners' }, [...fixed, ...plain], [job(1)]).queuedJobs, 0, 'ScaleRunnerPool on it counts only what no autoscaled runner can take');
    assert.equal(observePool({ runnerName: 'fixed', namespace: 'runners' }, [...fixed, ...plain], [job(2, ['only-fixed'])]).queuedJobs, 0);
    const onlyFixed = [{ ...fixed[0], capabilities: { ...fixed[0].capabilities, special: 'yes' } }];
    assert.equal(observePool({ runnerName: 'fixed', namespace: 'runners' }, [...onlyFixed, ...plain], [job(3, ['special'])]).queuedJobs, 1);
  });

  it('says how many jobs it left to another runner', () => {
    const look = observePool({ runnerName: 'docker', namespace: 'runners' }, [...plain, ...docker], [job(1), job(2), job(3, ['docker'])], true);
    assert.equal(look.queuedJobs, 1);
    assert.equal(look.leftToOthers, 2);
  });

  it('counts no job whose demand cannot be read and says why, instead of failing the look of every job', () => {
    const jobs = [job(1, ['x -lessThan 3', 'java']), job(2), job(3, ['docker'])];
    const look = observePool({ runnerName: 'linux', namespace: 'runners' }, [...plain, ...docker], jobs, true);
    assert.equal(look.queuedJobs, 1);
    assert.deepEqual(look.unreadable, ['job 1: Unsupported demand operator -lessThan in "x -lessThan 3".']);
    assert.equal(observePool({ runnerName: 'docker', namespace: 'runners' }, [...plain, ...docker], jobs, true).queuedJobs, 1);
    assert.equal(assignWaitingJobs(poolRunners([...plain, ...docker], { name: 'linux', scaled: true }), jobs).has(1), false);
    const decision = decideScale({ mode: 'queue', limits: { minReplicas: 0, maxReplicas: 5, standby: 0 } }, { currentReplicas: 1, ...look });
    assert.equal(decision.replicas, 1);
    assert.equal(decision.reason, '0 busy + 1 queued + 0 standby = 1 ' +
      '(1 waiting job not counted: a demand this runner cannot read, e.g. job 1: Unsupported demand operator -lessThan in "x -lessThan 3".); no change');
  });

  // Generated pools: runners with capabilities from a small vocabulary, jobs demanding some of them.
  const vocabulary = ['docker', 'java', 'gpu', 'node'];
  const capabilitySet = fc.subarray(vocabulary).map((names) => Object.fromEntries(names.map((name) => [name, 'yes'])));
  const pool = fc.record({
    runners: fc.uniqueArray(fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd', 'e'), capabilities: capabilitySet, priority: fc.integer({ min: 0, max: 2 }), slots: fc.integer({ min: 1, max: 3 }), busyWith: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }) }), { selector: (r) => r.name, minLength: 1, maxLength: 4 }),
    jobs: fc.array(fc.subarray(vocabulary, { maxLength: 2 }), { maxLength: 30 }),
  }).map(({ runners, jobs }) => ({
    // Slot 0 may be running a job the list of jobs still shows waiting: the two are read one after the other.
    agents: runners.flatMap((r) => Array.from({ length: r.slots }, (_, n) => ({ ...agent(`${r.name}-${n}`, r.name, r.capabilities, r.priority), busyWith: n === 0 ? r.busyWith : undefined }))),
    runnerNames: runners.map((r) => r.name),
    jobs: jobs.map((demands, i) => job(i + 1, demands)),
  }));

  it('counts every waiting job some runner can take exactly once, whichever runner computes it', () => {
    fc.assert(fc.property(pool, ({ agents, runnerNames, jobs }) => {
      const running = new Set(agents.map((a) => a.busyWith));
      const takeable = jobs.filter((j) => !running.has(j.requestId) && agents.some((a) => agentSatisfiesDemands(a.capabilities, j.demands))).length;
      const counts = runnerNames.map((name) => observePool({ runnerName: name, namespace: 'runners' }, agents, jobs, true).queuedJobs);
      assert.equal(counts.reduce((sum, n) => sum + n, 0), takeable);
      // Every runner computes the same assignment from the same look at the pool.
      const assignments = runnerNames.map((name) => [...assignWaitingJobs(poolRunners(agents, { name, scaled: true }), jobs)].sort().join());
      assert.equal(new Set(assignments).size, 1);
    }));
  });

  it('never counts a job for a runner none of whose agents can take it', () => {
    fc.assert(fc.property(pool, ({ agents, jobs }) => {
      for (const [requestId, runner] of assignWaitingJobs(poolRunners(agents, { name: 'a', scaled: true }), jobs)) {
        const demands = jobs.find((j) => j.requestId === requestId)!.demands;
        assert.ok(agents.some((a) => a.capabilities.RUNNER_NAME === runner && agentSatisfiesDemands(a.capabilities, demands)));
      }
    }));
  });
});
