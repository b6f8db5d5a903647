// The plan of the command line's remove (src/core/remove-plan.ts), as properties over random pools shared with other
// runners: the pods go only after a look that finds the runner's agents drained and idle, only registrations carrying
// the runner's identity are deleted, a refusal changes nothing, and remove run to its end leaves nothing to remove.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { planRemove, registrationsToDelete, removeStep, type RemoveLook, type RemoveObservation } from '../../../src/core/remove-plan.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import type { JobRequest } from '../../../src/core/ports/ado.js';
import { identityVariables } from '../../../src/core/manifests/pool-labels.js';

const runnerName = 'linux';
const namespace = 'runners';
const granted = new Set([1001, 1002, 1003]);
const self = { runnerName, namespace, cluster: 'blue-uid', granted };

/** Whose a registration is: this runner's (with its identity, from before identities, or granted by its autoscaler whatever it claims), or another's. */
type Owner = 'own' | 'before-identities' | 'granted' | 'other-cluster' | 'other-namespace' | 'other-runner';
const theirs: Record<Owner, boolean> = { own: true, 'before-identities': true, granted: true, 'other-cluster': false, 'other-namespace': false, 'other-runner': false };
const claims: Record<Owner, Record<string, string>> = {
  own: { [identityVariables.cluster]: 'blue-uid', [identityVariables.namespace]: namespace },
  'before-identities': {},
  granted: { [identityVariables.cluster]: 'green-uid', [identityVariables.namespace]: 'elsewhere' },
  'other-cluster': { [identityVariables.cluster]: 'green-uid', [identityVariables.namespace]: namespace },
  'other-namespace': { [identityVariables.cluster]: 'blue-uid', [identityVariables.namespace]: 'elsewhere' },
  'other-runner': { [identityVariables.cluster]: 'blue-uid', [identityVariables.namespace]: namespace },
};
interface AgentShape { owner: Owner; enabled: boolean; busy: boolean; reserved: boolean }
const agentOf = (index: number, { owner, enabled, busy }: AgentShape): AgentInfo => ({
  id: owner === 'granted' ? 1001 + (index % 3) : index + 1, name: owner === 'other-runner' ? `windows-${index}` : `${runnerName}-${index}`, status: 'online', enabled,
  ...(busy && { busyWith: 100 + index }), capabilities: claims[owner],
});
const ownedBy = (agent: AgentInfo, owners: Map<number, Owner>) => theirs[owners.get(agent.id)!];

const objectOf = (kind: string, name: string): KubeObject => ({ apiVersion: 'v1', kind, metadata: { name, namespace } });
const everyObject = [objectOf('Secret', `${runnerName}-registration`), objectOf('ServiceAccount', `${runnerName}-recycler`), objectOf('StatefulSet', runnerName), objectOf('Deployment', `${runnerName}-autoscaler`)];

interface Pool { observed: RemoveObservation; owners: Map<number, Owner> }
const pools: fc.Arbitrary<Pool> = fc.record({
  agents: fc.uniqueArray(fc.record({
    index: fc.nat(5),
    shape: fc.record({ owner: fc.constantFrom<Owner>('own', 'own', 'before-identities', 'granted', 'other-cluster', 'other-namespace', 'other-runner'), enabled: fc.boolean(), busy: fc.boolean(), reserved: fc.boolean() }),
  }), { selector: ({ index, shape }) => (shape.owner === 'granted' ? 1001 + (index % 3) : index), maxLength: 6 }),
  objects: fc.subarray(everyObject),
  waitSeconds: fc.constantFrom(0, 60),
}).map(({ agents, objects, waitSeconds }) => {
  const list = agents.map(({ index, shape }) => agentOf(index, shape));
  // A job reserved for an agent that does not report it yet makes its slot busy too.
  const jobs = agents.flatMap(({ shape }, i): JobRequest[] => (shape.reserved ? [{ requestId: 500 + i, reservedAgentName: list[i].name, demands: [] }] : []));
  const owners = new Map(agents.map(({ shape }, i) => [list[i].id, shape.owner]));
  return { observed: { self, poolName: 'Linux', objects, look: { agents: list, jobs }, waitSeconds }, owners };
});

/** Whether a look shows one of the runner's agents that may run a job, or take one. */
const mayRunJob = (look: RemoveLook, owners: Map<number, Owner>) => look.agents.some((agent) => ownedBy(agent, owners)
  && (agent.enabled || agent.busyWith !== undefined || look.jobs.some((job) => job.reservedAgentName === agent.name)));

/**
 * How the world answers remove: the ids whose disable does not stick (something enables them again before every
 * look), and after how many sleeps the jobs waited for end (never: Infinity). The clock moves by `pollMs` a sleep.
 */
