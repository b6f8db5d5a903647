// The plan of one DeployRunnerPool run (src/core/deploy-plan.ts), as properties over random runners: the refusal of
// taken names changes nothing, no pod is removed while its slot may run a job, and the run's state, planned again,
// plans no further change; with examples for the counts' owners.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { afterDrain, agentsToDrain, drainedWhileLeaving, enableAfterReplacement, outdatedPods, parkedToReplace, planDeploy, planReplacement, type DeployObservation, type DeployPlan } from '../../../src/core/deploy-plan.js';
import type { AgentInfo, RunnerPoolSpec } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import type { PodSummary } from '../../../src/core/pod-status.js';
import { annotations, identityVariables } from '../../../src/core/manifests/pool-labels.js';
import { otherOwner } from '../../../src/core/runner-identity.js';

const runnerName = 'linux';
const namespace = 'runners';
const cluster = 'blue-uid';
const self = { runnerName, namespace, cluster };
const spec: RunnerPoolSpec = {
  namespace, runnerName, cluster, poolName: 'Linux', organizationUrl: 'https://dev.azure.com/contoso', replicas: 2, image: 'registry.example.com/runner:2',
  credential: { kind: 'pat', token: 'pat' }, resources: {}, nodeSelector: {}, tolerations: [], env: {}, dockerMode: 'none', podRecycling: 'restartRules', priority: 0,
};
const autoscaling = { minReplicas: 0, maxReplicas: 5, standby: 0, pollSeconds: 5 };
const objects: KubeObject[] = [{ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: runnerName, namespace } }];

type Identity = 'own' | 'other' | 'none';
interface Slot { pod: 'none' | 'gated' | 'running' | 'deleting'; outdated: boolean; agent: { enabled: boolean; busy: boolean; identity: Identity } | null }

const podOf = (ordinal: number, slot: Slot): PodSummary => ({
  name: `${runnerName}-${ordinal}`, uid: `uid-${ordinal}`, phase: slot.pod === 'gated' ? 'Pending' : 'Running', ready: slot.pod === 'running', restarts: 0,
  revision: slot.outdated ? 'old' : 'new', deleting: slot.pod === 'deleting', ...(slot.pod === 'gated' && { gated: true }),
});
const capabilities: Record<Identity, Record<string, string>> = {
  own: { [identityVariables.cluster]: cluster, [identityVariables.namespace]: namespace },
  other: { [identityVariables.cluster]: 'green-uid', [identityVariables.namespace]: namespace },
  none: {},
};
const agentOf = (ordinal: number, { enabled, busy, identity }: NonNullable<Slot['agent']>): AgentInfo => ({
  id: ordinal + 1, name: `${runnerName}-${ordinal}`, status: 'online', enabled, ...(busy && { busyWith: 100 + ordinal }), capabilities: capabilities[identity],
});
const statefulSet = (replicas: number, owner?: string): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: runnerName, namespace, ...(owner !== undefined && { annotations: { [annotations.replicasOwner]: owner } }) }, spec: { replicas },
});

const slots = fc.array(fc.record({
  pod: fc.constantFrom<Slot['pod']>('none', 'gated', 'running', 'running', 'deleting'),
  outdated: fc.boolean(),
  agent: fc.option(fc.record({ enabled: fc.boolean(), busy: fc.boolean(), identity: fc.constantFrom<Identity>('own', 'own', 'own', 'none', 'other') })),
}), { maxLength: 6 });

