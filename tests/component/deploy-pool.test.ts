// DeployRunnerPool over the fake cluster and the emulator: the dry run that changes nothing, the choice of pod
// recycling, and the replacement of idle pods of an old template — drain, look again, delete by UID, wait until gone,
// re-enable in `finally`, even when the drain fails halfway.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { namespace, RunnerWorld, runnerName } from '../support/runner-world.js';
import { MemoryHost } from '../support/memory-host.js';
import { slotOrdinal } from '../../src/core/slots.js';
import { KubeApiError, type KubeObject } from '../../src/core/ports/kube.js';
import { slotWantedGate } from '../../src/core/manifests/index.js';

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => {
  await emulator.stop();
});

const newImage = { image: 'registry.example.com/runner:2' };
const slot = (ordinal: number) => `${runnerName}-${ordinal}`;
const podsByName = (world: RunnerWorld) => new Map(world.pods().map((p) => [p.metadata.name, { uid: p.metadata.uid!, revision: p.metadata.labels!['controller-revision-hash'] }]));
const updateRevision = (world: RunnerWorld) => (world.kube.peek('StatefulSet', namespace, runnerName)!.status as { updateRevision: string }).updateRevision;
/** Whether a pod still waits for the autoscaler's slot-wanted gate. */
const gated = (pod: KubeObject) => ((pod.spec as { schedulingGates?: Array<{ name: string }> }).schedulingGates ?? []).some((gate) => gate.name === slotWantedGate);
const enabledSlots = (world: RunnerWorld) => [...world.slots()].filter(([, s]) => s.enabled).map(([o]) => o);

/** Fails the next `count` calls that set an agent's enabled flag, as Azure DevOps would answer them. */
const failEnabling = (count = 1) => emulator.admin.addFault({ method: 'PATCH', path: 'agents/\\d+$', kind: 'error', status: 400, count });

/** Records whether each pod's agent was disabled when the pod began stopping and when it was gone. */
function drainedWhileLeaving(world: RunnerWorld): Map<string, boolean[]> {
  const seen = new Map<string, boolean[]>();
  world.kube.onPod((event, pod) => {
    if (event !== 'deleting' && event !== 'gone') return;
    const agent = world.agent(pod.metadata.name);
    seen.set(pod.metadata.name, [...(seen.get(pod.metadata.name) ?? []), agent?.enabled === false]);
  });
  return seen;
}

