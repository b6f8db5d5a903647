// Slots that cannot start, from recorded pod states and events (src/core/slot-start.ts), and what the scaling pass
// does with them: the decision says so and holds the pool's size, a Warning Event on the StatefulSet tells it once per
// cause (again only minutes later), the snapshot carries it to the hub, and `status` prints it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stuckSlots, type SlotStartLook } from '../../src/core/slot-start.js';
import { scalePass, type PassOptions, type PassState } from '../../src/flows/scale-pass.js';
import { readPoolStatus } from '../../src/flows/pool-status.js';
import { InputReader, readStatusOptions, type KubeObject, type PoolSnapshot } from '../../src/core/index.js';
import { KubeApiError } from '../../src/core/ports/kube.js';
import { statusTable } from '../../cli/status-table.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { namespace, poolName, RunnerWorld, runnerName } from '../support/runner-world.js';
import { MemoryHost } from '../support/memory-host.js';
import { crashLoopBackOff, errImagePull, imagePullBackOff, podCreated, quotaRefusal, runnerPod, schedulingGated, unschedulable } from '../support/stuck-pods.js';

const now = Date.parse('2026-01-01T00:10:00Z');
const look = (pods: KubeObject[], events: KubeObject[] = [], registered: string[] = []): SlotStartLook =>
  ({ runnerName: 'linux', replicas: 6, statefulSetUid: 'uid-linux', pods, events, registeredPods: new Set(registered), now });

