// ScaleRunnerPool's pass over the fake cluster and the emulator: drain, look again, scale, re-enable; the busy floor;
// a job that lands while the pass runs keeps its slot, wherever in the pass it lands.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { namespace, poolName, RunnerWorld, runnerName, type AdoMethod } from '../support/runner-world.js';
import { MemoryHost } from '../support/memory-host.js';
import { slotOrdinal } from '../../src/core/slots.js';
import { busyLabel } from '../../src/core/manifests/index.js';
import { scalePass, type PassState } from '../../src/flows/scale-pass.js';
import { LeadershipLost } from '../../src/flows/leadership.js';
import { KubeApiError } from '../../src/core/ports/kube.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => {
  await emulator.stop();
});

/** A deployed pool of `replicas` online slots, with a job running on each of `busy`. */
async function pool(replicas: number, busy: number[] = [], options: Parameters<typeof RunnerWorld.create>[1] = {}): Promise<RunnerWorld> {
  const world = await RunnerWorld.create(emulator, options);
  await world.deploy({ replicas: String(replicas) });
  for (const ordinal of busy) world.queueJobFor(ordinal);
  return world;
}

/** At each scale call, the slots that run a job or could be handed one: the call may remove none of them. */
function exposedAtScale(world: RunnerWorld): number[][] {
  const seen: number[][] = [];
  world.kube.before('mergePatch', (call) => {
    if (call.kind === 'StatefulSet') seen.push([...world.slots()].filter(([, s]) => s.job !== undefined || (s.enabled && s.online)).map(([o]) => o));
  });
  return seen;
}

const enabledSlots = (world: RunnerWorld) => [...world.slots()].filter(([, s]) => s.enabled).map(([o]) => o);
const livePods = (world: RunnerWorld) => world.pods().filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => slotOrdinal(runnerName, p.metadata.name));