describe('DeployRunnerPool', () => {
  it('checks every object with a dry run first: a missing namespace fails, naming it, and nothing is stored or asked', async () => {
    const world = await RunnerWorld.create(emulator, { kube: { namespaces: [] } });
    const asked: string[] = [];
    for (const method of ['findPool', 'listAgents'] as const) world.ado.before(method, () => void asked.push(method));
    await assert.rejects(world.deploy({ replicas: '2' }), /The namespace 'runners' does not exist\. Create it first/);
    assert.deepEqual(world.kube.calls.filter((c) => c.verb === 'apply' && !c.dryRun), []);
    assert.deepEqual(world.kube.all('StatefulSet', namespace), []);
    assert.deepEqual(asked, [], 'no Azure DevOps call either');
  });

  it('tells a missing namespace from the Status the cluster answers, not from its words', async () => {
    const world = await RunnerWorld.create(emulator);
    // Worded otherwise (another release, another language): the Status still names the kind it did not find.
    world.kube.failNext({ verb: 'apply' }, new KubeApiError(404, 'NotFound', `the namespace ${namespace} is gone`, { kind: 'namespaces', name: namespace }));
    await assert.rejects(world.deploy({ replicas: '1' }), /^Error: The namespace 'runners' does not exist\. Create it first/);
    // A 404 that only reads like one (a webhook's words): told as the cluster said it, not as a missing namespace.
    world.kube.failNext({ verb: 'apply' }, new KubeApiError(404, 'NotFound', `admission webhook "allow-list" denied the request: namespaces ${namespace} not found in its list`));
    await assert.rejects(world.deploy({ replicas: '1' }), /^Error: The cluster refused the runner pool: admission webhook "allow-list" denied/);
  });

  it('makes the autoscaler\'s keys once: a second deploy keeps them and the template; autoscaling off removes them', async () => {
    const world = await RunnerWorld.create(emulator);
    const autoscaled = { autoscaling: 'inCluster', maxReplicas: '3', rolloutStatusTimeout: '0' };
    const keysSecret = () => world.kube.peek('Secret', namespace, `${runnerName}-autoscaler-keys`);
    const templateKey = () => JSON.stringify(world.kube.peek('StatefulSet', namespace, runnerName)!.spec).match(/"AZP_AUTOSCALER_SIGNING_KEY","value":"([^"]+)"/)?.[1];
    await world.deploy(autoscaled);
    const [first, firstKey] = [keysSecret()!.data, templateKey()];
    assert.match(firstKey!, /^[A-Za-z0-9_-]{43}$/);
    const revision = updateRevision(world);
    await world.deploy(autoscaled);
    assert.deepEqual(keysSecret()!.data, first);
    assert.equal(templateKey(), firstKey);
    assert.equal(updateRevision(world), revision, 'no new template, no pod replaced');
    await world.deploy({ replicas: '1', rolloutStatusTimeout: '0' });
    assert.equal(keysSecret(), undefined);
    assert.deepEqual(world.kube.all('NetworkPolicy', namespace).map((policy) => policy.metadata.name), [`${runnerName}-egress`]);
  });

  /**
   * An autoscaled pool whose three slots' pods wait gated, as after a scale-up whose jobs went elsewhere; with a PAT,
   * or with a Secret of the user's, where the task has no Azure DevOps access and drains nothing.
   */
  async function parkedPool(credential: 'pat' | 'existingSecret') {
    const world = await RunnerWorld.create(emulator);
    const inputs: Record<string, string> = credential === 'pat' ? {} : { credentialType: 'existingSecret', existingSecretName: 'runner-pat' };
    const withAdo = credential === 'pat';
    await world.deploy({ ...inputs, autoscaling: 'inCluster', minReplicas: '0', maxReplicas: '5', rolloutStatusTimeout: '0' }, new MemoryHost(), withAdo);
    await world.kube.scale({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace, name: runnerName }, 3, 'tests');
    await world.clock.sleep(10_000);
    assert.deepEqual(world.pods().map((pod) => [pod.metadata.name, gated(pod), world.scheduled(slotOrdinal(runnerName, pod.metadata.name)!)]),
      [0, 1, 2].map((ordinal) => [slot(ordinal), true, false]));
    return { world, inputs, withAdo };
  }

  /** Each of the slots runs a pod of the StatefulSet's current template, ungated, whose agent takes jobs. */
  function assertRunsNewTemplate(world: RunnerWorld, slots: number[], what: string) {
    assert.deepEqual(world.pods().map((pod) => [pod.metadata.name, gated(pod), (pod.status as { phase?: string }).phase, pod.metadata.labels!['controller-revision-hash']]).sort(),
      slots.map((ordinal) => [slot(ordinal), false, 'Running', updateRevision(world)]), what);
    assert.deepEqual(slots.filter((ordinal) => !world.scheduled(ordinal)), [], what);
    assert.deepEqual([...world.slots()].filter(([, agent]) => agent.online && agent.enabled).map(([ordinal]) => ordinal), slots, `each slot's agent takes jobs, ${what}`);
    for (const kind of ['Deployment', 'ServiceAccount', 'Role', 'RoleBinding']) assert.equal(world.kube.peek(kind, namespace, `${runnerName}-autoscaler`), undefined, `its ${kind} is gone, ${what}`);
  }

  it('turning autoscaling off while slots sit gated, runs every slot of the count: no pod keeps the gate, the autoscaler goes', async () => {
    for (const [replicas, credential] of [[0, 'pat'], [1, 'pat'], [3, 'pat'], [5, 'pat'], [1, 'existingSecret'], [3, 'existingSecret']] as const) {
      const { world, inputs, withAdo } = await parkedPool(credential);
      // Pods started on the autoscaler's template wait for a registration no autoscaler will grant; a pod started for a
      // slot that goes costs a start for nothing.
      const started: Array<[string, string]> = [];
      world.kube.onPod((event, pod) => {
        if (event === 'scheduled') started.push([pod.metadata.name, pod.metadata.labels!['controller-revision-hash']]);
      });
      const off = await world.deploy({ ...inputs, autoscaling: 'none', replicas: String(replicas) }, new MemoryHost(), withAdo);
      // What a scale-down removes goes within its grace period.
      await world.clock.sleep(60_000);
      const what = `with replicas ${replicas} and credentialType ${credential}`;
      // Without Azure DevOps access the count does not go down (nothing tells busy slots): every slot stays.
      const staying = credential === 'pat' ? replicas : Math.max(replicas, 3);
      assert.equal(off.replicas, staying, what);
      const slots = Array.from({ length: staying }, (_, ordinal) => ordinal);
      assertRunsNewTemplate(world, slots, what);
      assert.deepEqual(started.sort(), slots.map((ordinal) => [slot(ordinal), updateRevision(world)]), `each slot that stays started once, on the new template, ${what}`);
    }
  });

  it('run again after a switch to autoscaling none that failed part way, still replaces the parked pods: what is in the cluster tells, not the annotation', async () => {
    // The first run applies the StatefulSet (its replicas-owner annotation gone), then fails at the Lease's delete (the
    // Lease left), or at the first parked pod's (the pods left only).
    for (const [credential, failing] of [['existingSecret', 'Lease'], ['pat', 'Lease'], ['existingSecret', 'Pod']] as const) {
      const { world, inputs, withAdo } = await parkedPool(credential);
      world.kube.failNext({ verb: 'delete', kind: failing }, new KubeApiError(503, 'ServiceUnavailable', 'the API server is restarting'));
      const off = { ...inputs, autoscaling: 'none', replicas: '3' };
      await assert.rejects(world.deploy(off, new MemoryHost(), withAdo));
      assert.equal(world.pods().filter(gated).length, 3, 'the parked pods of the old template are still there');
      const host = new MemoryHost();
      await world.deploy(off, host, withAdo);
      await world.clock.sleep(60_000);
      // The old code skipped the replacement on the rerun: its pass lifted the gates of the old template's pods, three
      // pods Running on the old revision whose agents wait for a registration no autoscaler grants.
      assertRunsNewTemplate(world, [0, 1, 2], `run again after a failed ${failing} delete, with credentialType ${credential}`);
      assert.equal(world.kube.peek('Lease', namespace, `${runnerName}-autoscaler`), undefined, 'its Lease is gone');
      assert.match(host.log.join('\n'), /Replaced .*which the autoscaler held gated/);
    }
  });

  it('refuses, naming the image, an autoscaler that does not say on its Lease that it lifts the gate its pods are created with', async () => {
    // The autoscaler as the cluster would run it a second after the apply: its Deployment rolled out, its pod, its Lease.
    const autoscalerRuns = (world: RunnerWorld, annotations: Record<string, string>) => world.clock.at(world.clock.now() + 1000, () => {
      const name = `${runnerName}-autoscaler-7d9f-x2`;
      void world.kube.mergePatch({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: `${runnerName}-autoscaler` }, { status: { updatedReplicas: 1, availableReplicas: 1 } }, 'kube-controller-manager');
      void world.kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: { 'app.kubernetes.io/name': 'azure-devops-runner-autoscaler', 'app.kubernetes.io/instance': runnerName } }, spec: { containers: [] }, status: { phase: 'Running' } }, 'kubelet');
      void world.kube.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: `${runnerName}-autoscaler`, namespace, annotations }, spec: { holderIdentity: name } }, name);
    });
    const autoscaled = { autoscaling: 'inCluster', maxReplicas: '3', rolloutStatusTimeout: '60' };
    const old = await RunnerWorld.create(emulator);
    autoscalerRuns(old, {});
    await assert.rejects(old.deploy(autoscaled), (error: Error) => /image/.test(error.message) && /does not lift the scheduling gate/.test(error.message) && /registry\.example\.com\/runner:1/.test(error.message));
    const current = await RunnerWorld.create(emulator);
    autoscalerRuns(current, { 'azure-devops-runner/lifts-gate': 'azure-devops-runner/slot-wanted' });
    await current.deploy(autoscaled);
  });

  it('redeploys a fixed pool with a deployer Role that may not read Leases: no autoscaler of its could hold one', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    world.kube.failNext({ verb: 'get', kind: 'Lease' }, new KubeApiError(403, 'Forbidden', 'leases.coordination.k8s.io is forbidden'), 100);
    const result = await world.deploy({ replicas: '2', env: 'A=1' });
    assert.deepEqual(result.pods.map((p) => p.name), [slot(0), slot(1)]);
  });

  it('gives every job a fresh pod through restart rules where the cluster keeps them', async () => {
    const world = await RunnerWorld.create(emulator);
    const result = await world.deploy({ replicas: '2' });
    assert.equal(result.podRecycling, 'restartRules');
    assert.deepEqual(result.pods.map((p) => [p.name, p.ready]), [[slot(0), true], [slot(1), true]]);
    assert.deepEqual(world.kube.all('ServiceAccount', namespace), []);
  });

  it('scaled back up while the pods it drained are still stopping, enables their agents once those pods are gone', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    await world.deploy({ replicas: '1' });
    assert.deepEqual(enabledSlots(world), [0], 'the scale-down drained slots 1 and 2');
    assert.ok(world.pods().some((p) => p.metadata.deletionTimestamp !== undefined), 'their pods are still stopping');
    await world.deploy({ replicas: '3' });
    assert.deepEqual(enabledSlots(world), [0, 1, 2]);
  });

  it('reads the pool\'s agents once per deploy: the taken-name check\'s list serves the scaling pass and the pod replacement', async () => {
    const world = await RunnerWorld.create(emulator);
    const agentReads = async (inputs: Record<string, string>) => {
      const before = world.ado.called.length;
      await world.deploy(inputs);
      return world.ado.called.slice(before).filter((c) => c === 'listAgents').length;
    };
    await world.deploy({ replicas: '2' });
    assert.equal(await agentReads({ replicas: '2' }), 1, 'the task sets the count: one pass');
    const autoscaled = { autoscaling: 'inCluster', maxReplicas: '3', rolloutStatusTimeout: '0' };
    await world.deploy(autoscaled);
    assert.equal(await agentReads(autoscaled), 1, 'the autoscaler sets the count: no pass');
  });

  it('on a cluster without restart rules, refuses podRecycling restartRules before changing anything, and auto picks the sidecar', async () => {
    const world = await RunnerWorld.create(emulator, { kube: { restartRules: false } });
    await assert.rejects(world.deploy({ podRecycling: 'restartRules' }), /Input 'podRecycling': This cluster drops container restart rules/);
    assert.deepEqual(world.kube.calls.filter((c) => c.verb === 'apply' && !c.dryRun), []);
    const host = new MemoryHost();
    const result = await world.deploy({ replicas: '2' }, host);
    assert.equal(result.podRecycling, 'sidecar');
    assert.match(host.log.join('\n'), /a recycle sidecar replaces each pod after its job/);
    assert.deepEqual(world.kube.all('RoleBinding', namespace).map((o) => o.metadata.name), [`${runnerName}-recycler`]);
    const pod = world.pods()[0].spec as { initContainers: Array<{ name: string }> };
    assert.deepEqual(pod.initContainers.map((c) => c.name), ['register', 'recycle']);
  });

  it('replaces the idle pods of the old template, keeping their agents drained until they are gone, and spares a busy one', async () => {
    const world = await RunnerWorld.create(emulator, { kube: { podStopSeconds: 20 } });
    await world.deploy({ replicas: '3' });
    const job = world.queueJobFor(1);
    const before = podsByName(world);
    const leaving = drainedWhileLeaving(world);
    const host = new MemoryHost();
    await world.deploy({ replicas: '3', ...newImage }, host);
    const after = podsByName(world);
    const revision = updateRevision(world);
    for (const ordinal of [0, 2]) {
      assert.notEqual(after.get(slot(ordinal))!.uid, before.get(slot(ordinal))!.uid);
      assert.equal(after.get(slot(ordinal))!.revision, revision);
    }
    assert.deepEqual(after.get(slot(1)), before.get(slot(1)), 'the busy pod runs its job to its end');
    assert.match(host.log.join('\n'), new RegExp(`${slot(1)} is running a job; it takes the new template when that job ends`));
    assert.deepEqual([...leaving], [[slot(0), [true, true]], [slot(2), [true, true]]], 'drained from the delete until the old pod was gone');
    assert.deepEqual(enabledSlots(world), [0, 1, 2]);
    assert.deepEqual(world.cutOff, []);
    world.finishJob(job);
    assert.equal(podsByName(world).get(slot(1))!.revision, revision, 'after its job the slot takes the new template');
  });

  it('spares an idle pod that takes a job while it is drained', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '2' });
    const before = podsByName(world);
    let late: number | undefined;
    world.ado.before('setAgentEnabled', () => {
      late ??= world.queueJobFor(0);
    });
    const host = new MemoryHost();
    await world.deploy({ replicas: '2', ...newImage }, host);
    assert.equal(world.agentOfJob(late!), slot(0));
    assert.deepEqual(podsByName(world).get(slot(0)), before.get(slot(0)));
    assert.match(host.log.join('\n'), new RegExp(`${slot(0)} took a job while being drained`));
    assert.notEqual(podsByName(world).get(slot(1))!.uid, before.get(slot(1))!.uid);
    assert.deepEqual(enabledSlots(world), [0, 1]);
    assert.deepEqual(world.cutOff, []);
  });

  it('replaces only the pods whose agents it drained: one whose agent registered between its looks keeps its next job', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    const before = podsByName(world);
    // Slots 0 and 2 run pods whose agents have not registered yet; slot 0's registers after the first look.
    const registerLate = world.unregister(0);
    world.unregister(2);
    world.ado.before('setAgentEnabled', ([, , enabled]) => {
      if (enabled === false) registerLate();
    });
    // Right after the second look, the undrained agent takes a job.
    let late: number | undefined;
    world.kube.before('delete', (call) => {
      if (call.kind === 'Pod') late ??= world.queueJobFor(0);
    });
    const host = new MemoryHost();
    await world.deploy({ replicas: '3', ...newImage }, host);
    assert.deepEqual(world.cutOff, []);
    assert.equal(world.agentOfJob(late!), slot(0));
    assert.deepEqual(podsByName(world).get(slot(0)), before.get(slot(0)), 'it keeps running its job');
    assert.match(host.log.join('\n'), new RegExp(`${slot(0)}'s agent registered after the first look`));
    const revision = updateRevision(world);
    for (const ordinal of [1, 2]) assert.equal(podsByName(world).get(slot(ordinal))!.revision, revision, `${slot(ordinal)} is replaced: drained, or no agent to hand it a job`);
    world.finishJob(late!);
    assert.equal(podsByName(world).get(slot(0))!.revision, revision, 'after its job the slot takes the new template');
  });

  /**
   * A new template for a one-slot pool whose pod ends a job right before the deploy's first `verb` on a pod, between
   * its look and that call: the StatefulSet has made a fresh one by then. The pod there after the deploy.
   */
  async function replacedBefore(verb: 'delete' | 'mergePatch') {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '1' });
    const host = new MemoryHost();
    let successor: string | undefined;
    world.kube.before(verb, (call) => {
      if (call.kind !== 'Pod' || successor !== undefined) return;
      world.kube.completePod(namespace, slot(0));
      successor = world.kube.peek('Pod', namespace, slot(0))!.metadata.uid;
    });
    await world.deploy({ replicas: '1', ...newImage }, host);
    const pod = world.kube.peek('Pod', namespace, slot(0))!;
    assert.equal(pod.metadata.uid, successor);
    assert.equal(pod.metadata.deletionTimestamp, undefined);
    return { world, pod, host };
  }

  it('deletes a pod only by its UID: a successor that took the name since the look is left alone', async () => {
    const { host } = await replacedBefore('delete');
    assert.doesNotMatch(host.log.join('\n'), /Replaced idle/);
  });

  it('marks a pod draining only as the incarnation it looked at: a successor that took the name since carries no mark', async () => {
    const { world, pod, host } = await replacedBefore('mergePatch');
    assert.equal(pod.metadata.annotations?.['azure-devops-runner/draining'], undefined, 'no scaling pass is kept from enabling its agent');
    assert.deepEqual(enabledSlots(world), [0]);
    assert.doesNotMatch([...host.log, ...host.warnings].join('\n'), /Replaced idle|draining/);
  });

  it('enables again what it drained when the drain fails halfway, and fails with the drain\'s error', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    const before = podsByName(world);
    let disables = 0;
    world.ado.before('setAgentEnabled', async ([, , enabled]) => {
      if (enabled === false && ++disables === 2) await failEnabling();
    });
    await assert.rejects(world.deploy({ replicas: '3', ...newImage }), /Azure DevOps answered 400 to PATCH/);
    assert.deepEqual(enabledSlots(world), [0, 1, 2]);
    assert.deepEqual(podsByName(world), before, 'no pod was replaced');
  });

  it('enables each agent on its own: one that fails is reported, the others take jobs again', async () => {
    const world = await RunnerWorld.create(emulator);
    await world.deploy({ replicas: '3' });
    let enables = 0;
    world.ado.before('setAgentEnabled', async ([, , enabled]) => {
      if (enabled === true && ++enables === 1) await failEnabling();
    });
    const host = new MemoryHost();
    await world.deploy({ replicas: '3', ...newImage }, host);
    assert.deepEqual(enabledSlots(world), [1, 2]);
    assert.match(host.warnings.join('\n'), new RegExp(`Could not enable the agent ${slot(0)} again: .*The next DeployRunnerPool or ScaleRunnerPool run enables it`));
  });

  it('as a property: wherever jobs land and wherever the drain fails, no job is cut off, the kept slots take jobs, and an idle pod ends on the new template', async () => {
    const scenario = fc.record({
      replicas: fc.integer({ min: 1, max: 5 }),
      busy: fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      arrivals: fc.array(fc.record({ beforeCall: fc.integer({ min: 1, max: 8 }), slot: fc.integer({ min: 0, max: 4 }) }), { maxLength: 3 }),
      failsAt: fc.option(fc.integer({ min: 1, max: 5 })),
      podStopSeconds: fc.integer({ min: 1, max: 90 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ replicas, busy, arrivals, failsAt, podStopSeconds }) => {
        const world = await RunnerWorld.create(emulator, { kube: { podStopSeconds } });
        await world.deploy({ replicas: String(replicas) });
        for (const ordinal of busy.filter((o) => o < replicas)) world.queueJobFor(ordinal);
        const leaving = drainedWhileLeaving(world);
        // Any call to Azure DevOps is a moment a job may land; the disables are where the drain may fail.
        let calls = 0;
        let disables = 0;
        const moment = async () => {
          calls++;
          for (const arrival of arrivals) if (arrival.beforeCall === calls && arrival.slot < replicas) world.queueJobFor(arrival.slot);
        };
        for (const method of ['findPool', 'listAgents', 'publishSnapshot'] as const) world.ado.before(method, moment);
        world.ado.before('setAgentEnabled', async ([, , enabled]) => {
          await moment();
          if (enabled === false && ++disables === failsAt) await failEnabling();
        });
        let failed = false;
        try {
          await world.deploy({ replicas: String(replicas), ...newImage });
        } catch (error) {
          assert.match((error as Error).message, /Azure DevOps answered 400 to PATCH/);
          failed = true;
        }
        await emulator.admin.clearFaults();
        assert.deepEqual(world.cutOff, [], 'no pod stopped under a running job');
        assert.deepEqual(enabledSlots(world), [...world.slots().keys()].filter((o) => o < replicas), 'the kept slots take jobs');
        for (const [pod, drained] of leaving) assert.ok(drained.every(Boolean), `${pod} stopped while its agent could be handed a job`);
        const busyNow = new Set(world.busySlots());
        const revision = updateRevision(world);
        for (const [name, pod] of podsByName(world)) {
          const ordinal = slotOrdinal(runnerName, name)!;
          if (!failed && !busyNow.has(ordinal)) assert.equal(pod.revision, revision, `idle ${name} ends on the new template`);
        }
      }),
      { numRuns: 50 },
    );
  });
});
