// E2E: DeployRunnerPool, run as the bundled task, on the real cluster with the real runner image, against the emulator:
// every job in a brand-new pod, nothing carried over, no credential reachable, updates that kill no job.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectl, kubectlJson, legacyApiServer, waitFor } from '../support/cluster.js';
import { createNamespace, deleteNamespace, deployPool, imageVariant, readSnapshot, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import { assertFreshPodPerJob, assertKilledAgentLeavesNothing, assertRolloutKillsNoJob, assertUpdateMessageIgnored, finished, probeField, probeScript } from '../support/pool-jobs.js';
import type { AdminJob } from '../support/emulator.js';

const POOL = 'Linux Private';
const NS = 'adr-deploy-e2e';
const RENDER_NS = 'adr-render-e2e';
let world: PoolWorld;
const scratch = mkdtempSync(join(tmpdir(), 'adr-deploy-e2e-'));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function deploy(inputs: Record<string, string>, env: Record<string, string> = {}) {
  return deployPool(world, { connectionType: 'kubernetesServiceConnection', namespace: NS, poolName: POOL, runnerName: 'linux', rolloutStatusTimeout: '180', ...inputs }, { ...world.endpointEnv, ...env });
}

describe('DeployRunnerPool on a real cluster', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    world = await startPoolWorld(POOL, 'deploy-e2e');
    await createNamespace(NS);
    await createNamespace(RENDER_NS);
  });

  after(async () => {
    await deleteNamespace(NS);
    await deleteNamespace(RENDER_NS);
    await world?.stop();
  });

  it('fails on bad input, or a missing namespace, before changing anything', async () => {
    await world.emulator.admin.clearRequests();
    const bad = await deploy({ replicas: 'three', dockerMode: 'rootful' });
    assert.equal(bad.status, 1);
    assert.match(bad.message ?? '', /Input 'dockerMode'.*%0AInput 'replicas'/);
    const missing = await deploy({ namespace: 'adr-does-not-exist', replicas: '1' });
    assert.equal(missing.status, 1);
    assert.match(missing.message ?? '', /The namespace 'adr-does-not-exist' does not exist/);
    const objects = await kubectl(['get', 'statefulsets,secrets,poddisruptionbudgets', '-n', NS, '-l', 'app.kubernetes.io/instance=linux', '-o', 'name']);
    assert.equal(objects.trim(), '');
    assert.deepEqual(await world.emulator.admin.requests(), [], 'no Azure DevOps call either');
  });

  it('renders manifests that kubectl applies to the same objects, with no secret value in the file', async () => {
    const manifest = join(scratch, 'pool.yaml');
    // The scratch folder is the pipeline's workspace: the task writes manifests below the agent's folders only.
    const rendered = await deploy({ action: 'render', manifestPath: manifest, namespace: RENDER_NS, replicas: '0' }, { PIPELINE_WORKSPACE: scratch });
    assert.equal(rendered.result, 'Succeeded', rendered.message);
    const text = readFileSync(manifest, 'utf8');
    assert.doesNotMatch(text, new RegExp(world.token));
    assert.equal(await kubectl(['get', 'statefulsets', '-n', RENDER_NS, '-o', 'name']), '', 'render changed nothing');
    await kubectl(['apply', '-f', manifest]);
    const applied = await deploy({ namespace: NS, replicas: '0' });
    assert.equal(applied.result, 'Succeeded', applied.message);
    const viaTask = await kubectlJson<Any>(['get', 'statefulset', 'linux', '-n', NS]);
    const viaKubectl = await kubectlJson<Any>(['get', 'statefulset', 'linux', '-n', RENDER_NS]);
    // All but the cluster's identity, which render has no cluster to ask for (docs/several-clusters.md); the agent
    // and the register step (which registers the agent's variables) both carry it.
    const withCluster = (spec: Any) => [...spec.template.spec.initContainers, ...spec.template.spec.containers]
      .filter((container: Any) => (container.env ?? []).some((e: Any) => e.name === 'RUNNER_CLUSTER')).map((container: Any) => container.name);
    assert.deepEqual(withCluster(viaTask.spec).sort(), ['agent', 'register']);
    assert.deepEqual(withCluster(viaKubectl.spec), []);
    for (const container of [...viaTask.spec.template.spec.initContainers, ...viaTask.spec.template.spec.containers]) {
      container.env = container.env?.filter((e: Any) => e.name !== 'RUNNER_CLUSTER');
    }
    assert.deepEqual(viaKubectl.spec, viaTask.spec);
    assert.equal(viaTask.spec.template.spec.containers[0].restartPolicyRules.length, 1, 'the cluster kept the restart rules');
  });

  it('gives 15 jobs on 3 slots 15 fresh pods, with nothing carried over and no credential in reach', async () => {
    const deployed = await deploy({ replicas: '3' });
    assert.equal(deployed.result, 'Succeeded', deployed.message);
    assert.deepEqual(deployed.warnings, []);
    assert.equal(deployed.outputs.statefulSetName, 'linux');
    assert.equal(deployed.outputs.replicas, '3');
    // The hub's view of the pods, published into the extension's data storage with the task's PAT.
    const snapshot = await readSnapshot(world, `${NS}.linux`);
    assert.equal(snapshot?.publishedBy, 'DeployRunnerPool');
    assert.deepEqual(snapshot?.pods.map((p) => p.name), ['linux-0', 'linux-1', 'linux-2']);

    await assertFreshPodPerJob(world, POOL, NS, 15, ['linux-0', 'linux-1', 'linux-2']);
  });

  it('runs no later job in the pod of a job that ended its agent, whichever way it did; ignores update messages', async () => {
    await Promise.all([
      assertKilledAgentLeavesNothing(world, POOL, NS, 'linux-1', 'SIGTERM to PID 1 (the start script)'),
      assertKilledAgentLeavesNothing(world, POOL, NS, 'linux-2', 'SIGKILL to the listener'),
      assertUpdateMessageIgnored(world, POOL, NS, 'linux-0'),
    ]);
  });

  it('rolls out a new image without killing a running job; later jobs run on it', async () => {
    await assertRolloutKillsNoJob(world, POOL, 'deploy-e2e-b', (image) => deploy({ replicas: '3', image, rolloutStatusTimeout: '0' }));
  });

  it('replaces idle pods on a new image, sparing one that takes a job while it is drained', async () => {
    const pods = async () => new Map<string, Any>((await kubectlJson<Any>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=linux'])).items.map((p: Any) => [p.metadata.name, p]));
    await world.emulator.admin.waitFor(() => world.emulator.admin.agents(POOL), (agents) => agents.filter((a) => a.status === 'online' && !a.assignedRequest).length === 3, 300_000, '3 idle agents');
    const before = await pods();
    // The first drain call (linux-0) is held until the job below has reached linux-0: after the task's look, before its drain.
    await world.emulator.admin.clearRequests();
    await world.emulator.admin.addFault({ method: 'PATCH', path: 'agents/\\d+$', kind: 'latency', delayMs: 300_000, count: 1 });
    const image = await imageVariant(world, 'deploy-e2e-drain', 'deploy-e2e-drain');
    const deploying = deploy({ replicas: '3', image });
    await world.emulator.admin.waitFor(() => world.emulator.admin.requests(), (served) => served.some((r) => r.method === 'PATCH'), 120_000, 'the task to drain the idle pods');
    // Longer than the deploy takes to replace linux-1 and linux-2 on a loaded machine: a job that ended sooner would
    // give linux-0 its fresh pod before the task's pods are compared.
    const job = (await world.emulator.admin.queueJob({ pool: POOL, demands: ['Agent.Name -equals linux-0'], script: probeScript(world, 90) })) as AdminJob;
    await world.emulator.admin.waitFor(() => world.emulator.admin.job(job.requestId), (j) => j.state !== 'queued', 60_000, 'the job to be given to linux-0 before its drain');
    await world.emulator.admin.clearFaults();
    const updated = await deploying;
    assert.equal(updated.result, 'Succeeded', updated.message);
    assert.match(updated.stdout, /linux-0 took a job while being drained/);
    assert.match(updated.stdout, /Replaced idle linux-1[\s\S]*Replaced idle linux-2/);
    const after = await pods();
    assert.equal(after.get('linux-0').metadata.uid, before.get('linux-0').metadata.uid, 'the busy pod was kept');
    for (const name of ['linux-1', 'linux-2']) {
      assert.notEqual(after.get(name).metadata.uid, before.get(name).metadata.uid, `${name} was replaced`);
      assert.equal(after.get(name).spec.containers[0].image, image);
    }
    const [{ job: done, log }] = await finished(world, [job.requestId], 240_000);
    assert.equal(done.result, 'succeeded', log);
    assert.equal(probeField(log, 'image'), before.get('linux-0').spec.containers[0].image, 'the job ran to its end on the old template');
    const agents = await world.emulator.admin.agents(POOL);
    assert.deepEqual(agents.map((a) => a.enabled), [true, true, true], 'the drained agents take jobs again');
  });

  it('moves a pool from the recycle sidecar to restart rules without wedging a busy sidecar slot', async () => {
    // The sidecar deletes its pod through the kubernetes Service; on the local cluster an API server listens there
    // only once the legacy one is started (it takes the sidecar's token and enforces RBAC).
    if (world.cluster.local) await legacyApiServer();
    const recycler = () => kubectl(['get', 'serviceaccount,role,rolebinding', '-n', NS, '-l', 'app.kubernetes.io/instance=linux', '-o', 'name']);
    const sidecar = await deploy({ replicas: '1', podRecycling: 'sidecar' });
    assert.equal(sidecar.result, 'Succeeded', sidecar.message);
    const busy = (await world.emulator.admin.queueJob({ pool: POOL, demands: ['Agent.Name -equals linux-0'], script: probeScript(world, 30) })) as AdminJob;
    await world.emulator.admin.waitFor(() => world.emulator.admin.job(busy.requestId), (j) => j.state === 'running', 180_000, 'the job to run on the sidecar pod');
    const podOf = async () => kubectlJson<Any>(['get', 'pod', 'linux-0', '-n', NS]);
    const sidecarPod = await podOf();
    assert.equal(sidecarPod.spec.serviceAccountName, 'linux-recycler');

    const moved = await deploy({ replicas: '1', podRecycling: 'auto', rolloutStatusTimeout: '0' });
    assert.equal(moved.result, 'Succeeded', moved.message);
    assert.equal(moved.outputs.podRecycling, 'restartRules');
    assert.match(moved.stdout, /Kept the recycle sidecar's ServiceAccount, Role and RoleBinding: linux-0 still run/);
    assert.equal((await recycler()).trim().split('\n').length, 3, 'the busy pod\'s sidecar keeps its identity');

    const [{ job, log }] = await finished(world, [busy.requestId], 180_000);
    assert.equal(job.result, 'succeeded', log);
    // The sidecar deleted its own pod after the job: the slot comes back on the new template.
    await waitFor('linux-0 on restart rules', 180_000, async () => {
      const pod = await podOf();
      return pod.metadata.uid !== sidecarPod.metadata.uid && pod.spec.serviceAccountName !== 'linux-recycler' ? pod : undefined;
    });
    const tidied = await deploy({ replicas: '1', podRecycling: 'auto' });
    assert.equal(tidied.result, 'Succeeded', tidied.message);
    assert.match(tidied.stdout, /Removed the recycle sidecar's ServiceAccount, Role and RoleBinding/);
    assert.equal((await recycler()).trim(), '');
  });
});