describe('slots that cannot start, recognised', () => {
  it('names each cause with Kubernetes\' words: image pull, unschedulable, a refused create, a crash before registration', () => {
    const stuck = stuckSlots(look([
      runnerPod('linux', 0, imagePullBackOff),
      runnerPod('linux', 1, errImagePull),
      runnerPod('linux', 2, unschedulable),
      runnerPod('linux', 4, crashLoopBackOff('linux-4', 'uid-linux-4')),
    ], [quotaRefusal('linux', 3, '2026-01-01T00:09:30Z')]));
    assert.deepEqual(stuck.map(({ slot, reason, kubernetesReason }) => [slot, reason, kubernetesReason]), [
      [0, 'imagePull', 'ImagePullBackOff'],
      [1, 'imagePull', 'ErrImagePull'],
      [2, 'unschedulable', 'Unschedulable'],
      [3, 'quota', 'FailedCreate'],
      [4, 'crashBeforeRegistration', 'CrashLoopBackOff'],
    ]);
    assert.match(stuck[0].message, /^Back-off pulling image "registry\.invalid\/runner:1": ErrImagePull: .*no such host$/);
    assert.equal(stuck[2].message, '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
    assert.match(stuck[3].message, /pods "linux-3" is forbidden: exceeded quota: runner-quota/);
  });

  it('leaves alone what starts or was meant to wait: a registered agent\'s crash, a scheduling gate, a stale or foreign refusal, slots above the count', () => {
    const stuck = stuckSlots(look([
      runnerPod('linux', 0, crashLoopBackOff('linux-0', 'uid-linux-0')),
      runnerPod('linux', 1, schedulingGated),
      runnerPod('linux', 7, imagePullBackOff),
      runnerPod('other', 2, imagePullBackOff),
    ], [
      quotaRefusal('linux', 3, '2026-01-01T00:09:30Z', 'uid-of-an-earlier-statefulset'),
      quotaRefusal('linux', 4, '2025-12-31T23:40:00Z'),
      quotaRefusal('linux', 0, '2026-01-01T00:09:30Z'),
      // Look-alikes anyone allowed to create events could write: no StatefulSet UID, or not the controller's.
      withEvent(quotaRefusal('linux', 5, '2026-01-01T00:09:30Z'), { involvedObject: { kind: 'StatefulSet', namespace: 'runners', name: 'linux' } }),
      withEvent(quotaRefusal('linux', 2, '2026-01-01T00:09:30Z'), { source: { component: 'kubectl' }, reportingComponent: 'kubectl' }),
    ], ['uid-linux-0']));
    assert.deepEqual(stuck, []);
  });

  it('holds a refusal only while it is newer than the slot\'s last pod: the controller\'s create of it, or an earlier look that saw it', () => {
    const refused = quotaRefusal('linux', 3, '2026-01-01T00:09:30Z');
    const stuck = (events: KubeObject[], seen?: Array<[number, string]>) =>
      stuckSlots({ ...look([], [refused, ...events]), seen: seen && new Map(seen.map(([slot, at]) => [slot, Date.parse(at)])) }).map((slot) => slot.slot);
    assert.deepEqual(stuck([]), [3]);
    assert.deepEqual(stuck([podCreated('linux', 3, '2026-01-01T00:09:40Z')]), [], 'created after the refusal: the quota let it start');
    assert.deepEqual(stuck([podCreated('linux', 3, '2026-01-01T00:09:20Z')]), [3], 'refused after its last pod');
    assert.deepEqual(stuck([podCreated('linux', 2, '2026-01-01T00:09:40Z')]), [3], 'another slot\'s pod says nothing about slot 3');
    assert.deepEqual(stuck([withEvent(podCreated('linux', 3, '2026-01-01T00:09:40Z'), { source: { component: 'kubectl' }, reportingComponent: 'kubectl' })]), [3], 'a look-alike of the controller\'s record');
    assert.deepEqual(stuck([], [[3, '2026-01-01T00:09:45.500Z']]), [], 'an earlier look saw its pod after the refusal');
    assert.deepEqual(stuck([], [[3, '2026-01-01T00:09:29.999Z']]), [3]);
    // Event times are whole seconds: within the same second the pod counts as the newer.
    assert.deepEqual(stuck([podCreated('linux', 3, '2026-01-01T00:09:30Z')]), []);
    assert.deepEqual(stuck([], [[3, '2026-01-01T00:09:30.700Z']]), []);
    assert.deepEqual(stuck([withEvent(podCreated('linux', 3, '2026-01-01T00:09:30Z'), { lastTimestamp: null, eventTime: '2026-01-01T00:09:30.100000Z' })]), []);
  });

  it('keeps Kubernetes\' message one printable line, without logging commands or a URL\'s credentials', () => {
    const hostile = { ...imagePullBackOff, containerStatuses: [{ name: 'agent', restartCount: 0, state: { waiting: { reason: 'ErrImagePull',
      message: 'pull "https://bot:s3cret@registry.example/v2/x?token=abc123&n=1" failed\n##vso[task.setvariable variable=x]y\r\u001b[31mred' } } }] };
    const [{ message }] = stuckSlots(look([runnerPod('linux', 0, hostile)]));
    assert.equal(message, 'pull "https://***@registry.example/v2/x?token=***&n=1" failed **vso[task.setvariable variable=x]y [31mred');
  });
});

function withEvent(event: KubeObject, fields: Record<string, unknown>): KubeObject {
  return { ...event, ...fields };
}

describe('a scaling pass with slots that cannot start', () => {
  let emulator: TestEmulator;
  before(async () => {
    emulator = await startEmulator();
  });
  after(() => emulator.stop());

  /** A pool at zero whose slots are registered (offline): jobs queue for it; pods start as `status` says. */
  async function stuckPool(): Promise<{ world: RunnerWorld; pass: () => ReturnType<typeof scalePass>; host: MemoryHost; state: PassState }> {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '0' });
    for (let ordinal = 0; ordinal < 8; ordinal++) world.register(`${runnerName}-${ordinal}`);
    const options: PassOptions = {
      namespace, runnerName, poolName, organizationUrl: emulator.orgUrl, target: { mode: 'queue', limits: { minReplicas: 0, maxReplicas: 8, standby: 0 } },
      dryRun: false, removeStaleRegistrations: false, actor: 'ScaleRunnerPool',
    };
    const host = new MemoryHost();
    const state: PassState = { kube: world.kube, poolId: world.poolId };
    return { world, host, state, pass: () => scalePass(options, { log: host, ado: world.ado, clock: world.clock }, state) };
  }

  /** A pool a quota holds at one pod, scaled to two for two jobs: slot 1's create is refused. */
  async function quotaPool(): ReturnType<typeof stuckPool> {
    const pool = await stuckPool();
    pool.world.kube.limitPods(namespace, 1);
    pool.world.queueJob();
    pool.world.queueJob();
    await pool.pass();
    return pool;
  }

  const events = (world: RunnerWorld) => world.kube.all('Event', namespace).filter((event) => event.reason === 'SlotCannotStart');

  it('says which slot cannot start and why, and grows the pool no further for its image', async () => {
    const { world, pass } = await stuckPool();
    world.kube.startPodsAs(imagePullBackOff);
    world.queueJob();
    world.queueJob();
    assert.equal((await pass()).decision.replicas, 2, 'the first pods are started: nothing is known against them yet');
    world.queueJob();
    world.queueJob();
    const { decision, stuck } = await pass();
    assert.deepEqual(stuck.map((slot) => [slot.slot, slot.reason]), [[0, 'imagePull'], [1, 'imagePull']]);
    assert.equal(decision.replicas, 2);
    assert.equal(world.replicas(), 2, 'no pod is added that would wait too');
    assert.match(decision.reason, /^0 busy \+ 4 queued \+ 0 standby = 4; slot 0 cannot start: ImagePullBackOff \(Back-off pulling image "registry\.invalid\/runner:1": .*\), nor can slot 1; scale-up to 4 held at 2: a new slot would not start either$/);
    // The image is fixed: the slots start, and the pool grows for the queue again.
    world.kube.startPodsAs(undefined);
    for (const pod of world.pods()) world.kube.completePod(namespace, pod.metadata.name);
    const fixed = await pass();
    assert.deepEqual(fixed.stuck, []);
    assert.equal(fixed.decision.replicas, 4);
  });

  it('reads the StatefulSet\'s events only when a slot has no pod, and tells a quota\'s refusal', async () => {
    const { world, pass } = await quotaPool();
    const eventReads = () => world.kube.calls.filter((call) => call.verb === 'list' && call.kind === 'Event').length;
    assert.equal(eventReads(), 0, 'every slot had its pod');
    world.queueJob();
    const { decision, stuck } = await pass();
    assert.equal(eventReads(), 1);
    assert.deepEqual(stuck.map((slot) => [slot.slot, slot.reason, slot.kubernetesReason]), [[1, 'quota', 'FailedCreate']]);
    assert.equal(decision.replicas, 2);
    assert.match(decision.reason, /slot 1 cannot start: FailedCreate \(create Pod linux-private-1 in StatefulSet linux-private failed error: pods "linux-private-1" is forbidden: exceeded quota: runner-quota, requested: pods=1, used: pods=1, limited: pods=1\); scale-up to 3 held at 2/);
  });

  it('lets a slot that is briefly missing between two of its pods grow the pool: an older refusal holds nothing', async () => {
    const { world, pass } = await quotaPool();
    assert.deepEqual((await pass()).stuck.map((slot) => [slot.slot, slot.reason]), [[1, 'quota']]);
    await world.clock.sleep(10_000);
    // The quota is raised: slot 1 starts and takes the waiting job.
    world.kube.limitPods(namespace, undefined);
    await world.clock.sleep(10_000);
    assert.deepEqual((await pass()).stuck, []);
    const slot1 = `${runnerName}-1`;
    const created = () => world.kube.all('Event', namespace).filter((event) => event.reason === 'SuccessfulCreate' && (event.message as string).includes(` ${slot1} `));
    assert.equal(created().length, 1, 'the controller recorded its create');
    const missing = async () => {
      // Its job ends with its pod; the controller makes the next pod a moment later, and a look falls in between.
      world.finishJob(world.slots().get(1)!.job!, 2);
      world.queueJob();
      world.queueJob();
      const { stuck, decision } = await pass();
      await world.clock.sleep(5000);
      return { stuck, grows: decision.replicas > decision.previousReplicas };
    };
    assert.deepEqual(await missing(), { stuck: [], grows: true }, 'the controller created the slot\'s pod after the refusal');
    // Without the controller's record (events expire), this pass's own earlier look saw the slot's pod.
    for (const event of created()) await world.kube.delete({ apiVersion: 'v1', kind: 'Event', namespace, name: event.metadata.name });
    await pass();
    assert.deepEqual(await missing(), { stuck: [], grows: true }, 'an earlier look saw the slot\'s pod after the refusal');
  });

  it('scales on when the events cannot be read: they only explain, a scaling pass does not depend on them', async () => {
    const { world, pass, host } = await quotaPool();
    // Slot 1 has no pod: the next look reads the events, and the API server fails that one read.
    world.kube.failNext({ verb: 'list', kind: 'Event' }, new KubeApiError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'));
    world.queueJob();
    const { decision } = await pass();
    assert.equal(decision.replicas, 3, 'no refusal is known, so nothing holds the pool');
    assert.match(host.warnings.join('\n'), /Cannot read the events of StatefulSet linux-private.*unable to handle the request/);
  });

  it('warns once when it may not read the events (403), and again only after a read that succeeded', async () => {
    const { world, pass, host } = await quotaPool();
    const forbidden = new KubeApiError(403, 'Forbidden', 'events is forbidden: User "system:serviceaccount:runners:deployer" cannot list resource "events"');
    const refusedPasses = async (count: number) => {
      world.kube.failNext({ verb: 'list', kind: 'Event' }, forbidden, count);
      for (let i = 0; i < count; i++) await pass();
    };
    const warnings = () => host.warnings.filter((warning) => warning.startsWith('Cannot read the events')).length;
    await refusedPasses(3);
    assert.equal(warnings(), 1, 'three passes, one warning');
    assert.match(host.warnings.join('\n'), /grant list on events: configs\/deployer-rbac\.yaml/);
    await pass();
    await refusedPasses(2);
    assert.equal(warnings(), 2, 'refused again after a read that succeeded');
  });

  it('records a Warning Event on the StatefulSet once per cause, again only minutes later', async () => {
    const { world, pass, state } = await stuckPool();
    world.kube.startPodsAs(imagePullBackOff);
    world.queueJob();
    await pass();
    for (let i = 0; i < 5; i++) {
      await pass();
      await world.clock.sleep(5000);
    }
    const told = events(world);
    assert.equal(told.length, 1, 'not every pass');
    const statefulSet = world.kube.peek('StatefulSet', namespace, runnerName)!;
    assert.deepEqual(told[0].involvedObject, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: runnerName, namespace, uid: statefulSet.metadata.uid });
    assert.equal(told[0].type, 'Warning');
    assert.match(told[0].message as string, /^1 slot cannot start, jobs wait: slot 0 cannot start: ImagePullBackOff \(Back-off pulling image "registry\.invalid\/runner:1"/);
    // A new cause is told at once.
    world.kube.startPodsAs(unschedulable);
    world.kube.completePod(namespace, `${runnerName}-0`);
    await pass();
    await pass();
    assert.equal(events(world).length, 2);
    assert.match(events(world)[1].message as string, /^1 slot cannot start, jobs wait: slot 0 cannot start: Unschedulable \(0\/1 nodes are available: 1 Insufficient cpu/);
    await world.clock.sleep(5 * 60_000);
    await pass();
    assert.equal(events(world).length, 3, 'a cause that lasts is told again after five minutes');
    // Once nothing is stuck the next cause is news again.
    world.kube.startPodsAs(undefined);
    for (const pod of world.pods()) world.kube.completePod(namespace, pod.metadata.name);
    await pass();
    assert.equal(state.stuckTold, undefined);
  });

  it('publishes the stuck slots for the hub, and status prints them next to the jobs that wait on them', async () => {
    const { world, pass } = await stuckPool();
    world.kube.startPodsAs(unschedulable);
    const job = world.queueJob();
    await pass();
    await pass();
    const snapshot = world.snapshot() as unknown as PoolSnapshot;
    assert.deepEqual(snapshot.stuckSlots?.map((slot) => [slot.slot, slot.reason, slot.message]), [[0, 'unschedulable', '0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.']]);
    const options = readStatusOptions(new InputReader(new MemoryHost({ namespace, poolName, runnerName, azureDevOpsUrl: emulator.orgUrl, personalAccessToken: world.token })));
    const status = await readPoolStatus(options, { ado: world.ado, connect: async () => world.kube, clock: world.clock, log: new MemoryHost() });
    assert.equal(status.view.slots[0].state, 'failing');
    assert.deepEqual(status.view.counted?.map((counted) => [counted.requestId, counted.waitsOn]), [[job, 'slot 0 cannot start (Unschedulable)']]);
    const text = statusTable(status, new Date(world.clock.now()));
    assert.match(text, /\nSlots that cannot start:\n {2}slot 0 cannot start: Unschedulable \(0\/1 nodes are available: 1 Insufficient cpu\. .*\)\nWaiting jobs this runner counts, waiting on them: .* \(#\d+\)\n/);
    assert.match(text, /linux-private-0 +Pod failing/);
  });
});
