// The plan of one scaling pass (src/core/pass-plan.ts), on examples for its rules and as properties over random pools:
// a pass modelled as the flow runs it (plan, drain, look again, plan once more), its writes applied, and planned again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ownerConflict, planPass, type PassObservation, type PassPlan } from '../../../src/core/pass-plan.js';
import type { PoolLook, ScaleTarget } from '../../../src/core/scale-decision.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import { annotations, busyLabel, identityVariables, slotWantedGate } from '../../../src/core/manifests/pool-labels.js';
import { slotOrdinal } from '../../../src/core/slots.js';

const runnerName = 'linux';
const slot = (agent: Pick<AgentInfo, 'name'>) => slotOrdinal(runnerName, agent.name)!;
type PodState = 'gated' | 'running' | 'ended' | 'deleting' | 'draining';
type Mark = 'none' | 'busy' | 'idle';

const pod = (ordinal: number, state: PodState, mark: Mark = 'none'): KubeObject => (({
  apiVersion: 'v1', kind: 'Pod',
  metadata: {
    name: `${runnerName}-${ordinal}`, uid: `uid-${ordinal}`,
    ...(state === 'deleting' && { deletionTimestamp: '2026-12-08T10:00:00Z' }),
    ...(mark !== 'none' && { labels: { [busyLabel]: String(mark === 'busy') } }),
    annotations: { ...(mark !== 'none' && { [annotations.safeToEvict]: String(mark !== 'busy') }), ...(state === 'draining' && { [annotations.draining]: 'true' }) },
  },
  spec: { containers: [], ...(state === 'gated' && { schedulingGates: [{ name: slotWantedGate }] }) },
  status: state === 'gated' ? { phase: 'Pending' }
    : { phase: state === 'ended' ? 'Succeeded' : 'Running', containerStatuses: [{ name: 'agent', state: state === 'ended' ? { terminated: { exitCode: 0 } } : { running: {} } }] },
}));

interface AgentShape { enabled: boolean; online: boolean; busy: boolean; hadJob: boolean; holdsKey: boolean }
const agent = (ordinal: number, { enabled, online, busy, hadJob, holdsKey }: AgentShape): AgentInfo => ({
  id: ordinal + 1, name: `${runnerName}-${ordinal}`, status: online ? 'online' : 'offline', enabled,
  ...(busy && { busyWith: 100 + ordinal }), ...(hadJob && { lastCompletedRequestId: 200 + ordinal }),
  capabilities: holdsKey ? { [identityVariables.podUid]: `uid-${ordinal}` } : {},
});

/** A look as observePool makes it: the busy slots are those whose agent runs a job. */
const lookOf = (ours: AgentInfo[], queuedJobs: number): PoolLook => ({
  busyOrdinals: ours.filter((a) => a.busyWith !== undefined).map(slot).sort((a, b) => a - b), queuedJobs, leftToOthers: 0, ours, jobs: [],
});

const observation = (overrides: Partial<PassObservation> = {}): PassObservation => ({
  runnerName, target: { mode: 'queue', limits: { minReplicas: 0, maxReplicas: 5, standby: 0 } }, actor: 'ScaleRunnerPool', dryRun: false, removeStaleRegistrations: true,
  ado: { poolFound: true }, currentReplicas: 3, owner: undefined, pods: [], look: lookOf([], 0), stuck: [], at: Date.parse('2026-12-08T10:00:00Z'), ...overrides,
});

const targets: fc.Arbitrary<ScaleTarget> = fc.oneof(
  fc.record({ mode: fc.constant('fixed' as const), replicas: fc.nat(6) }),
  fc.tuple(fc.nat(3), fc.nat(6), fc.nat(2)).map(([minReplicas, more, standby]) => ({ mode: 'queue' as const, limits: { minReplicas, maxReplicas: minReplicas + more, standby } })),
);
const agentShape = fc.record({ enabled: fc.boolean(), online: fc.boolean(), busy: fc.boolean(), hadJob: fc.boolean(), holdsKey: fc.boolean() });

