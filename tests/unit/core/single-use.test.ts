// Single-use registrations (src/core/single-use.ts), on examples and as properties over random pools of agents and pods.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { declaredCapabilities, keyHolder, mayEnable, needsNewAgentId, placeholderRegistration, planSingleUse, podsWithLiveAgents, recordedAgentIds } from '../../../src/core/single-use.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';

const runner = { runnerName: 'linux', statefulSetUid: 'sts-uid' };
const agent = (slot: number, holder: string | undefined, extra: Partial<AgentInfo> = {}): AgentInfo => ({
  id: 100 + slot, name: `linux-${slot}`, status: 'offline', enabled: true,
  capabilities: { 'Agent.Name': `linux-${slot}`, docker: '/usr/bin/docker', ...(holder && { RUNNER_POD_UID: holder }) }, ...extra,
});
const pod = (uid: string, phase = 'Running', agentState: Record<string, unknown> = { running: {} }): KubeObject => ({
  metadata: { name: `pod-${uid}`, uid }, status: { phase, containerStatuses: [{ name: 'agent', state: agentState }] },
} as unknown as KubeObject);
/** Slot `slot`'s pod as its StatefulSet made it, granted `agentId` by the autoscaler. */
/** `deleting`: the grace period of a delete already under way. */
const slotPod = (slot: number, uid: string, agentId: number | undefined, extra: { owner?: string; deleting?: number; terminated?: boolean } = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: {
    name: `linux-${slot}`, uid, ...(extra.deleting !== undefined && { deletionTimestamp: '2026-12-06T10:00:00Z', deletionGracePeriodSeconds: extra.deleting }),
    ...(agentId !== undefined && { annotations: { 'azure-devops-runner/agent-id': String(agentId) } }),
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'linux', uid: extra.owner ?? 'sts-uid', controller: true }],
  },
  status: { phase: 'Running', containerStatuses: [{ name: 'agent', state: extra.terminated ? { terminated: { exitCode: 0 } } : { running: {} } }] },
});

/** A runner's StatefulSet, as far as its declared capabilities go. */
const runnerStatefulSet = {
  apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'linux', uid: 'sts-uid' },
  spec: {
    template: {
      spec: {
        containers: [
          {
            name: 'agent',
            env: [
              { name: 'RUNNER_PRIORITY', value: '5' }, { name: 'RUNNER_NAME', value: 'linux' }, { name: 'TOOLS', value: 'make' },
              { name: 'RUNNER_POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
              { name: 'AZP_CLIENT_ID', valueFrom: { secretKeyRef: { name: 'registration', key: 'clientId' } } },
              { name: 'TERM', value: 'xterm' }, { name: 'LARGE', value: 'x'.repeat(1024) },
            ],
          },
          { name: 'recycle', env: [{ name: 'SIDECAR', value: 'yes' }] },
        ],
      },
    },
  },
} as unknown as KubeObject;

