// The command line's remove and status over the fake cluster and the emulator: remove drains the pool, waits for the
// jobs running on it (cutting none off), and leaves no object, pod, registration or snapshot of it; it refuses, changing
// nothing, when told not to wait; a Secret the user brought stays. Status shows the pool as the hub does.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { namespace, poolName, RunnerWorld, runnerName } from '../support/runner-world.js';
import { MemoryHost } from '../support/memory-host.js';
import { InputReader, readRemoveOptions, readStatusOptions } from '../../src/core/index.js';
import { PoolBusyError, removeRunnerPool } from '../../src/flows/remove-pool.js';
import { readPoolStatus } from '../../src/flows/pool-status.js';
import { statusTable } from '../../cli/status-table.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => {
  await emulator.stop();
});

const slot = (ordinal: number) => `${runnerName}-${ordinal}`;
const kinds = ['Secret', 'ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy', 'PodDisruptionBudget', 'StatefulSet', 'Deployment', 'Pod', 'ConfigMap'];
const objectsIn = (world: RunnerWorld) => kinds.flatMap((kind) => world.kube.all(kind, namespace).map((object) => `${kind}/${object.metadata.name}`)).sort();

function poolInputs(world: RunnerWorld, inputs: Record<string, string>): MemoryHost {
  return new MemoryHost({ namespace, poolName, runnerName, azureDevOpsUrl: world.emulator.orgUrl, personalAccessToken: world.token, ...inputs });
}

function remove(world: RunnerWorld, inputs: Record<string, string> = {}, log = new MemoryHost()) {
  const options = readRemoveOptions(new InputReader(poolInputs(world, inputs)));
  return removeRunnerPool(options, { log, ado: world.ado, connect: async () => world.kube, clock: world.clock });
}