/** Any runner a deploy may meet: new or there, autoscaled or not (before and after), with or without Azure DevOps. */
const observations: fc.Arbitrary<DeployObservation> = fc.record({
  replicas: fc.nat(5),
  autoscaled: fc.boolean(),
  restrictEgress: fc.constantFrom(undefined, true, false),
  existing: fc.option(fc.record({ replicas: fc.nat(6), owner: fc.constantFrom(undefined, 'autoscaler', 'ScaleRunnerPool') })),
  leaseFound: fc.boolean(),
  ado: fc.boolean(),
  slots,
}).map(({ replicas, autoscaled, restrictEgress, existing, leaseFound, ado, slots: shapes }) => ({
  pool: { ...spec, replicas, ...(autoscaled && { autoscaler: autoscaling }), ...(restrictEgress !== undefined && { restrictEgress }) },
  objects,
  existing: existing === null ? undefined : statefulSet(existing.replicas, existing.owner),
  // A runner not there yet has no pods, and no Lease was looked for.
  pods: existing === null ? [] : shapes.flatMap((slot, ordinal) => (slot.pod === 'none' ? [] : [podOf(ordinal, slot)])),
  leaseFound: existing !== null && !autoscaled && leaseFound,
  agents: ado ? shapes.flatMap((slot, ordinal) => (slot.agent === null ? [] : [agentOf(ordinal, slot.agent)])) : undefined,
  self,
}));

/** The runner once a plan went through: applied, its autoscaler gone with its Lease and parked pods, the count set. */
function applied(observed: DeployObservation, plan: DeployPlan): DeployObservation {
  const owner = observed.pool.autoscaler !== undefined ? 'autoscaler' : observed.existing?.metadata.annotations?.[annotations.replicasOwner] === 'ScaleRunnerPool' ? 'ScaleRunnerPool' : undefined;
  const replaced = new Set(plan.stopAutoscaler === undefined ? [] : parkedToReplace(runnerName, observed.pods, plan.stopAutoscaler.replaceParkedBelow).map((pod) => pod.name));
  const replicas = plan.pass?.replicas ?? plan.currentReplicas;
  // The StatefulSet removes the pods above the count.
  const pods = observed.pods.filter((pod) => Number(pod.name.slice(runnerName.length + 1)) < replicas)
    .map((pod) => (replaced.has(pod.name) ? { ...pod, uid: `${pod.uid}-next`, gated: undefined, revision: 'new' } : pod));
  return { ...observed, existing: statefulSet(replicas, owner), pods, leaseFound: observed.leaseFound && plan.stopAutoscaler?.outlast !== true };
}

const changes = (plan: DeployPlan) => [plan.apply.length > 0, plan.removeEgress !== undefined, plan.stopAutoscaler !== undefined, plan.pass !== undefined, plan.countStays !== undefined];