interface World { stubborn: ReadonlySet<number>; jobsEndAfter: number; budgetMs: number }
const pollMs = 5000;
const friendly: World = { stubborn: new Set(), jobsEndAfter: 1, budgetMs: 60_000 };

/** Remove run to its end, as the flow runs it: each step on a fresh look, the time spent counted; at most 100 steps. */
function runToEnd({ observed, owners }: Pool, world: World = friendly): { steps: string[]; look: RemoveLook; last: ReturnType<typeof removeStep>; redrainedWithoutSleep: number[] } {
  let look = { ...observed.look, agents: observed.look.agents.map((agent) => (world.stubborn.has(agent.id) ? { ...agent, enabled: true } : agent)) };
  const steps: string[] = [];
  const drained = { ever: new Set<number>(), sinceSleep: new Set<number>() };
  const redrainedWithoutSleep: number[] = [];
  let elapsed = 0;
  let sleeps = 0;
  for (let i = 0; i < 100; i++) {
    const step = removeStep(self, look, world.budgetMs - elapsed, observed.waitSeconds, drained);
    steps.push(step.kind);
    if (step.kind === 'pods-go' || step.kind === 'give-up') return { steps, look, last: step, redrainedWithoutSleep };
    if (step.kind === 'drain') {
      for (const agent of step.agents) {
        if (drained.sinceSleep.has(agent.id)) redrainedWithoutSleep.push(agent.id);
        drained.ever.add(agent.id);
        drained.sinceSleep.add(agent.id);
      }
    } else {
      elapsed += pollMs;
      sleeps++;
      drained.sinceSleep.clear();
    }
    const off = new Set(step.kind === 'drain' ? step.agents.map((agent) => agent.id) : []);
    const jobsEnd = step.kind === 'wait' && sleeps >= world.jobsEndAfter;
    const idle = (name: string) => jobsEnd && look.agents.some((agent) => agent.name === name && ownedBy(agent, owners));
    look = {
      agents: look.agents.map((agent) => ({
        ...agent,
        ...(off.has(agent.id) && { enabled: false }),
        ...(world.stubborn.has(agent.id) && { enabled: true }),
        ...(idle(agent.name) && { busyWith: undefined }),
      })),
      jobs: look.jobs.filter((job) => !idle(job.reservedAgentName ?? '')),
    };
  }
  throw new Error(`remove did not end within 100 steps: ${steps.join(' ')}`);
}