/** Any pool a pass may meet (not one whose count it refuses): slot 0 always registered, so deleting stale ones leaves it registered. */
const observations: fc.Arbitrary<PassObservation> = fc.record({
  target: targets,
  actor: fc.constantFrom('ScaleRunnerPool' as const, 'DeployRunnerPool' as const, 'autoscaler' as const),
  owner: fc.constantFrom(undefined, 'autoscaler' as const, 'ScaleRunnerPool' as const),
  ado: fc.constantFrom(undefined, { poolFound: true }, { poolFound: true }, { poolFound: false }),
  removeStaleRegistrations: fc.boolean(),
  currentReplicas: fc.nat(8),
  queuedJobs: fc.nat(6),
  slot0: agentShape,
  agents: fc.array(fc.option(agentShape), { maxLength: 8 }),
  pods: fc.array(fc.option(fc.tuple(fc.constantFrom<PodState>('gated', 'running', 'ended', 'deleting', 'draining'), fc.constantFrom<Mark>('none', 'busy', 'idle'))), { maxLength: 9 }),
}).filter(({ actor, owner }) => ownerConflict(runnerName, actor, owner) === undefined).map(({ slot0, agents, pods, queuedJobs, ado, ...rest }) => {
  const ours = ado?.poolFound ? [agent(0, slot0), ...agents.flatMap((shape, i) => (shape === null ? [] : [agent(i + 1, shape)]))] : [];
  return observation({ ...rest, ado, look: lookOf(ours, ado?.poolFound ? queuedJobs : 0), pods: pods.flatMap((p, i) => (p === null ? [] : [pod(i, ...p)])) });
});

/** The flow's two plans at most: a drain (jobs may land on `landed` slots before it, or Azure DevOps refuse it), then a second look. */
function pass(observed: PassObservation, landed: ReadonlySet<number> = new Set(), refused?: string): { first: PassPlan; final: PassPlan; observed: PassObservation } {
  const first = planPass(observed);
  if (first.disable.length === 0) return { first, final: first, observed };
  if (refused !== undefined) return { first, final: planPass({ ...observed, drain: { refused } }), observed };
  const drained = new Set(first.disable.map((a) => a.id));
  const ours = observed.look.ours.map((a) => ({ ...a, ...(drained.has(a.id) && { enabled: false }), ...(landed.has(slot(a)) && a.busyWith === undefined && { busyWith: 900 + slot(a) }) }));
  const again = { ...observed, look: lookOf(ours, observed.look.queuedJobs) };
  return { first, final: planPass({ ...again, drain: {} }), observed: again };
}

/** The pool once a plan's writes went through (the StatefulSet controller not yet acting on the new count). */
function applied(observed: PassObservation, plan: PassPlan): PassObservation {
  const flags = new Map([...plan.disable.map((a) => [a.id, false] as const), ...plan.enable.map((a) => [a.id, true] as const)]);
  const gone = new Set(plan.stale.map(({ agent: a }) => a.id));
  const ours = observed.look.ours.filter((a) => !gone.has(a.id)).map((a) => ({ ...a, enabled: flags.get(a.id) ?? a.enabled }));
  const marks = new Map(plan.busyMarks.map((m) => [m.pod, m.busy]));
  const started = new Set(plan.gates?.ungate.map((u) => u.uid));
  const pods = observed.pods.map((p) => {
    const busy = marks.get(p.metadata.name);
    const metadata = busy === undefined ? p.metadata : { ...p.metadata, labels: { ...p.metadata.labels, [busyLabel]: String(busy) }, annotations: { ...p.metadata.annotations, [annotations.safeToEvict]: String(!busy) } };
    return { ...p, metadata, ...(started.has(p.metadata.uid!) && { spec: { containers: [] } }) };
  });
  return { ...observed, currentReplicas: plan.decision.replicas, owner: plan.markOwner ? 'ScaleRunnerPool' : observed.owner, look: lookOf(ours, observed.look.queuedJobs), pods, drain: undefined };
}

const floorOf = (busy: number[]) => (busy.length === 0 ? 0 : Math.max(...busy) + 1);
const ids = (agents: Array<Pick<AgentInfo, 'id'>>) => new Set(agents.map((a) => a.id));