describe('planDeploy', () => {
  it('property: refuses slot names another runner registered, and then plans no change at all', () => {
    fc.assert(fc.property(observations, (observed) => {
      const plan = planDeploy(observed);
      const taken = (observed.agents ?? []).some((agent) => otherOwner(self, agent) !== undefined);
      assert.equal(plan.refusal !== undefined, taken);
      if (taken) {
        assert.match(plan.refusal!.message, /^Input 'runnerName': the pool's agent linux-\d belongs to the runner of namespace 'runners' in cluster green-uid/);
        assert.deepEqual(changes(plan), [false, false, false, false, false]);
      } else {
        assert.equal(plan.apply, observed.objects);
      }
    }), { numRuns: 500 });
  });

  it('property: one owner sets the count: the pass only for a pool neither autoscaled nor scaled by ScaleRunnerPool, never lowered blind', () => {
    fc.assert(fc.property(observations, (observed) => {
      const plan = planDeploy(observed);
      if (plan.refusal !== undefined) return;
      const owner = observed.existing?.metadata.annotations?.[annotations.replicasOwner];
      assert.equal(plan.pass === undefined, observed.pool.autoscaler !== undefined || owner === 'ScaleRunnerPool');
      assert.equal(plan.countStays === undefined, plan.pass !== undefined);
      // Without Azure DevOps nothing tells a busy slot: the count is only ever raised.
      if (plan.pass !== undefined && observed.agents === undefined) assert.equal(plan.pass.replicas, Math.max(observed.pool.replicas, plan.currentReplicas));
      if (plan.pass !== undefined && observed.agents !== undefined) assert.equal(plan.pass.replicas, observed.pool.replicas);
      // The agents read may have changed under an autoscaler that acted until it was outlasted.
      if (plan.pass !== undefined) assert.equal(plan.pass.reuseAgents, plan.stopAutoscaler === undefined);
    }), { numRuns: 500 });
  });

  it('property: removes no pod whose slot may run a job: only parked ones, and idle outdated ones whose agent a second look finds drained', () => {
    fc.assert(fc.property(observations, slots, (observed, later) => {
      const plan = planDeploy(observed);
      if (plan.refusal !== undefined) return;
      // A parked pod never ran a container: it holds no agent and no job.
      const parked = plan.stopAutoscaler === undefined ? [] : parkedToReplace(runnerName, observed.pods, plan.stopAutoscaler.replaceParkedBelow);
      for (const pod of parked) assert.ok(pod.gated && !pod.deleting, `${pod.name} is not parked`);
      const outdated = outdatedPods(observed.pods, 'new');
      const replacement = planReplacement(outdated, observed.agents, true);
      const byName = (agents: AgentInfo[] | undefined, pod: PodSummary) => agents?.find((agent) => agent.name === pod.name);
      for (const pod of replacement.drain) assert.equal(byName(observed.agents, pod)?.busyWith, undefined, `${pod.name} is busy`);
      assert.deepEqual([...replacement.kept.map(({ pod }) => pod), ...replacement.drain].sort((a, b) => a.name.localeCompare(b.name)), outdated);
      // The look after the drain: any agent, in any state; the drained ones disabled unless enabled again.
      const drained = agentsToDrain(replacement.drain, observed.agents);
      const now = later.flatMap((slot, ordinal) => (slot.agent === null ? [] : [agentOf(ordinal, slot.agent)]));
      for (const pod of replacement.drain) {
        const agent = byName(now, pod);
        const kept = afterDrain(pod, now, drained);
        assert.equal(kept === undefined, agent === undefined || (agent.busyWith === undefined && !agent.enabled), `${pod.name}: ${kept?.reason ?? 'deleted'}`);
      }
    }), { numRuns: 500 });
  });

  it('property: planned again on the runner it leaves, plans no further change', () => {
    fc.assert(fc.property(observations, (observed) => {
      const plan = planDeploy(observed);
      if (plan.refusal !== undefined) return;
      const next = planDeploy(applied(observed, plan));
      // The autoscaler is gone, with what it parked below the count.
      if (next.stopAutoscaler !== undefined) {
        assert.equal(next.stopAutoscaler.outlast, false);
        assert.deepEqual(parkedToReplace(runnerName, applied(observed, plan).pods, next.stopAutoscaler.replaceParkedBelow), []);
      }
      assert.equal(next.currentReplicas, plan.pass?.replicas ?? plan.currentReplicas);
      assert.equal(next.pass?.replicas ?? next.currentReplicas, next.currentReplicas, 'the count is where the pass left it');
      assert.equal(next.countStays !== undefined, plan.countStays !== undefined);
    }), { numRuns: 500 });
  });

  it('property: enables again after a replacement only agents of slots the pool keeps, none of an autoscaled pool\'s', () => {
    // The StatefulSet is about to remove the pods at or above `replicas`: an agent enabled there could take a job on a
    // pod that is going away.
    fc.assert(fc.property(fc.uniqueArray(fc.nat(7)), fc.nat(6), fc.boolean(), (ordinals, replicas, autoscaled) => {
      const drained = ordinals.map((ordinal) => agentOf(ordinal, { enabled: false, busy: false, identity: 'own' }));
      const enabled = enableAfterReplacement({ runnerName, ...(autoscaled && { autoscaler: autoscaling }) }, drained, replicas);
      const kept = autoscaled ? [] : drained.filter((agent) => Number(agent.name.slice(runnerName.length + 1)) < replicas);
      assert.deepEqual(enabled, kept, `replicas ${replicas}`);
    }), { numRuns: 300 });
    const drained = [0, 1, 2, 3].map((ordinal) => agentOf(ordinal, { enabled: false, busy: false, identity: 'own' }));
    assert.deepEqual(enableAfterReplacement({ runnerName }, drained, 2).map((agent) => agent.name), ['linux-0', 'linux-1']);
  });

  it('property: removes the egress NetworkPolicy only when restrictEgress is false: a default deploy keeps it', () => {
    fc.assert(fc.property(observations, (observed) => {
      const plan = planDeploy(observed);
      if (plan.refusal !== undefined) return;
      assert.equal(plan.removeEgress !== undefined, observed.pool.restrictEgress === false, `restrictEgress ${observed.pool.restrictEgress}`);
    }), { numRuns: 300 });
    const there = { pool: spec, objects, existing: statefulSet(2), pods: [], leaseFound: false, agents: [], self };
    assert.equal(planDeploy(there).removeEgress, undefined, 'restrictEgress unset: the policy stays');
    assert.equal(planDeploy({ ...there, pool: { ...spec, restrictEgress: false } }).removeEgress?.name, 'linux-egress');
  });

  it('property: the outdated pods are those on an older template, not already leaving', () => {
    fc.assert(fc.property(slots, (shapes) => {
      const pods = shapes.flatMap((slot, ordinal) => (slot.pod === 'none' ? [] : [podOf(ordinal, slot)]));
      assert.deepEqual(outdatedPods(pods, 'new'), pods.filter((pod) => pod.revision === 'old' && !pod.deleting));
      assert.deepEqual(outdatedPods(pods, undefined), []);
    }), { numRuns: 300 });
    const leaving = podOf(0, { pod: 'deleting', outdated: true, agent: null });
    assert.deepEqual(outdatedPods([leaving], 'new'), [], 'a pod already leaving is not replaced again');
  });

  it('property: keeps drained, while their old pod leaves, only the disabled agents of slots the pool keeps', () => {
    fc.assert(fc.property(slots, fc.nat(6), (shapes, replicas) => {
      const pods = shapes.flatMap((slot, ordinal) => (slot.pod === 'none' ? [] : [podOf(ordinal, slot)]));
      const agents = shapes.flatMap((slot, ordinal) => (slot.agent === null ? [] : [agentOf(ordinal, slot.agent)]));
      const { pods: leaving, agents: drained } = drainedWhileLeaving(runnerName, agents, pods, replicas);
      const ordinal = (name: string) => Number(name.slice(runnerName.length + 1));
      const expected = agents.filter((agent) => !agent.enabled && ordinal(agent.name) < replicas && pods.some((pod) => pod.deleting && pod.name === agent.name));
      assert.deepEqual(drained, expected);
      assert.deepEqual(leaving.map((pod) => pod.name), expected.map((agent) => agent.name).filter((name) => pods.some((pod) => pod.name === name)));
    }), { numRuns: 300 });
    const pod = podOf(0, { pod: 'deleting', outdated: false, agent: null });
    const enabled = agentOf(0, { enabled: true, busy: false, identity: 'own' });
    assert.deepEqual(drainedWhileLeaving(runnerName, [enabled], [pod], 2), { pods: [], agents: [] }, 'an enabled agent was not drained: nothing keeps it');
  });

  it('leaves the count to the autoscaler or to ScaleRunnerPool, saying so, and warns when it cannot lower it blind', () => {
    const there = { pool: spec, objects, existing: statefulSet(4), pods: [], leaseFound: false, agents: [], self };
    assert.equal(planDeploy({ ...there, pool: { ...spec, autoscaler: autoscaling } }).countStays, 'The replica count stays 4: the in-cluster autoscaler sets it.');
    assert.equal(planDeploy({ ...there, existing: statefulSet(4, 'ScaleRunnerPool') }).countStays,
      'The replica count stays 4: ScaleRunnerPool scales this pool (remove the annotation azure-devops-runner/replicas-owner to hand it back).');
    assert.deepEqual(planDeploy({ ...there, agents: undefined }).pass, {
      replicas: 4, reuseAgents: true, warning: 'The pool stays at 4 replicas, not 2: lowering it needs a PAT to see which agents are busy (credentialType pat).',
    });
    // Autoscaling turned off with the autoscaler's Lease there: it goes, its Deployment first, and is outlasted.
    const stop = planDeploy({ ...there, leaseFound: true }).stopAutoscaler!;
    assert.deepEqual([stop.objects[0].kind, stop.outlast, stop.replaceParkedBelow], ['Deployment', true, 2]);
    assert.equal(planDeploy(there).stopAutoscaler, undefined, 'nothing of an autoscaler left');
  });
});