describe('a scaling pass', () => {
  it('drains the slots a scale-down removes before scaling, and keeps every other slot taking jobs', async () => {
    const world = await pool(5);
    const exposed = exposedAtScale(world);
    const decision = await world.scale({ mode: 'fixed', replicas: '2' });
    assert.equal(decision.replicas, 2);
    assert.equal(world.replicas(), 2);
    assert.deepEqual(exposed, [[0, 1]], 'at the scale call only the kept slots could take a job');
    assert.deepEqual(enabledSlots(world), [0, 1]);
    assert.deepEqual(livePods(world), [0, 1]);
    assert.deepEqual(world.cutOff, []);
  });

  it('scales down only the StatefulSet it looked at: status updates meanwhile are no obstacle, another count is', async () => {
    const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: runnerName };
    // The controller updates the status between the pass's look and its scale, and again before each of its next
    // tries, as it does while a burst of pods starts: the resourceVersion keeps moving on.
    const statusOnly = await pool(4);
    let statusUpdates = 0;
    const removeStatus = statusOnly.kube.before('scale', async () => {
      if (statusUpdates < 5) await statusOnly.kube.mergePatch(ref, { status: { observedGeneration: ++statusUpdates } }, 'controller');
    });
    assert.equal((await statusOnly.scale({ mode: 'fixed', replicas: '1' })).replicas, 1);
    assert.equal(statusOnly.replicas(), 1);
    removeStatus();
    // Someone else sets the count meanwhile (a second autoscaler, a person): the scale-down is refused, nothing removed.
    const another = await pool(4);
    let first = true;
    another.kube.before('scale', async () => {
      if (first && !(first = false)) await another.kube.mergePatch(ref, { spec: { replicas: 3 } }, 'someone');
    });
    await assert.rejects(another.scale({ mode: 'fixed', replicas: '1' }), /409|modified/);
    assert.equal(another.replicas(), 3);
  });

  it('never goes below the highest busy slot + 1, and says why', async () => {
    const world = await pool(5, [0, 3]);
    const host = new MemoryHost();
    const decision = await world.scale({ mode: 'fixed', replicas: '1' }, host);
    assert.equal(decision.replicas, 4);
    assert.match(host.log.join('\n'), /scale-down to 1 deferred: slot 3 is busy, so 4 stay until its job ends/);
    assert.deepEqual(livePods(world), [0, 1, 2, 3]);
    assert.deepEqual(enabledSlots(world), [0, 1, 2, 3]);
    assert.deepEqual(world.cutOff, []);
  });

  it('keeps a slot that takes a job between its look and its drain', async () => {
    const world = await pool(4);
    let late: number | undefined;
    world.ado.before('setAgentEnabled', () => {
      late ??= world.queueJobFor(2);
    });
    const callsBefore = world.ado.called.length;
    const decision = await world.scale({ mode: 'fixed', replicas: '1' });
    assert.equal(world.agentOfJob(late!), `${runnerName}-2`);
    assert.equal(decision.replicas, 3, 'the second look saw slot 2 busy');
    assert.deepEqual(livePods(world), [0, 1, 2]);
    assert.deepEqual(enabledSlots(world), [0, 1, 2], 'the drained slots it keeps take jobs again; slot 3 stays drained');
    assert.deepEqual(world.cutOff, []);
    assert.equal(world.ado.called.slice(callsBefore).filter((c) => c === 'listAgents').length, 2, 'it looked twice');
  });

  it('after a drain, scales down no further than it drained, though the second look wants fewer', async () => {
    // Slots 4 and 5 are registered but have no pod: the two jobs only they can run wait, and count for two slots.
    const world = await pool(4);
    for (const ordinal of [4, 5]) world.register(`${runnerName}-${ordinal}`);
    const waiting = [world.queueJobFor(4), world.queueJobFor(5)];
    // The jobs are cancelled while the pass drains slots 2 and 3: the second look wants no slot at all.
    let cancelled = false;
    world.ado.before('setAgentEnabled', () => {
      if (!cancelled && (cancelled = true)) for (const id of waiting) emulator.store.cancelJob(emulator.store.jobs.get(id)!);
    });
    const exposed = exposedAtScale(world);
    const host = new MemoryHost();
    const decision = await world.scale({ mode: 'queue', minReplicas: '0', maxReplicas: '6', removeStaleRegistrations: 'false' }, host);
    assert.ok(cancelled, 'the pass drained');
    assert.equal(decision.replicas, 2, 'slots 0 and 1 were never drained: they stay');
    assert.deepEqual(exposed, [[0, 1]], 'the scale call removed no slot that could be handed a job');
    assert.match(host.log.join('\n'), /scale-down to 0 deferred: slot 1 was not drained \(it takes jobs\), so 2 stay until a later pass drains it/);
    assert.deepEqual(livePods(world), [0, 1]);
    // The next pass drains them, looks again and scales to what it drained.
    assert.equal((await world.scale({ mode: 'queue', minReplicas: '0', maxReplicas: '6', removeStaleRegistrations: 'false' })).replicas, 0);
    assert.deepEqual(world.cutOff, []);
  });

  /**
   * One pass to `replicas` of a pool of 3 whose upkeep before the scale (the autoscaler's) fails with `upkeepError`;
   * `prepare` sets up the world before it.
   */
  async function passWithFailingUpkeep(replicas: number, upkeepError: Error, prepare = (_world: RunnerWorld) => {}) {
    const world = await pool(3);
    prepare(world);
    const host = new MemoryHost();
    const state: PassState = { kube: world.kube, poolId: world.poolId, beforeScale: () => Promise.reject(upkeepError) };
    const options = {
      namespace, runnerName, poolName, organizationUrl: emulator.orgUrl, target: { mode: 'fixed' as const, replicas },
      dryRun: false, removeStaleRegistrations: false, actor: 'ScaleRunnerPool' as const,
    };
    const failure = await scalePass(options, { log: host, ado: world.ado, clock: world.clock }, state).then(() => undefined, (error: unknown) => error);
    return { world, host, failure };
  }

  it('stops at once, writing no count, when the upkeep before the scale finds the lease lost', async () => {
    const { world, failure } = await passWithFailingUpkeep(1, new LeadershipLost());
    assert.ok(failure instanceof LeadershipLost, String(failure));
    assert.equal(world.replicas(), 3);
  });

  it('says the upkeep\'s failure when a later step fails the pass with another', async () => {
    const { host, failure } = await passWithFailingUpkeep(1, new Error('Azure DevOps refused the retirement'), (world) => {
      world.kube.failNext({ verb: 'scale' }, new KubeApiError(500, 'InternalError', 'the API server is away'));
    });
    assert.match(String(failure), /the API server is away/);
    assert.ok(host.warnings.some((line) => /Azure DevOps refused the retirement/.test(line)), host.warnings.join('\n'));
  });

  for (const replicas of [1, 5]) it(`pool of 3 to ${replicas}, its scale write refused: the whole upkeep still ran, disabling first`, async () => {
    const world = await pool(3);
    world.kube.failNext({ verb: 'scale' }, new KubeApiError(500, 'InternalError', 'the API server is away'));
    const parts: string[] = [];
    const state: PassState = { kube: world.kube, poolId: world.poolId, beforeScale: async (_look, _statefulSet, part) => void parts.push(part) };
    const options = {
      namespace, runnerName, poolName, organizationUrl: emulator.orgUrl, target: { mode: 'fixed' as const, replicas },
      dryRun: false, removeStaleRegistrations: false, actor: 'ScaleRunnerPool' as const,
    };
    const failure = await scalePass(options, { log: new MemoryHost(), ado: world.ado, clock: world.clock }, state).then(() => undefined, (error: unknown) => error);
    assert.match(String(failure), /the API server is away/);
    assert.deepEqual(parts, replicas > 3 ? ['disable', 'retire'] : ['all']);
  });

  it('marks busy pods so that node drains and the cluster autoscaler spare them', async () => {
    const world = await pool(3, [1]);
    await world.scale({ mode: 'fixed', replicas: '3' });
    const marks = world.pods().map((p) => [p.metadata.name, p.metadata.labels?.[busyLabel], p.metadata.annotations?.['cluster-autoscaler.kubernetes.io/safe-to-evict']]);
    assert.deepEqual(marks, [
      [`${runnerName}-0`, 'false', 'true'],
      [`${runnerName}-1`, 'true', 'false'],
      [`${runnerName}-2`, 'false', 'true'],
    ]);
  });

  it('starts slots for jobs queued at zero, and they get the jobs', async () => {
    const world = await pool(0);
    for (const ordinal of [0, 1, 2, 3]) world.register(`${runnerName}-${ordinal}`);
    const jobs = [world.queueJob(), world.queueJob(), world.queueJob()];
    const decision = await world.scale({ mode: 'queue', minReplicas: '0', maxReplicas: '10' });
    assert.equal(decision.replicas, 3);
    assert.equal(decision.queuedJobs, 3);
    assert.deepEqual(jobs.map((job) => world.agentOfJob(job)).sort(), [0, 1, 2].map((o) => `${runnerName}-${o}`));
    assert.equal((world.snapshot() as { replicas?: number } | undefined)?.replicas, 3, 'the hub sees the decision');
  });

  it('with a token that may only read the pool, scales without draining and warns', async () => {
    const world = await pool(3, [], { scopes: ['vso.agentpools', 'vso.extension.data_write'] });
    const host = new MemoryHost();
    const decision = await world.scale({ mode: 'fixed', replicas: '1', removeStaleRegistrations: 'false' }, host);
    assert.equal(decision.replicas, 1);
    assert.ok(host.warnings.some((w) => /lacks the scope Agent Pools \(Read & manage\).*cannot drain/s.test(w)), host.warnings.join('\n'));
  });

  it('leaves the agent of a pod on its way out drained, and enables it once its successor runs', async () => {
    const world = await pool(3, [], { kube: { podStopSeconds: 30 } });
    world.agent(`${runnerName}-1`)!.enabled = false;
    const [, leaving] = world.pods();
    assert.ok(await world.kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name: leaving.metadata.name }, leaving.metadata.uid));
    await world.scale({ mode: 'fixed', replicas: '3' });
    assert.deepEqual(enabledSlots(world), [0, 2], 'a job handed to the leaving pod would be cut off');
    await world.clock.advance(30_000);
    await world.scale({ mode: 'fixed', replicas: '3' });
    assert.deepEqual(enabledSlots(world), [0, 1, 2]);
  });

  it('converges while Azure DevOps throttles, and reports the delay', async () => {
    const world = await pool(2);
    await emulator.admin.addFault({ path: 'jobrequests', kind: 'rateLimit', retryAfterSeconds: 2, count: 2 });
    const host = new MemoryHost();
    const decision = await world.scale({ mode: 'queue', minReplicas: '1', maxReplicas: '5' }, host);
    assert.equal(decision.replicas, 1);
    assert.ok(host.warnings.some((w) => /throttled this run: [1-9]\d* s/.test(w)), host.warnings.join('\n'));
  });

  it('as a property: whatever the pool, the target and wherever jobs land during the pass, no job is cut off and exactly the kept slots take jobs', async () => {
    const points: AdoMethod[] = ['listAgents', 'listUnfinishedJobs', 'setAgentEnabled', 'publishSnapshot'];
    const scenario = fc.record({
      replicas: fc.integer({ min: 0, max: 6 }),
      busy: fc.uniqueArray(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
      target: fc.oneof(
        fc.record({ mode: fc.constant('fixed'), replicas: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ mode: fc.constant('queue'), minReplicas: fc.integer({ min: 0, max: 2 }), maxReplicas: fc.integer({ min: 2, max: 7 }), standby: fc.integer({ min: 0, max: 2 }) }),
      ),
      // Jobs that arrive during the pass: before the n-th call of a kind, for one slot or for any.
      arrivals: fc.array(fc.record({ before: fc.constantFrom(...points), nth: fc.integer({ min: 1, max: 3 }), slot: fc.option(fc.integer({ min: 0, max: 5 })) }), { maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ replicas, busy, target, arrivals }) => {
        const world = await pool(replicas, busy.filter((o) => o < replicas));
        const exposed = exposedAtScale(world);
        const counts = new Map<AdoMethod, number>();
        for (const method of points) {
          world.ado.before(method, () => {
            counts.set(method, (counts.get(method) ?? 0) + 1);
            for (const arrival of arrivals) {
              if (arrival.before !== method || arrival.nth !== counts.get(method)) continue;
              // Only a job some registered agent could take: the service refuses any other (an empty pool, any job).
              if (world.slots().size === 0) continue;
              if (arrival.slot === null) world.queueJob();
              else if (world.agent(`${runnerName}-${arrival.slot}`)) world.queueJobFor(arrival.slot);
            }
          });
        }
        const inputs = Object.fromEntries(Object.entries(target).map(([key, value]) => [key, String(value)]));
        const decision = await world.scale(inputs);
        const kept = world.replicas()!;
        assert.equal(decision.replicas, kept);
        assert.deepEqual(world.cutOff, [], 'no pod stopped under a running job');
        for (const slots of exposed) assert.ok(slots.every((o) => o < kept), `the scale to ${kept} removed a slot that could run a job: ${slots}`);
        const busyNow = world.busySlots();
        if (busyNow.length > 0) assert.ok(kept > Math.max(...busyNow), `slot ${Math.max(...busyNow)} is busy, the pool has ${kept}`);
        // Jobs that came after the last look may sit on a kept slot; none sits above it.
        const enabled = enabledSlots(world);
        const registered = [...world.slots().keys()];
        assert.deepEqual(enabled, registered.filter((o) => o < kept), 'exactly the kept slots take jobs');
      }),
      { numRuns: 60, examples: [[{ replicas: 0, busy: [], target: { mode: 'queue', minReplicas: 0, maxReplicas: 2, standby: 0 }, arrivals: [{ before: 'listAgents', nth: 1, slot: null }] }]] },
    );
  });
});
