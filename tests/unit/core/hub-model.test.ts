// The hub's model: runner agents and snapshot pods merged into slots by pod name, with the counters the page shows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildPoolViews, withJobRequests, type HubAgent, type HubJobRequest } from '../../../src/core/hub-model.js';
import type { PodSummary, PoolSnapshot } from '../../../src/core/model.js';
import { observePool } from '../../../src/core/scale-decision.js';
import { summarizePod } from '../../../src/core/pod-status.js';
import { slotWantedGate } from '../../../src/core/manifests/index.js';

const now = new Date('2026-11-28T10:00:00Z');

function agent(podName: string, overrides: Partial<HubAgent> = {}, runner = 'linux', namespace = 'ci'): HubAgent {
  return {
    id: Number(podName.split('-').pop()) + 100,
    name: podName,
    status: 'online',
    enabled: true,
    poolId: 7,
    poolName: 'Linux Private',
    capabilities: {
      RUNNER_NAME: runner, RUNNER_NAMESPACE: namespace, RUNNER_POD_NAME: podName, RUNNER_POD_UID: `uid-${podName}`,
      RUNNER_NODE_NAME: 'node-a', RUNNER_IMAGE: 'runner:1',
    },
    ...overrides,
  };
}

/** A job request waiting for an agent. */
function waiting(requestId: number, demands: string[] = []): HubJobRequest {
  return { requestId, demands, name: `CI · Job ${requestId}`, url: `https://x/_build/results?buildId=${requestId}` };
}

/** `count` waiting jobs any agent can take, numbered from 1. */
const queue = (count: number) => Array.from({ length: count }, (_, i) => waiting(i + 1));

function pod(name: string, overrides: Partial<PodSummary> = {}): PodSummary {
  return { name, uid: `uid-${name}`, phase: 'Running', ready: true, restarts: 0, node: 'node-b', image: 'runner:2', createdAt: '2026-11-28T09:00:00Z', deleting: false, ...overrides };
}

function snapshot(pods: PodSummary[], replicas: number, overrides: Partial<PoolSnapshot> = {}): PoolSnapshot {
  return {
    id: 'ci.linux', runnerName: 'linux', namespace: 'ci', poolName: 'Linux Private', organizationUrl: 'https://dev.azure.com/contoso',
    publishedAt: '2026-11-28T09:57:00Z', publishedBy: 'ScaleRunnerPool', replicas, pods, ...overrides,
  };
}