describe('the command line\'s remove', () => {
  it('leaves no object, pod, registration or hub snapshot of the pool', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2', podRecycling: 'sidecar' });
    assert.ok(world.snapshot() !== undefined && world.slots().size === 2 && objectsIn(world).length > 0);
    const removed = await remove(world);
    assert.deepEqual(objectsIn(world), []);
    assert.deepEqual(world.slots(), new Map());
    assert.equal(world.snapshot(), undefined);
    assert.deepEqual(removed.agents, [slot(0), slot(1)]);
    assert.deepEqual(removed.objects, ['StatefulSet/linux-private', 'PodDisruptionBudget/linux-private-busy', 'NetworkPolicy/linux-private-egress',
      'RoleBinding/linux-private-recycler',
      'Role/linux-private-recycler', 'ServiceAccount/linux-private-recycler', 'Secret/linux-private-registration']);
    assert.deepEqual(await remove(world), { runnerName, objects: [], agents: [] }, 'a second remove finds nothing');
  });

  it('drains the pool and waits for its running job, cutting none off', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    const job = world.queueJobFor(1);
    let late: number | undefined;
    // The job ends 30 s into the removal; a job queued meanwhile finds no agent that takes it.
    world.clock.at(world.clock.now() + 30_000, () => {
      late = world.queueJob();
      world.finishJob(job);
    });
    const log = new MemoryHost();
    await remove(world, {}, log);
    assert.equal((await world.emulator.admin.job(job)).result, 'succeeded');
    assert.deepEqual(world.cutOff, []);
    assert.equal(world.agentOfJob(late!), undefined, 'the drained pool took no new job');
    assert.match(log.log.join('\n'), new RegExp(`Waiting for the job on ${slot(1)} to end`));
    assert.deepEqual(objectsIn(world), []);
    assert.deepEqual(world.slots(), new Map());
  });

  it('drains an agent that registered after its drain began before any pod goes: a job finds no agent, none is cut off', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    // Slot 1's pod has not registered its agent when remove looks; it registers as the drain begins.
    const registerLate = world.unregister(1);
    let registered = false;
    world.ado.before('setAgentEnabled', ([, , enabled]) => {
      if (enabled === false && !registered) {
        registered = true;
        registerLate();
      }
    });
    let enabledAtScale: string[] | undefined;
    let late: number | undefined;
    world.kube.before('scale', () => {
      enabledAtScale = [...world.slots().values()].filter((agent) => agent.enabled).map((agent) => agent.name);
      late = world.queueJobFor(1);
    });
    const removed = await remove(world);
    // The old remove drained from the look before the drain: slot 1 took the job, and its pod went under it.
    assert.deepEqual(enabledAtScale, [], 'every registration drained before the pods went');
    assert.equal(world.agentOfJob(late!), undefined, 'the drained pool took no new job');
    assert.deepEqual(world.cutOff, []);
    assert.deepEqual(removed.agents, [slot(0), slot(1)]);
  });

  it('with waitSeconds 0, refuses a pool that runs a job and changes nothing', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    world.queueJobFor(0);
    const objects = objectsIn(world);
    const calls = world.kube.calls.length;
    await assert.rejects(remove(world, { waitSeconds: '0' }), (error: Error) => error instanceof PoolBusyError && /linux-private-0 runs a job; nothing was removed/.test(error.message));
    assert.deepEqual(objectsIn(world), objects);
    assert.deepEqual(world.kube.calls.slice(calls).filter((call) => call.verb !== 'get' && call.verb !== 'list'), []);
    assert.deepEqual([...world.slots().values()].map((agent) => agent.enabled), [true, true]);
    assert.ok(!world.ado.called.includes('setAgentEnabled'));
  });

  it('gives up after waitSeconds with the pool drained, and a second remove finishes once the job has ended', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '1' });
    const job = world.queueJobFor(0);
    await assert.rejects(remove(world, { waitSeconds: '20' }), /linux-private-0 still runs a job after 20 s\. The pool is drained/);
    assert.ok(world.kube.peek('StatefulSet', namespace, runnerName), 'the pool is still there');
    assert.equal(world.slots().get(0)!.enabled, false);
    assert.deepEqual(world.cutOff, []);
    world.finishJob(job);
    await remove(world);
    assert.deepEqual(objectsIn(world), []);
  });

  // Something re-enables slot 1 before every look (a leftover autoscaler, a disable the service accepts but does not
  // apply). Remove gives up after waitSeconds naming it, and drains it again only after a sleep. The hook stops a
  // spinning remove after 50 disables, so that the old loop fails instead of hanging.
  async function removeWithStubbornAgent(world: RunnerWorld, waitSeconds: string) {
    const events: string[] = [];
    world.ado.before('listAgents', () => {
      const agent = world.agent(slot(1));
      if (agent !== undefined) agent.enabled = true;
    });
    world.ado.before('setAgentEnabled', ([, , enabled]) => {
      if (enabled !== false) return;
      events.push('disable');
      if (events.filter((event) => event === 'disable').length >= 50) throw new Error('spins: 50 disables');
    });
    const sleep = world.clock.sleep.bind(world.clock);
    world.clock.sleep = async (ms: number) => {
      events.push(`sleep ${ms}`);
      return sleep(ms);
    };
    const started = world.clock.now();
    const outcome = await remove(world, { waitSeconds }).then(() => 'returned', (error: Error) => error);
    return { outcome, events, elapsed: world.clock.now() - started };
  }

  it('gives up after waitSeconds, naming it, on an agent that something keeps enabling; drains it again only after a sleep', { timeout: 20_000 }, async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    world.queueJobFor(0);
    const { outcome, events, elapsed } = await removeWithStubbornAgent(world, '1');
    assert.ok(outcome instanceof PoolBusyError, String(outcome));
    assert.match(outcome.message, new RegExp(`^${slot(1)} is still enabled after 1 s \\(and ${slot(0)} still runs a job after 1 s\\): something enables it again`));
    assert.deepEqual(events, ['disable', 'disable', 'sleep 5000'], 'both drained once, then a sleep, then the time is spent');
    assert.ok(elapsed >= 1000);
    assert.ok(world.kube.peek('StatefulSet', namespace, runnerName), 'the pool is still there');
    assert.deepEqual(world.cutOff, []);
  });

  it('with waitSeconds 0 on an idle pool, drains once and gives up on an agent that something keeps enabling', { timeout: 20_000 }, async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    const { outcome, events } = await removeWithStubbornAgent(world, '0');
    assert.ok(outcome instanceof PoolBusyError, String(outcome));
    assert.match(outcome.message, new RegExp(`^${slot(1)} is still enabled after 0 s: something enables it again`));
    assert.deepEqual(events, ['disable', 'disable']);
    assert.ok(world.kube.peek('StatefulSet', namespace, runnerName), 'the pool is still there');
  });

  it('drains again, after a sleep, an agent whose disable did not show at once, then removes the pool', { timeout: 20_000 }, async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    // The next two looks after the first disable still show slot 1 enabled (a lagging read).
    let lagging = 0;
    let disables = 0;
    world.ado.before('setAgentEnabled', ([, , enabled]) => {
      if (enabled === false && disables++ === 0) lagging = 2;
    });
    world.ado.before('listAgents', () => {
      if (lagging === 0) return;
      lagging--;
      world.agent(slot(1))!.enabled = true;
    });
    const log = new MemoryHost();
    const removed = await remove(world, {}, log);
    assert.deepEqual(removed.agents, [slot(0), slot(1)]);
    assert.deepEqual(objectsIn(world), []);
    assert.match(log.log.join('\n'), new RegExp(`${slot(1)} is enabled again after its disable: disabling it again after a pause`));
  });

  it('removes the in-cluster autoscaler before it touches any agent, so that nothing enables or scales the pool again', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ autoscaling: 'inCluster', maxReplicas: '3', rolloutStatusTimeout: '0' });
    world.register(slot(0));
    const deployment = () => world.kube.peek('Deployment', namespace, `${runnerName}-autoscaler`);
    assert.ok(deployment());
    let autoscalerAtDrain: unknown = 'not drained';
    world.ado.before('setAgentEnabled', () => {
      autoscalerAtDrain = deployment();
    });
    const removed = await remove(world);
    assert.equal(autoscalerAtDrain, undefined);
    assert.equal(removed.objects[0], `Deployment/${runnerName}-autoscaler`);
    assert.deepEqual(objectsIn(world), []);
  });

  it('leaves the Secret the user brought, even under the name it would have made itself', async () => {
    const world = await RunnerWorld.create(emulator);
    const secret = `${runnerName}-registration`;
    await world.kube.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: secret, namespace }, stringData: { token: 'theirs' } }, { fieldManager: 'user' });
    await world.deploy({ replicas: '1', credentialType: 'existingSecret', existingSecretName: secret });
    await remove(world);
    assert.deepEqual(objectsIn(world), [`Secret/${secret}`]);
  });

  it('names a pool that does not exist, before changing anything', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '1' });
    await assert.rejects(remove(world, { poolName: 'Nope', runnerName }), /Input 'poolName': the agent pool 'Nope' does not exist/);
    assert.ok(world.kube.peek('StatefulSet', namespace, runnerName));
  });
});