describe('planRemove', () => {
  it('property: the pods go only after a look that finds each of the runner\'s agents drained and idle, and each drain is followed by a look', () => {
    fc.assert(fc.property(pools, fc.integer({ min: -5000, max: 60_000 }), (pool, msLeft) => {
      const { look, waitSeconds } = pool.observed;
      const step = removeStep(self, look, msLeft, waitSeconds);
      assert.equal(step.kind === 'pods-go', !mayRunJob(look, pool.owners), step.kind);
      if (step.kind === 'drain') for (const agent of step.agents) assert.ok(ownedBy(agent, pool.owners) && agent.enabled, `${agent.name} is not the runner's to drain`);
      if (step.kind === 'give-up') assert.ok(msLeft <= 0);
      const { steps } = runToEnd(pool);
      assert.ok(steps.at(-1) === 'pods-go', steps.join(' '));
      assert.ok(steps.filter((kind) => kind === 'drain').length <= 1, `drains what it drained again: ${steps.join(' ')}`);
    }), { numRuns: 500 });
  });

  it('property: deletes only registrations carrying the runner\'s own identity (name, namespace, cluster), or granted by its autoscaler', () => {
    fc.assert(fc.property(pools, ({ observed, owners }) => {
      const deleted = new Set(registrationsToDelete(self, observed.look).map((agent) => agent.id));
      for (const agent of observed.look.agents) assert.equal(deleted.has(agent.id), ownedBy(agent, owners), `${agent.name} (${owners.get(agent.id)})`);
    }), { numRuns: 500 });
  });

  it('property: a refusal changes nothing; a plan removes the autoscaler first and the other objects in the reverse of their apply order', () => {
    fc.assert(fc.property(pools, ({ observed, owners }) => {
      const plan = planRemove(observed);
      const ours = observed.look.agents.some((agent) => ownedBy(agent, owners));
      const busy = observed.look.agents.some((agent) => ownedBy(agent, owners) && (agent.busyWith !== undefined || observed.look.jobs.some((job) => job.reservedAgentName === agent.name)));
      assert.equal(plan.nothing !== undefined, observed.objects.length === 0 && !ours);
      assert.equal(plan.refusal !== undefined, plan.nothing === undefined && busy && observed.waitSeconds === 0);
      if (plan.nothing !== undefined || plan.refusal !== undefined) {
        assert.deepEqual([plan.autoscaler, plan.scaleToNone, plan.objects], [undefined, undefined, []]);
        return;
      }
      const deployment = observed.objects.find((object) => object.kind === 'Deployment');
      assert.equal(plan.autoscaler?.deployment, deployment);
      assert.equal(plan.scaleToNone, observed.objects.find((object) => object.kind === 'StatefulSet'));
      assert.deepEqual(plan.objects, observed.objects.filter((object) => object !== deployment).reverse());
    }), { numRuns: 500 });
  });

  it('property: run to its end, it leaves nothing to remove', () => {
    fc.assert(fc.property(pools, (pool) => {
      const plan = planRemove(pool.observed);
      if (plan.nothing !== undefined || plan.refusal !== undefined) return;
      const { look } = runToEnd(pool);
      const gone = new Set(registrationsToDelete(self, look).map((agent) => agent.id));
      const after = { agents: look.agents.filter((agent) => !gone.has(agent.id)), jobs: look.jobs };
      const again = planRemove({ ...pool.observed, objects: [], look: after });
      assert.equal(again.nothing, `Nothing to remove: no object of runner 'linux' in namespace 'runners' and no registration of it in pool 'Linux'.`);
      assert.deepEqual(registrationsToDelete(self, after), []);
    }), { numRuns: 500 });
  });

  it('property: ends within the time given whatever the world does: an agent that keeps being enabled is drained again only after a sleep, then named when remove gives up', () => {
    fc.assert(fc.property(pools, fc.integer({ min: 0, max: 6 }), fc.constantFrom(0, 1, 3, Infinity), fc.integer({ min: 0, max: 30_000 }), (pool, stubbornMask, jobsEndAfter, budgetMs) => {
      const ids = pool.observed.look.agents.map((agent) => agent.id);
      const stubborn = new Set(ids.filter((_, i) => (stubbornMask >> i) & 1));
      const { steps, last, redrainedWithoutSleep } = runToEnd(pool, { stubborn, jobsEndAfter, budgetMs });
      assert.deepEqual(redrainedWithoutSleep, [], `drained again without a sleep: ${steps.join(' ')}`);
      const waits = steps.filter((kind) => kind === 'wait').length;
      assert.ok(waits <= Math.ceil(budgetMs / pollMs), `waited past the time given: ${steps.join(' ')}`);
      const keptEnabled = pool.observed.look.agents.filter((agent) => stubborn.has(agent.id) && ownedBy(agent, pool.owners));
      if (keptEnabled.length > 0) {
        assert.equal(last.kind, 'give-up', steps.join(' '));
        for (const agent of keptEnabled) assert.match((last as { message: string }).message, new RegExp(`${agent.name}\\b.*still enabled after`));
      }
      if (last.kind === 'give-up') assert.ok(waits * pollMs >= budgetMs, `gave up with time left: ${steps.join(' ')}`);
    }), { numRuns: 500 });
  });

  it('drains once even with no time left, then gives up on an agent enabled again; with time left, waits a poll interval before draining it again', () => {
    const agent = agentOf(1, { owner: 'own', enabled: true, busy: false, reserved: false });
    const look = { agents: [agent], jobs: [] };
    assert.equal(removeStep(self, look, 0, 0).kind, 'drain');
    const drainedOnce = { ever: new Set([agent.id]), sinceSleep: new Set([agent.id]) };
    assert.match((removeStep(self, look, 0, 0, drainedOnce) as { message: string }).message, /^linux-1 is still enabled after 0 s: something enables it again after remove disables it/);
    assert.deepEqual(removeStep(self, look, 9_000, 10, drainedOnce), { kind: 'wait', busy: [], enabledAgain: ['linux-1'], message: 'linux-1 is enabled again after its disable: disabling it again after a pause (at most 9 s more).' });
    assert.equal(removeStep(self, look, 4_000, 10, { ...drainedOnce, sinceSleep: new Set() }).kind, 'drain');
  });

  it('says which jobs it waits for and how long, and gives up once the time is spent', () => {
    const busy = (index: number) => agentOf(index, { owner: 'own', enabled: false, busy: true, reserved: false });
    const look = { agents: [busy(0), busy(2)], jobs: [] };
    assert.deepEqual(removeStep(self, look, 12_300, 60), { kind: 'wait', busy: ['linux-0', 'linux-2'], enabledAgain: [], message: 'Waiting for the jobs on linux-0, linux-2 to end (at most 13 s more).' });
    assert.equal(removeStep(self, { ...look, agents: [busy(1)] }, 0, 20).kind, 'give-up');
    assert.match((removeStep(self, { ...look, agents: [busy(1)] }, 0, 20) as { message: string }).message, /^linux-1 still runs a job after 20 s\. The pool is drained/);
    assert.equal(planRemove({ self, poolName: 'Linux', objects: [], look, waitSeconds: 0 }).refusal,
      'linux-0, linux-2 run jobs; nothing was removed. Remove the pool once they end, or give waitSeconds to wait for them.');
  });
});
