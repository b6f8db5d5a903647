// One Azure DevOps pool served by two runners — two namespaces of one fake cluster standing in for two clusters, each
// with its own identity — over one emulator store, with default names: each scales for the jobs the pool's rule gives
// it, and neither disables, re-keys or deletes the other's agents; `remove` of one leaves the other whole; a
// registration from before identities is adopted; one its autoscaler recorded stays its own whatever its copied key's
// session claims; `remove` goes by what it sees after its drain (review M10).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InputReader, readRemoveOptions } from '../../src/core/index.js';
import { removeRunnerPool } from '../../src/flows/remove-pool.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { namespace, poolName, runnerName, RunnerWorld } from '../support/runner-world.js';
import { defaultRunnerName } from '../../src/core/deploy-options.js';
import { MemoryHost } from '../support/memory-host.js';
import { autoscaleTogether } from '../support/runners-together.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator({ sessionExpiryMs: 24 * 3600_000, lockDurationMs: 24 * 3600_000 });
});
after(() => emulator.stop());

/** Two runners of one pool, in namespaces blue and green of one cluster, to be deployed with default names. */
async function twoRunners(): Promise<{ blue: RunnerWorld; green: RunnerWorld }> {
  const base = await RunnerWorld.create(emulator, { kube: { namespaces: [namespace, 'blue', 'green'], podStartSeconds: 3, podStopSeconds: 2 } });
  return { blue: RunnerWorld.beside(base, { namespace: 'blue' }), green: RunnerWorld.beside(base, { namespace: 'green' }) };
}

/**
 * Every write a runner makes to an agent (disable or enable, re-key, delete), with the namespace the agent carried
 * then: a runner that touched another's agent shows up with the other's namespace.
 */
function recordWrites(runner: RunnerWorld): string[] {
  const touched: string[] = [];
  const note = (what: string, agentId: unknown) => {
    const agent = emulator.store.agents.get(agentId as number);
    if (agent) touched.push(`${what} ${agent.name} of ${agent.systemCapabilities.RUNNER_NAMESPACE ?? 'no namespace'}`);
  };
  runner.ado.before('setAgentEnabled', ([, id]) => note('enable/disable', id));
  runner.ado.before('deleteAgent', ([, id]) => note('delete', id));
  runner.ado.before('registerAgent', ([, , id]) => note('re-key', id));
  return touched;
}

/** Both runners' autoscalers side by side until `done` holds or `seconds` of their time have passed. */
const autoscaleBoth = (runners: RunnerWorld[], done: () => boolean, seconds: number) => autoscaleTogether(runners, done, seconds);

function remove(runner: RunnerWorld, inputs: Record<string, string> = {}) {
  const options = readRemoveOptions(new InputReader(new MemoryHost({ namespace: runner.namespace, poolName, azureDevOpsUrl: emulator.orgUrl, personalAccessToken: runner.token, ...inputs })));
  return removeRunnerPool(options, { log: new MemoryHost(), ado: runner.ado, connect: async () => runner.kube, clock: runner.clock });
}

/** A runner's agents as they are: name, id and enabled flag. */
const agentsOf = (runner: RunnerWorld) => [...runner.slots().values()].map(({ name, enabled }) => ({ name, id: runner.agent(name)!.id, enabled }));