describe('planPass', () => {
  it('property: never plans a count below the highest busy slot + 1, also when jobs land on slots before their drain', () => {
    fc.assert(fc.property(observations, fc.uniqueArray(fc.nat(8)), fc.option(fc.constant('403 Forbidden')), (observed, landed, refused) => {
      const { first, final, observed: looked } = pass(observed, new Set(landed), refused ?? undefined);
      for (const [plan, busy] of [[first, observed.look.busyOrdinals], [final, looked.look.busyOrdinals]] as const) {
        if (plan.decision.replicas !== observed.currentReplicas) assert.ok(plan.decision.replicas >= floorOf(busy), plan.decision.reason);
      }
      // After a drain that went through, no slot that still takes jobs is removed either.
      if (final !== first && refused === null) {
        const taking = looked.look.ours.filter((a) => a.enabled).map(slot).filter((s) => s < observed.currentReplicas);
        assert.ok(final.decision.replicas >= floorOf(taking), final.decision.reason);
        assert.deepEqual(final.disable, [], 'a pass drains once');
      }
    }), { numRuns: 500 });
  });

  it('property: never enables an agent of a slot it leaves, drains or deletes, nor one whose pod is leaving', () => {
    fc.assert(fc.property(observations, fc.uniqueArray(fc.nat(8)), (observed, landed) => {
      const { first, final } = pass(observed, new Set(landed));
      for (const plan of [first, final]) {
        const enabled = ids(plan.enable);
        for (const other of [...plan.disable, ...plan.stale.map(({ agent: a }) => a)]) assert.ok(!enabled.has(other.id), `${other.name} both enabled and disabled or deleted`);
        for (const a of plan.enable) {
          assert.ok(slot(a) < plan.decision.replicas, `${a.name} is enabled on a slot the count leaves`);
          const itsPod = observed.pods.find((p) => p.metadata.name === a.name);
          assert.ok(itsPod?.metadata.deletionTimestamp === undefined && itsPod?.metadata.annotations?.[annotations.draining] !== 'true', `${a.name}'s pod is leaving`);
        }
      }
      // What the drain disabled is enabled again only where the pool keeps the slot after all (a job landed above it).
      for (const a of final.enable) if (ids(first.disable).has(a.id)) assert.ok(slot(a) < final.decision.replicas && final.decision.replicas > first.decision.replicas);
    }), { numRuns: 500 });
  });

  it('property: the autoscaler enables only a registration that never had a job, whose key a pod still running holds', () => {
    const autoscaled = observations.map((o) => ({ ...o, actor: 'autoscaler' as const, owner: 'autoscaler' as const }));
    fc.assert(fc.property(autoscaled, fc.uniqueArray(fc.nat(8)), (observed, landed) => {
      const { first, final } = pass(observed, new Set(landed));
      for (const a of [...first.enable, ...final.enable]) {
        assert.ok(a.busyWith === undefined && a.lastCompletedRequestId === undefined, `${a.name} had a job`);
        const holder = observed.pods.find((p) => p.metadata.uid === a.capabilities[identityVariables.podUid]);
        const phase = (holder?.status as { phase?: string } | undefined)?.phase;
        assert.ok(holder !== undefined && phase !== 'Succeeded' && phase !== 'Failed', `${a.name}'s key is held by no pod still running`);
      }
    }), { numRuns: 500 });
  });

  it('property: a dry run plans no drain', () => {
    fc.assert(fc.property(observations, (observed) => assert.deepEqual(planPass({ ...observed, dryRun: true }).disable, [])), { numRuns: 300 });
  });

  it('property: re-planning on the pool the pass leaves plans no further change', () => {
    fc.assert(fc.property(observations, (observed) => {
      const { final, observed: looked } = pass(observed);
      const next = planPass(applied(looked, final));
      assert.ok(next.decision.action !== 'scale_up' && next.decision.action !== 'scale_down', next.decision.reason);
      assert.equal(next.decision.replicas, final.decision.replicas);
      assert.deepEqual(next.disable, []);
      assert.deepEqual(next.enable, []);
      assert.deepEqual(next.stale, []);
      assert.deepEqual(next.busyMarks, []);
      assert.equal(next.markOwner, false);
      assert.deepEqual(next.gates?.ungate ?? [], []);
    }), { numRuns: 500 });
  });

  const idle = { enabled: true, online: true, busy: false, hadJob: false, holdsKey: true };
  const pods4 = [0, 1, 2, 3].map((i) => pod(i, 'running', 'idle'));

  it('an autoscaler whose count is no longer its own plans no count, drain, gate or enable', () => {
    const ours = [agent(0, idle), agent(1, { ...idle, enabled: false }), agent(3, idle)];
    for (const owner of [undefined, 'ScaleRunnerPool' as const]) {
      const plan = planPass(observation({ actor: 'autoscaler', owner, currentReplicas: 4, pods: pods4, look: lookOf(ours, 0) }));
      assert.equal(plan.countIsOurs, false);
      assert.equal(plan.decision.replicas, 4);
      assert.equal(plan.decision.action, 'no_change');
      assert.equal(plan.decision.reason, `the replica count is no longer the autoscaler's (${owner ?? 'DeployRunnerPool'} sets it); no change`);
      assert.deepEqual([plan.disable, plan.enable, plan.gates, plan.slotsWanted, plan.markOwner], [[], [], undefined, undefined, false]);
    }
    // Its own count: no job wants a slot, so it drains the enabled ones to scale down to none.
    assert.deepEqual(planPass(observation({ actor: 'autoscaler', owner: 'autoscaler', currentReplicas: 4, pods: pods4, look: lookOf(ours, 0) })).disable.map((a) => a.name), ['linux-0', 'linux-3']);
  });

  it('after a refused drain: the autoscaler keeps what takes jobs and says why; a task scales without draining; neither enables', () => {
    const ours = [agent(0, idle), agent(1, { ...idle, enabled: false }), agent(2, idle)];
    const observed = observation({ target: { mode: 'fixed', replicas: 1 }, currentReplicas: 3, pods: pods4.slice(0, 3), look: lookOf(ours, 0) });
    assert.deepEqual(planPass(observed).disable.map((a) => a.name), ['linux-2']);
    const task = planPass({ ...observed, drain: { refused: 'no permission' } });
    assert.equal(task.decision.replicas, 1);
    assert.deepEqual([task.disable, task.enable], [[], []]);
    const autoscaler = planPass({ ...observed, actor: 'autoscaler', owner: 'autoscaler', drain: { refused: 'no permission' } });
    assert.equal(autoscaler.decision.replicas, 3);
    assert.match(autoscaler.decision.reason, /slot 2 was not drained .*\(Azure DevOps refused the drain: no permission; the next pass tries again\)$/);
    assert.deepEqual([autoscaler.disable, autoscaler.enable], [[], []]);
    // The drain went through: slot 1 is kept, and takes jobs again.
    assert.deepEqual(planPass({ ...observed, target: { mode: 'fixed', replicas: 2 }, drain: {} }).enable.map((a) => a.name), ['linux-1']);
  });

  it('writes the owner mark only for ScaleRunnerPool on a pool nobody owns, and refuses one the autoscaler owns', () => {
    const mark = (actor: PassObservation['actor'], owner?: 'autoscaler' | 'ScaleRunnerPool') => planPass(observation({ actor, owner })).markOwner;
    assert.equal(mark('ScaleRunnerPool'), true);
    assert.equal(mark('ScaleRunnerPool', 'ScaleRunnerPool'), false);
    assert.equal(mark('DeployRunnerPool'), false);
    assert.equal(mark('autoscaler', 'autoscaler'), false);
    assert.match(ownerConflict(runnerName, 'ScaleRunnerPool', 'autoscaler')!, /^the in-cluster autoscaler scales 'linux'/);
    assert.equal(ownerConflict(runnerName, 'autoscaler', 'autoscaler'), undefined);
  });

  it('deletes the offline registrations above the slots kept, saying why, and marks the pods whose marks are wrong', () => {
    const offline = { ...idle, online: false, enabled: false, holdsKey: false };
    const plan = planPass(observation({ currentReplicas: 2, look: lookOf([agent(0, { ...idle, busy: true }), agent(5, offline), agent(7, offline)], 0), pods: [pod(0, 'running', 'idle'), pod(1, 'running', 'idle'), pod(2, 'deleting')] }));
    assert.deepEqual(plan.stale.map(({ agent: a, reason }) => `${a.name}: ${reason}`), ['linux-5: its slot is above 4', 'linux-7: its slot is above 4']);
    assert.deepEqual(plan.busyMarks, [{ pod: 'linux-0', busy: true }]);
  });
});