describe('buildPoolViews', () => {
  it('merges agents and pods by pod name into slots ordered by ordinal, with counters', () => {
    const agents = [
      agent('linux-10', { status: 'offline' }),
      agent('linux-2', { runningJob: { requestId: 5, name: 'CI · Build', url: 'https://x/_build/results?buildId=5' } }),
      agent('linux-0'),
      agent('linux-1', { enabled: false }),
    ];
    const pods = [pod('linux-0'), pod('linux-1'), pod('linux-2'), pod('linux-3', { phase: 'Pending', ready: false, waitingReason: 'ImagePullBackOff' })];
    const running: HubJobRequest = { ...waiting(5), reservedAgentName: 'linux-2', assignTime: '2026-11-28T09:59:00Z' };
    const [view, ...rest] = buildPoolViews(agents, { 'Linux Private': [running, ...queue(4).reverse()] }, [snapshot(pods, 4)], now);
    assert.equal(rest.length, 0);
    assert.deepEqual(view.slots.map((s) => [s.podName, s.state]), [
      ['linux-0', 'idle'], ['linux-1', 'disabled'], ['linux-2', 'busy'], ['linux-3', 'failing'], ['linux-10', 'offline'],
    ]);
    assert.deepEqual(view.counters, { online: 3, busy: 1, idle: 1, offline: 1, disabled: 1, parked: 0, queued: 4 });
    assert.deepEqual(view.counted, [1, 2, 3, 4].map((id) => ({ requestId: id, name: `CI · Job ${id}`, url: `https://x/_build/results?buildId=${id}` })),
      'the only runner of the pool counts every waiting job, oldest first (the service lists newest first), and not the one running');
    assert.equal(view.slots[4].beyondReplicas, true);
    assert.equal(view.slots[0].beyondReplicas, false);
    // Pod facts win over the agent's registration-time capabilities.
    assert.equal(view.slots[0].node, 'node-b');
    assert.equal(view.slots[0].image, 'runner:2');
    assert.equal(view.slots[4].node, 'node-a');
    assert.equal(view.snapshot?.ageMs, 3 * 60_000);
    assert.equal(view.poolId, 7);
    assert.equal(view.key, 'ci.linux');
  });

  it('shows an agent running its job as busy, though its registration is disabled for the rest of it (single-use)', () => {
    const running = { requestId: 5, name: 'CI · Build', url: 'https://x/_build/results?buildId=5' };
    const [view] = buildPoolViews([agent('linux-0', { enabled: false, runningJob: running }), agent('linux-1', { enabled: false })], {}, [snapshot([pod('linux-0'), pod('linux-1')], 2)], now);
    assert.deepEqual(view.slots.map((s) => s.state), ['busy', 'disabled']);
    assert.equal(view.counters.busy, 1);
    assert.equal(view.counters.disabled, 1);
  });

  it('shows a pod whose agent has not registered as starting, and a slot with neither as missing', () => {
    const [view] = buildPoolViews([], { 'Linux Private': [] }, [snapshot([pod('linux-0', { ready: false, waitingReason: 'ContainerCreating' })], 2)], now);
    assert.deepEqual(view.slots.map((s) => [s.podName, s.state]), [['linux-0', 'starting'], ['linux-1', 'missing']]);
    const [crashing] = buildPoolViews([agent('linux-0', { status: 'offline' })], {}, [snapshot([pod('linux-0', { ready: false, waitingReason: 'CrashLoopBackOff' })], 1)], now);
    assert.equal(crashing.slots[0].state, 'failing');
    assert.deepEqual(view.counters, { online: 0, busy: 0, idle: 0, offline: 0, disabled: 0, parked: 0, queued: 0 });
    assert.deepEqual(view.counted, []);
    assert.equal(view.poolId, undefined);
  });

  it('shows a slot whose pod the autoscaler\'s gate holds as parked, never failing, its placeholder counted neither offline nor disabled', () => {
    const placeholder = (name: string) => agent(name, { status: 'offline', enabled: false, capabilities: { RUNNER_NAME: 'linux', RUNNER_NAMESPACE: 'ci' } });
    const gated = (name: string) => pod(name, { phase: 'Pending', ready: false, node: undefined, gated: true });
    const running = { requestId: 5, name: 'CI · Build' };
    const [view] = buildPoolViews([
      placeholder('linux-0'), agent('linux-1', { enabled: false, runningJob: running }), agent('linux-3'), placeholder('linux-4'),
    ], {}, [snapshot([gated('linux-0'), gated('linux-1'), gated('linux-2'), gated('linux-3'), pod('linux-4')], 5)], now);
    // Slot 1's agent runs a job, slot 3's is online: something else holds their registrations, and that is what to see.
    assert.deepEqual(view.slots.map((s) => [s.podName, s.state]), [
      ['linux-0', 'parked'], ['linux-1', 'busy'], ['linux-2', 'parked'], ['linux-3', 'idle'], ['linux-4', 'disabled'],
    ]);
    assert.deepEqual(view.counters, { online: 2, busy: 1, idle: 1, offline: 1, disabled: 1, parked: 2, queued: undefined });
    // A slot that cannot start says so, gated or not.
    const stuck = { slot: 0, reason: 'quota' as const, kubernetesReason: 'FailedCreate', message: 'exceeded quota' };
    const [held] = buildPoolViews([], {}, [snapshot([gated('linux-0')], 1, { stuckSlots: [stuck] })], now);
    assert.equal(held.slots[0].state, 'failing');
  });

  it('takes a pod\'s gate from its spec: the slot-wanted gate parks it, another controller\'s gate alone does not', () => {
    const of = (schedulingGates?: Array<{ name: string }>) => summarizePod({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'linux-0', uid: 'u' },
      spec: { containers: [], ...(schedulingGates && { schedulingGates }) }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] },
    });
    assert.equal(of([{ name: slotWantedGate }]).gated, true);
    assert.equal(of([{ name: 'example.com/quota' }, { name: slotWantedGate }]).gated, true);
    assert.equal(of([{ name: 'example.com/quota' }]).gated, undefined);
    assert.equal(of([]).gated, undefined, 'its gate lifted');
    assert.equal(of().gated, undefined);
    const [view] = buildPoolViews([], {}, [snapshot([of([{ name: slotWantedGate }]), { ...of([]), name: 'linux-1' }], 2)], now);
    assert.deepEqual(view.slots.map((s) => s.state), ['parked', 'starting']);
  });

  it('flags a registration left by an earlier pod of the same name', () => {
    const [view] = buildPoolViews([agent('linux-0', { status: 'offline' })], {}, [snapshot([pod('linux-0', { uid: 'new' })], 1)], now);
    assert.equal(view.slots[0].staleRegistration, true);
    assert.equal(view.slots[0].state, 'offline');
  });

  it('finds runner pools from agents alone, ignores agents without RUNNER_NAME, and separates runners and namespaces', () => {
    const plain: HubAgent = { ...agent('build-box'), capabilities: { 'Agent.Name': 'build-box' } };
    const views = buildPoolViews([agent('linux-0'), agent('gpu-0', {}, 'gpu'), agent('linux-0', { id: 9 }, 'linux', 'other'), plain], {}, [], now);
    assert.deepEqual(views.map((v) => v.key), ['ci.gpu', 'ci.linux', 'other.linux']);
    assert.ok(views.every((v) => v.snapshot === undefined && v.replicas === undefined && v.slots.length === 1));
  });

  it('prefers the online registration when two share a pod name', () => {
    const [view] = buildPoolViews([agent('linux-0', { id: 1, status: 'offline' }), agent('linux-0', { id: 2 })], {}, [], now);
    assert.equal(view.slots[0].agent?.id, 2);
  });

  it('keeps a pool of zero slots, and sorts pools by pool name; a queue not known yet is undefined', () => {
    const views = buildPoolViews([], { Zeta: queue(2) }, [
      snapshot([], 0, { id: 'ci.z', runnerName: 'z', poolName: 'Zeta' }),
      snapshot([], 0, { id: 'ci.a', runnerName: 'a', poolName: 'Alpha' }),
    ], now);
    assert.deepEqual(views.map((v) => [v.poolName, v.slots.length, v.counters.queued, v.counted]), [['Alpha', 0, undefined, undefined], ['Zeta', 0, 2, []]]);
  });

  it('fills one pool\'s queue when it arrives, keeping every slot list as it was', () => {
    const agents = [agent('linux-0', {})];
    const views = buildPoolViews(agents, {}, [
      snapshot([], 0, { id: 'ci.z', runnerName: 'z', poolName: 'Zeta' }),
    ], now);
    const filled = withJobRequests(views, agents, 'Zeta', queue(7));
    assert.deepEqual(filled.map((v) => [v.poolName, v.counters.queued]), views.map((v) => [v.poolName, v.poolName === 'Zeta' ? 7 : undefined]));
    assert.ok(filled.every((v, i) => v.slots === views[i].slots));
    assert.equal(views.find((v) => v.poolName === 'Zeta')?.counters.queued, undefined);
    const linux = withJobRequests(views, agents, 'Linux Private', queue(3)).find((v) => v.runnerName === 'linux');
    assert.deepEqual(linux?.counted?.map((job) => job.requestId), [1, 2, 3]);
  });

  it('shows per runner of a shared pool the waiting jobs it counts, as each runner\'s scaler counts them', () => {
    const runner = (podName: string, name: string, capabilities: Record<string, string>, overrides: Partial<HubAgent> = {}) => {
      const base = agent(podName, overrides, name);
      return { ...base, capabilities: { ...base.capabilities, ...capabilities } };
    };
    const scaled = { RUNNER_SCALING: 'autoscaler' };
    const agents = [
      runner('small-0', 'small', scaled), runner('small-1', 'small', scaled),
      runner('tools-0', 'tools', { ...scaled, TOOLBOX: 'yes' }),
      // A fixed count takes no share from the autoscaled runners: it only counts what none of them can take.
      runner('fixed-0', 'fixed', { RUNNER_SCALING: 'fixed', gpu: 'yes' }),
      // Another pool's runner could take the same jobs, and takes nothing of this pool's.
      runner('other-0', 'other', scaled, { poolName: 'Other' }),
    ];
    const jobs = [waiting(1), waiting(2, ['TOOLBOX']), waiting(3), waiting(4, ['gpu']), waiting(5, ['docker']),
      { ...waiting(6), reservedAgentName: 'small-0', assignTime: '2026-11-28T09:59:00Z' }];
    const views = buildPoolViews(agents, { 'Linux Private': jobs }, [], now);
    const counted = Object.fromEntries(views.map((view) => [view.runnerName, view.counted?.map((job) => job.requestId)]));
    assert.deepEqual(counted, { small: [1, 3], tools: [2], fixed: [4], other: undefined },
      'a plain job goes to the runner offering least, a TOOLBOX one to the only runner that has it, the GPU one to the fixed runner; no one can take the docker one');
    assert.ok(views.filter((view) => view.poolName === 'Linux Private').every((view) => view.counters.queued === 5), 'the pool-wide queue on every card');
    for (const view of views.filter((v) => v.poolName === 'Linux Private')) {
      const scaler = observePool({ runnerName: view.runnerName, namespace: view.namespace ?? '' }, agents.filter((a) => a.poolName === 'Linux Private'), jobs, view.runnerName !== 'fixed');
      assert.equal(view.counted?.length, scaler.queuedJobs, `${view.runnerName} shows what its scaler counts`);
    }
  });

  it('shows the slots that cannot start on the card, on their rows and next to each waiting job the runner counts', () => {
    const stuckSlots = [
      { slot: 1, reason: 'imagePull' as const, kubernetesReason: 'ImagePullBackOff', message: 'Back-off pulling image "registry.invalid/runner:1"' },
      { slot: 2, reason: 'quota' as const, kubernetesReason: 'FailedCreate', message: 'pods "linux-2" is forbidden: exceeded quota' },
    ];
    // An autoscaled slot keeps a disabled placeholder while its pod cannot start: the pod's trouble is what to see.
    const agents = [agent('linux-0'), agent('linux-1', { status: 'offline', enabled: false })];
    const pods = [pod('linux-0'), pod('linux-1', { phase: 'Pending', ready: false, waitingReason: 'ImagePullBackOff' })];
    const [view] = buildPoolViews(agents, { 'Linux Private': queue(2) }, [snapshot(pods, 3, { stuckSlots })], now);
    assert.deepEqual(view.stuck, stuckSlots);
    assert.deepEqual(view.slots.map((s) => [s.podName, s.state, s.cannotStart?.reason]), [['linux-0', 'idle', undefined], ['linux-1', 'failing', 'imagePull'], ['linux-2', 'failing', 'quota']]);
    assert.deepEqual(view.counted?.map((job) => job.waitsOn), ['slots 1, 2 cannot start (ImagePullBackOff, FailedCreate)', 'slots 1, 2 cannot start (ImagePullBackOff, FailedCreate)']);
    const [healthy] = buildPoolViews(agents, { 'Linux Private': queue(1) }, [snapshot(pods, 3)], now);
    assert.deepEqual([healthy.stuck, healthy.counted?.[0].waitsOn, healthy.slots[2].state], [[], undefined, 'missing']);
  });

  it('never reports a negative snapshot age (clock skew)', () => {
    const [view] = buildPoolViews([], {}, [snapshot([], 0, { publishedAt: '2026-11-28T10:00:05Z' })], now);
    assert.equal(view.snapshot?.ageMs, 0);
  });
});