describe('one pool served from two clusters with default names', () => {
  it('each autoscaler scales for the jobs the pool gives it, and never disables, re-keys or deletes the other\'s agents', async () => {
    const { blue, green } = await twoRunners();
    for (const runner of [blue, green]) await runner.deploy({ autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '4', rolloutStatusTimeout: '0' });
    assert.notEqual(blue.runnerName, green.runnerName, 'default names of their own');
    assert.match(blue.runnerName, /^linux-private-[0-9a-z]{5}$/);
    const writes = { blue: recordWrites(blue), green: recordWrites(green) };
    // Each registers its slot 0 (a pool needs a registration before jobs wait for it), then runs jobs: some only the
    // green namespace's agents can take, the others whichever runner the pool's rule picks.
    await autoscaleBoth([blue, green], () => blue.granted.length > 0 && green.granted.length > 0 && blue.replicas() === 0 && green.replicas() === 0, 300);
    assert.ok(blue.granted.length > 0 && green.granted.length > 0, 'both registered');
    const greenOnly = [1, 2].map(() => blue.queueJob(['RUNNER_NAMESPACE -equals green']));
    const any = [1, 2, 3].map(() => blue.queueJob());
    const jobs = [...greenOnly, ...any];
    /** Which agent ran each job: a retired registration is gone once its job ended. */
    const ranOn = new Map<number, string>();
    const logs = await autoscaleBoth([blue, green], () => {
      for (const id of jobs) {
        const runner = [blue, green].find((r) => blue.agentOfJob(id)?.startsWith(`${r.runnerName}-`));
        if (runner !== undefined && !ranOn.has(id)) {
          ranOn.set(id, blue.agentOfJob(id)!);
          blue.clock.at(blue.clock.now() + 10_000, () => runner.finishJob(id));
        }
      }
      return jobs.every((id) => emulator.store.jobs.get(id)?.result === 'succeeded') && blue.replicas() === 0 && green.replicas() === 0;
    }, 900);
    const log = logs.map((host) => [...host.log, ...host.warnings].join('\n')).join('\n---\n');
    assert.ok(jobs.every((id) => emulator.store.jobs.get(id)?.result === 'succeeded'), `every job ran: ${log}`);
    for (const id of greenOnly) assert.match(ranOn.get(id)!, new RegExp(`^${green.runnerName}-`));
    assert.deepEqual([...blue.cutOff, ...green.cutOff], [], 'no job cut off');
    assert.deepEqual(writes.blue.filter((write) => !write.endsWith(' of blue')), [], 'blue touched only its own agents');
    assert.deepEqual(writes.green.filter((write) => !write.endsWith(' of green')), [], 'green touched only its own agents');
    assert.ok(writes.green.some((write) => write.startsWith('delete')), 'green retired its own registrations (the check has something to check)');
  });

  it('remove of one runner leaves the other whole: its agents, its pods, its objects', async () => {
    const { blue, green } = await twoRunners();
    for (const runner of [blue, green]) await runner.deploy({ replicas: '2' });
    const blueBefore = agentsOf(blue);
    assert.equal(blueBefore.length, 2);
    assert.equal(agentsOf(green).length, 2);
    const removed = await remove(green);
    assert.equal(removed.runnerName, green.runnerName);
    assert.deepEqual(agentsOf(green), []);
    assert.deepEqual(agentsOf(blue), blueBefore, 'blue\'s registrations untouched');
    assert.equal(blue.replicas(), 2);
    assert.equal(blue.pods().length, 2);
  });

  it('refuses a runner whose explicit name another namespace\'s runner already registers, before changing anything', async () => {
    const { blue, green } = await twoRunners();
    await blue.deploy({ runnerName: 'linux', replicas: '1' });
    await assert.rejects(green.deploy({ runnerName: 'linux', replicas: '1' }), /Input 'runnerName': the pool's agent linux-0 belongs to the runner of namespace 'blue' in cluster kube-system-uid, and agent names are unique in a pool/);
    assert.equal(green.kube.all('StatefulSet', 'green').length, 0);
    assert.equal(blue.agent('linux-0')!.systemCapabilities.RUNNER_NAMESPACE, 'blue');
  });
  it('an autoscaler leaves a slot\'s name another runner registered first, and says whose it is', async () => {
    const { blue, green } = await twoRunners();
    // Both deployed before either registered: the deploy has nothing to refuse yet.
    for (const runner of [blue, green]) await runner.deploy({ runnerName: 'linux', autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '2', rolloutStatusTimeout: '0' });
    const writes = { blue: recordWrites(blue), green: recordWrites(green) };
    const logs = await autoscaleBoth([blue, green], () => false, 120);
    const holder = blue.agent('linux-0')!.systemCapabilities.RUNNER_NAMESPACE;
    const [winner, loser] = holder === 'blue' ? [0, 1] : [1, 0];
    assert.match(logs[loser].warnings.join('\n'), new RegExp(`Could not register the agent of linux-0 yet: the pool's agent linux-0 belongs to the runner of namespace '${holder}' in cluster kube-system-uid`));
    assert.deepEqual(writes.blue.filter((write) => !write.endsWith(' of blue')), [], 'blue touched only its own agents');
    assert.deepEqual(writes.green.filter((write) => !write.endsWith(' of green')), [], 'green touched only its own agents');
    assert.equal(logs[winner].warnings.some((line) => /belongs to/.test(line)), false);
  });
});

describe('a pod that names another cluster in its request', () => {
  it('registers with its own runner\'s identity, so the slot stays its runner\'s and the next pod re-keys it', async () => {
    const { blue } = await twoRunners();
    await blue.deploy({ autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '2', rolloutStatusTimeout: '0' });
    blue.forgedCapabilities = { RUNNER_CLUSTER: 'forged', RUNNER_NAMESPACE: 'elsewhere' };
    await autoscaleBoth([blue], () => blue.granted.length > 0, 120);
    const slot0 = `${blue.runnerName}-0`;
    const recorded = blue.agent(slot0)!.systemCapabilities;
    assert.equal(recorded.RUNNER_NAMESPACE, 'blue');
    assert.notEqual(recorded.RUNNER_CLUSTER, 'forged');
    assert.equal(recorded.RUNNER_CLUSTER, blue.kube.peek('StatefulSet', 'blue', blue.runnerName)?.metadata.annotations?.['azure-devops-runner/cluster']);
    // The slot's next pods, forged or not, re-key it: no "belongs to another runner" refusal.
    blue.forgedCapabilities = {};
    const job = blue.queueJob([`Agent.Name -equals ${slot0}`]);
    const logs = await autoscaleBoth([blue], () => {
      if (blue.agentOfJob(job) !== undefined && emulator.store.jobs.get(job)?.result === undefined) blue.finishJob(job);
      return emulator.store.jobs.get(job)?.result === 'succeeded' && blue.granted.filter((name) => name === slot0).length >= 2;
    }, 300);
    assert.equal(emulator.store.jobs.get(job)?.result, 'succeeded', logs[0].warnings.join('\n'));
    assert.equal(logs[0].warnings.some((line) => /belongs to/.test(line)), false, logs[0].warnings.join('\n'));
  });
});

/**
 * Blue's slot 0, kept warm and granted by its autoscaler (its pod records the agent id), runs a job that copies its
 * agent's key and stops the start script: the job ends, the pod runs on, and an agent started from the copies opens a
 * session that names another namespace. The autoscaler has not looked since.
 */
async function recordedButClaimedElsewhere(): Promise<{ blue: RunnerWorld; slot0: string; agentId: number; inputs: Record<string, string> }> {
  const { blue } = await twoRunners();
  const inputs = { autoscaling: 'inCluster', minReplicas: '1', maxReplicas: '2', rolloutStatusTimeout: '0' };
  await blue.deploy(inputs);
  await autoscaleBoth([blue], () => blue.slots().get(0)?.online === true && blue.slots().get(0)?.enabled === true, 120);
  const slot0 = `${blue.runnerName}-0`;
  const job = blue.queueJobFor(0);
  assert.equal(blue.agentOfJob(job), slot0);
  blue.finishJobLeavingPod(job);
  const grant = blue.grants.at(-1)!;
  const session = await blue.stolenKeySession(grant, { ...blue.agent(slot0)!.systemCapabilities, RUNNER_NAMESPACE: 'elsewhere' });
  assert.ok(session !== undefined, 'the copied key opened a session');
  assert.equal(blue.agent(slot0)!.systemCapabilities.RUNNER_NAMESPACE, 'elsewhere');
  assert.equal(blue.kube.peek('Pod', 'blue', slot0)!.metadata.annotations?.['azure-devops-runner/agent-id'], String(grant.agentId));
  return { blue, slot0, agentId: grant.agentId, inputs };
}

describe('a registration its autoscaler recorded, whose copied key\'s session names another namespace', () => {
  it('is the runner\'s to DeployRunnerPool: no refusal, and drained as its own before its pod is replaced', async () => {
    const { blue, slot0, agentId, inputs } = await recordedButClaimedElsewhere();
    const host = new MemoryHost();
    await blue.deploy({ ...inputs, image: 'registry.example.com/runner:2' }, host);
    assert.match(host.log.join('\n'), new RegExp(`Replaced idle ${slot0}`));
    assert.equal(blue.agent(slot0)?.id, agentId);
    assert.equal(blue.agent(slot0)?.enabled, false, 'the copied key\'s session is handed no job');
  });

  it('is the runner\'s to remove: the registration goes with the pool', async () => {
    const { blue, slot0 } = await recordedButClaimedElsewhere();
    const removed = await remove(blue);
    assert.deepEqual(removed.agents, [slot0]);
    assert.equal(blue.agent(slot0), undefined);
  });
});

/** As an earlier version registered it: no cluster or namespace among its capabilities. */
function withoutIdentity(agent: { systemCapabilities: Record<string, string> }): void {
  agent.systemCapabilities = Object.fromEntries(Object.entries(agent.systemCapabilities).filter(([name]) => name !== 'RUNNER_CLUSTER' && name !== 'RUNNER_NAMESPACE'));
}

describe('a single-cluster pool deployed before identities', () => {
  it('keeps its name and adopts its registrations: drained, re-registered with the identity, removed', async () => {
    const world = await RunnerWorld.create(emulator, { kube: { podStartSeconds: 3, podStopSeconds: 2 } });
    await world.deploy({ replicas: '2' });
    // As an earlier version left it: no identity on the StatefulSet, none in its agents' capabilities.
    await world.kube.mergePatch({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: runnerName }, { metadata: { annotations: { 'azure-devops-runner/cluster': null } } }, 'test');
    for (const slot of world.slots().values()) withoutIdentity(world.agent(slot.name)!);
    // The upgrade, with the inputs it was deployed with (no runnerName): the same runner, one slot fewer.
    const upgraded = await world.deploy({ runnerName: '', replicas: '1' });
    assert.equal(upgraded.statefulSetName, runnerName, 'the name it was deployed under');
    assert.deepEqual(world.kube.all('StatefulSet', namespace).map((s) => s.metadata.name), [runnerName]);
    assert.equal(world.kube.peek('StatefulSet', namespace, runnerName)!.metadata.annotations?.['azure-devops-runner/cluster'], 'kube-system-uid');
    assert.equal(world.slots().get(1)!.enabled, false, 'the slot it removed was drained: its registration from before is its own');
    // Slot 0's next pod, after a job, registers with the identity (its register step replaces the registration).
    const job = world.queueJobFor(0);
    assert.equal(world.agentOfJob(job), `${runnerName}-0`);
    world.finishJob(job);
    await world.clock.sleep(10_000);
    assert.equal(world.agent(`${runnerName}-0`)!.systemCapabilities.RUNNER_CLUSTER, 'kube-system-uid');
    assert.equal(world.agent(`${runnerName}-1`)!.systemCapabilities.RUNNER_CLUSTER, undefined);
    // remove with default inputs finds it, and leaves no registration behind, adopted or carrying the identity.
    const removed = await remove(world);
    assert.deepEqual(removed.agents.sort(), [`${runnerName}-0`, `${runnerName}-1`]);
    assert.deepEqual(world.slots(), new Map());
  });

  it('remove with default inputs finds its registrations after an earlier remove deleted its objects', async () => {
    const world = await RunnerWorld.create(emulator, { kube: { podStartSeconds: 3, podStopSeconds: 2 } });
    const poolNamed = defaultRunnerName(poolName);
    await world.deploy({ runnerName: poolNamed, replicas: '2' });
    await world.kube.mergePatch({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: poolNamed }, { metadata: { annotations: { 'azure-devops-runner/cluster': null } } }, 'test');
    for (const slot of world.slots().values()) withoutIdentity(world.agent(slot.name)!);
    // An earlier remove stopped half-way: every object gone, the registrations left.
    for (const kind of ['StatefulSet', 'Pod']) for (const object of world.kube.all(kind, namespace)) await world.kube.delete({ apiVersion: object.apiVersion, kind, namespace, name: object.metadata.name });
    await world.clock.sleep(10_000);
    assert.equal(world.slots().size, 2);
    const removed = await remove(world);
    assert.equal(removed.runnerName, poolNamed);
    assert.deepEqual(removed.agents.sort(), [`${poolNamed}-0`, `${poolNamed}-1`]);
    assert.deepEqual(world.slots(), new Map());
  });
});

describe('remove looks again after its drain (M10)', () => {
  it('drains an agent the autoscaler registered after remove first looked, before any pod goes', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ runnerName, autoscaling: 'inCluster', maxReplicas: '3', rolloutStatusTimeout: '0' });
    world.register(`${runnerName}-0`);
    // The autoscaler registers slot 1 as it is being removed: after remove's first look.
    world.kube.before('delete', (call) => {
      if (call.kind === 'Deployment' && world.agent(`${runnerName}-1`) === undefined) world.register(`${runnerName}-1`);
    });
    let enabledAtScale: string[] | undefined;
    world.kube.before('scale', () => {
      enabledAtScale = [...world.slots().values()].filter((slot) => slot.enabled).map((slot) => slot.name);
    });
    const removed = await remove(world, { runnerName });
    assert.deepEqual(enabledAtScale, [], 'every registration drained before the pods went');
    assert.deepEqual(removed.agents.sort(), [`${runnerName}-0`, `${runnerName}-1`]);
  });

  it('leaves a registration that another runner took over while the pods went', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ runnerName, replicas: '2' });
    // While the pods stop, another cluster's runner of the same name re-registers slot 1 (config.sh --replace).
    world.kube.before('scale', () => {
      world.clock.at(world.clock.now() + 1000, () => Object.assign(world.agent(`${runnerName}-1`)!.systemCapabilities, { RUNNER_CLUSTER: 'green-uid', RUNNER_NAMESPACE: namespace }));
    });
    const removed = await remove(world, { runnerName });
    assert.deepEqual(removed.agents, [`${runnerName}-0`]);
    assert.equal(world.agent(`${runnerName}-1`)?.systemCapabilities.RUNNER_CLUSTER, 'green-uid', 'the other cluster\'s registration stays');
  });
});