describe('single-use registrations', () => {
  it('counts a pod\'s agent as live until its container terminated or the pod finished', () => {
    const live = podsWithLiveAgents([pod('a'), pod('b', 'Pending', { waiting: {} }), pod('c', 'Running', { terminated: { exitCode: 143 } }), pod('d', 'Failed'), pod('e', 'Succeeded')]);
    assert.deepEqual([...live].sort(), ['a', 'b']);
  });

  it('retires the registrations whose pod\'s agent ended, disables busy ones, leaves placeholders and live ones alone', () => {
    const ours = [agent(0, 'gone'), agent(1, 'live', { busyWith: 7, status: 'online' }), agent(2, undefined, { enabled: false }), agent(3, 'live2'), agent(4, 'ended', { busyWith: 8 })];
    const plan = planSingleUse(runner, ours, [pod('live'), pod('live2')]);
    assert.deepEqual(plan.retire.map((r) => r.agent.name), ['linux-0', 'linux-4']);
    assert.deepEqual(plan.disable.map((a) => a.name), ['linux-1']);
  });

  it('retires a registration that ran its job whatever its session says, and ends only the slot\'s own pod that holds its key', () => {
    // Slot 0's job stopped its start script: its pod runs on. An agent started from its copied key cleared its
    // RUNNER_POD_UID; slot 1's claims slot 2's busy pod. Slot 2 runs its job; slot 3's pod has not had one.
    const ours = [
      agent(0, undefined, { lastCompletedRequestId: 11, status: 'online' }),
      agent(1, 'uid-2', { lastCompletedRequestId: 12, status: 'online' }),
      agent(2, 'uid-2', { busyWith: 13, enabled: false, status: 'online' }),
      agent(3, 'uid-3', { status: 'online' }),
    ];
    const pods = [slotPod(0, 'uid-0', 100), slotPod(1, 'uid-1', 101), slotPod(2, 'uid-2', 102), slotPod(3, 'uid-3', 103)];
    const plan = planSingleUse(runner, ours, pods);
    assert.deepEqual(plan.retire.map(({ agent: a, pod: p }) => [a.name, p]), [['linux-0', { name: 'linux-0', uid: 'uid-0' }], ['linux-1', { name: 'linux-1', uid: 'uid-1' }]]);
    assert.deepEqual(plan.disable, []);
    // Not a pod another owner made under the slot's name, one granted another agent id, one going within 5 s or whose agent ended.
    for (const other of [slotPod(0, 'uid-x', 100, { owner: 'other-sts' }), slotPod(0, 'uid-x', 999), slotPod(0, 'uid-x', undefined), slotPod(0, 'uid-x', 100, { deleting: 5 }), slotPod(0, 'uid-x', 100, { terminated: true })]) {
      assert.equal(planSingleUse(runner, [ours[0]], [other]).retire[0].pod, undefined, JSON.stringify(other.metadata));
    }
    // A scale-down's delete gives the pod its whole grace period, which a stopped start script uses up: ended sooner.
    assert.deepEqual(planSingleUse(runner, [ours[0]], [slotPod(0, 'uid-x', 100, { deleting: 60 })]).retire[0].pod, { name: 'linux-0', uid: 'uid-x' });
  });

  it('enables only a registration a live pod holds before its job', () => {
    const live = new Set(['live']);
    assert.equal(mayEnable(agent(0, 'live'), live), true);
    assert.equal(mayEnable(agent(0, 'gone'), live), false);
    assert.equal(mayEnable(agent(0, undefined), live), false);
    assert.equal(mayEnable(agent(0, 'live', { lastCompletedRequestId: 5 }), live), false);
    assert.equal(mayEnable(agent(0, 'live', { busyWith: 5 }), live), false);
  });

  it('gives a pod a new agent id when the slot\'s registration had a job or is another pod\'s', () => {
    assert.equal(needsNewAgentId(agent(0, undefined), 'p'), false, 'a placeholder is re-keyed');
    assert.equal(needsNewAgentId(agent(0, 'p'), 'p'), false, 'its own, before a job (its agent restarted)');
    assert.equal(needsNewAgentId(agent(0, 'q'), 'p'), true);
    assert.equal(needsNewAgentId(agent(0, undefined, { lastCompletedRequestId: 3 }), 'p'), true, 'whatever its session cleared');
    assert.equal(needsNewAgentId(agent(0, 'p', { busyWith: 3 }), 'p'), true);
  });

  it('builds a placeholder from what it trusts, never from the retired registration\'s session: disabled, the key given, no pod, the runner\'s own identity', () => {
    const key = { exponent: 'AQAB', modulus: 'x'.repeat(344) };
    const self = { runnerName: 'linux', namespace: 'runners', cluster: 'c-1' };
    // An agent started from slot 3's copied key left capabilities that would win a shared pool's jobs.
    const forged = agent(3, 'gone', { capabilities: { ...agent(3, 'gone').capabilities, RUNNER_PRIORITY: '1000', TOOLBOX: 'yes', RUNNER_NAMESPACE: 'elsewhere', RUNNER_CLUSTER: 'forged' } });
    const declared = declaredCapabilities(runnerStatefulSet);
    // Granted by this autoscaler: the capabilities its pod's request had, as registered.
    const granted = new Map([[103, { 'Agent.Name': 'linux-3', docker: '/usr/bin/docker', RUNNER_PRIORITY: '5', RUNNER_POD_UID: 'gone', RUNNER_NAMESPACE: 'runners', RUNNER_CLUSTER: 'c-1' }]]);
    assert.deepEqual(placeholderRegistration(forged, key, self, { granted, declared }), {
      name: 'linux-3', publicKey: key, enabled: false,
      systemCapabilities: { 'Agent.Name': 'linux-3', docker: '/usr/bin/docker', RUNNER_PRIORITY: '5', RUNNER_NAMESPACE: 'runners', RUNNER_CLUSTER: 'c-1' },
    });
    // Granted before it (it restarted): the retired registration's, its RUNNER_* variables the runner's declared ones.
    const reported = { ...forged.capabilities, docker: '/usr/bin/docker' };
    assert.deepEqual(placeholderRegistration({ ...forged, capabilities: reported }, key, self, { granted: new Map(), declared }).systemCapabilities, {
      'Agent.OS': 'Linux', docker: '/usr/bin/docker', TOOLBOX: 'yes', RUNNER_PRIORITY: '5', RUNNER_NAME: 'linux', TOOLS: 'make', 'Agent.Name': 'linux-3', RUNNER_NAMESPACE: 'runners', RUNNER_CLUSTER: 'c-1',
    });
  });

  it('declares the literal variables of the template\'s agent container the agent would report: not a pod\'s own, not a Secret\'s', () => {
    assert.deepEqual(declaredCapabilities(runnerStatefulSet), { RUNNER_PRIORITY: '5', RUNNER_NAME: 'linux', TOOLS: 'make' });
    assert.deepEqual(declaredCapabilities({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'linux' } }), {});
  });

  it('reads the agent ids recorded on the slots\' pods its StatefulSet controls, whatever state they are in', () => {
    const pods = [slotPod(0, 'uid-0', 100), slotPod(1, 'uid-1', 101, { deleting: 5, terminated: true }), slotPod(2, 'uid-2', 102, { owner: 'other-sts' }), slotPod(3, 'uid-3', undefined), pod('x')];
    assert.deepEqual(recordedAgentIds(runner, pods), [100, 101]);
  });

  it('over random pools: nothing that ran its job survives, a live pod\'s registration before its job stays, only the slot\'s own pod holding the key is ended', () => {
    const uids = ['p0', 'p1', 'p2', 'p3', 'p4'];
    const slotArbitrary = fc.record({
      // What the registration's session claims, which may be anything.
      holder: fc.option(fc.constantFrom(...uids), { nil: undefined }),
      busy: fc.boolean(), ranJob: fc.boolean(), enabled: fc.boolean(),
      // The slot's pod, if any: its UID, the agent id it was granted (its own, another, none), its owner, its state.
      pod: fc.option(fc.record({ uid: fc.constantFrom(...uids), granted: fc.constantFrom('own', 'other', 'none'), ownOwner: fc.boolean(), deleting: fc.constantFrom(undefined, 5, 60), terminated: fc.boolean() }), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(slotArbitrary, { maxLength: 8 }), (slots) => {
      const ours = slots.map((s, i) => agent(i, s.holder, { enabled: s.enabled, ...(s.busy && { busyWith: 500 + i }), ...(s.ranJob && { lastCompletedRequestId: 900 + i }) }));
      // One pod per UID at most, as in a cluster.
      const seen = new Set<string>();
      const pods = slots.flatMap((s, i) => {
        if (s.pod === undefined || seen.has(s.pod.uid)) return [];
        seen.add(s.pod.uid);
        const granted = s.pod.granted === 'own' ? 100 + i : s.pod.granted === 'other' ? 999 : undefined;
        return [slotPod(i, s.pod.uid, granted, { owner: s.pod.ownOwner ? 'sts-uid' : 'other', deleting: s.pod.deleting, terminated: s.pod.terminated })];
      });
      const live = podsWithLiveAgents(pods);
      const { retire, disable } = planSingleUse(runner, ours, pods);
      const retired = new Map(retire.map((r) => [r.agent, r.pod]));
      for (const [i, a] of ours.entries()) {
        const holder = keyHolder(a);
        if (a.lastCompletedRequestId !== undefined && a.busyWith === undefined) assert.ok(retired.has(a), `${a.name} ran its job and survives`);
        if (a.lastCompletedRequestId === undefined && holder !== undefined && live.has(holder)) assert.ok(!retired.has(a), `${a.name} is retired before its job`);
        if (retired.has(a) || hadAJob(a)) assert.equal(mayEnable(a, live), false);
        if (disable.includes(a)) assert.ok(a.busyWith !== undefined && a.enabled && !retired.has(a));
        const ended = retired.get(a);
        if (ended !== undefined) {
          const own = pods.find((p) => p.metadata.uid === ended.uid)!;
          assert.equal(own.metadata.name, a.name, 'only the slot\'s own pod');
          assert.equal(own.metadata.annotations?.['azure-devops-runner/agent-id'], String(a.id), 'only the pod granted that agent id');
          const s = slots[i].pod!;
          assert.ok(s.ownOwner && (s.deleting ?? 60) > 5 && !s.terminated, 'only a live pod its StatefulSet owns, not one going within 5 s');
        }
      }
    }));
  });
});

const hadAJob = (a: AgentInfo) => a.busyWith !== undefined || a.lastCompletedRequestId !== undefined;