describe('the command line\'s status', () => {
  it('shows each slot with its agent, its job and its pod, and the queue, as the hub does', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    // As a runner pod's agent reports them: the identity the hub groups a runner's agents by.
    for (const ordinal of [0, 1]) Object.assign(world.agent(slot(ordinal))!.systemCapabilities, { RUNNER_NAME: runnerName, RUNNER_NAMESPACE: namespace, RUNNER_POD_NAME: slot(ordinal) });
    const running = world.queueJobFor(1);
    world.queueJobFor(1);
    const options = readStatusOptions(new InputReader(poolInputs(world, {})));
    const { view, replicasOwner, autoscaler } = await readPoolStatus(options, { ado: world.ado, connect: async () => world.kube, clock: world.clock, log: new MemoryHost() });
    assert.deepEqual(view.slots.map((s) => [s.podName, s.state, s.podPhase, s.ready]), [[slot(0), 'idle', 'Running', true], [slot(1), 'busy', 'Running', true]]);
    assert.equal(view.slots[1].agent?.runningJob?.requestId, running);
    assert.deepEqual({ ...view.counters }, { online: 2, busy: 1, idle: 1, offline: 0, disabled: 0, parked: 0, queued: 1 });
    assert.equal(view.replicas, 2);
    assert.equal(replicasOwner, undefined);
    assert.equal(autoscaler, undefined);
  });

  it('shows the slots an autoscaled pool holds gated as parked, not starting, and says Kubernetes\' word for it', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '4', rolloutStatusTimeout: '0' });
    // Two slots, as by a scale-up whose jobs went elsewhere: their pods wait gated.
    await world.kube.scale({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: runnerName }, 2, 'tests');
    const options = readStatusOptions(new InputReader(poolInputs(world, {})));
    const status = await readPoolStatus(options, { ado: world.ado, connect: async () => world.kube, clock: world.clock, log: new MemoryHost() });
    assert.deepEqual(status.view.slots.map((s) => [s.podName, s.state, s.podPhase, s.node]), [[slot(0), 'parked', 'Pending', undefined], [slot(1), 'parked', 'Pending', undefined]]);
    assert.deepEqual(status.view.stuck, [], 'held on purpose, not stuck');
    assert.equal(status.view.counters.parked, 2);
    const text = statusTable(status, new Date(world.clock.now()));
    assert.match(text, /Parked 2/);
    assert.match(text, new RegExp(`${slot(1)} +Parked +not registered +Pending, not ready \\(SchedulingGated\\)`));
  });

  it('names a runner that is not there', async () => {
    const world = await RunnerWorld.create(emulator);
    const options = readStatusOptions(new InputReader(poolInputs(world, { runnerName: 'absent' })));
    await assert.rejects(readPoolStatus(options, { ado: world.ado, connect: async () => world.kube, clock: world.clock, log: new MemoryHost() }), /Input 'runnerName': there is no runner pool 'absent' in namespace 'runners'/);
  });
});
