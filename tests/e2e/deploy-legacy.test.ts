// E2E: DeployRunnerPool on a cluster that drops container restart rules, as Kubernetes 1.30-1.34 do (the local
// cluster's second API server, which also enforces RBAC). The recycle sidecar must give every job a fresh pod, hold
// the pod's only Kubernetes token, be allowed to delete nothing but the pool's pods; a failing agent must back off.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cluster, kubectl, kubectlJson, legacyApiServer, waitFor } from '../support/cluster.js';
import { run } from '../support/process.js';
import { kubeconfigEndpoint } from '../support/run-task.js';
import { createNamespace, deleteNamespace, deployPool, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import { assertFreshPodPerJob, assertKilledAgentLeavesNothing, assertRolloutKillsNoJob, probeScript } from '../support/pool-jobs.js';

const POOL = 'Legacy Pool';
const NS = 'adr-legacy-e2e';
let world: PoolWorld;
let legacyKubeconfig: string;
/** The pods the probe jobs ran in: each is deleted by its sidecar once its job is done. */
let usedPods = new Set<string>();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function deploy(inputs: Record<string, string>) {
  const legacy = kubeconfigEndpoint(readFileSync(legacyKubeconfig, 'utf8'));
  return deployPool(world, { namespace: NS, poolName: POOL, runnerName: 'legacy', rolloutStatusTimeout: '180', ...inputs }, legacy);
}

describe('DeployRunnerPool on a cluster without container restart rules', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    world = await startPoolWorld(POOL, 'legacy-e2e');
    legacyKubeconfig = await legacyApiServer();
    await createNamespace(NS);
  });

  after(async () => {
    await deleteNamespace(NS);
    await world?.stop();
  });

  it('refuses podRecycling restartRules there, before changing anything', async () => {
    const refused = await deploy({ replicas: '1', podRecycling: 'restartRules' });
    assert.equal(refused.status, 1);
    assert.match(refused.message ?? '', /Input 'podRecycling': This cluster drops container restart rules/);
    assert.equal(await kubectl(['get', 'statefulsets,secrets,serviceaccounts,roles', '-n', NS, '-l', 'app.kubernetes.io/instance=legacy', '-o', 'name']), '');
  });

  it('gives 15 jobs on 3 slots 15 fresh pods through the recycle sidecar, with no credential in reach', async () => {
    const deployed = await deploy({ replicas: '3' });
    assert.equal(deployed.result, 'Succeeded', deployed.message);
    assert.equal(deployed.outputs.podRecycling, 'sidecar');
    assert.match(deployed.stdout, /drops container restart rules .*: a recycle sidecar replaces each pod/);
    const template = (await kubectlJson<Any>(['get', 'statefulset', 'legacy', '-n', NS])).spec.template.spec;
    assert.equal(template.containers[0].restartPolicyRules, undefined);
    assert.ok(template.initContainers.some((c: Any) => c.name === 'recycle' && c.restartPolicy === 'Always'));

    usedPods = await assertFreshPodPerJob(world, POOL, NS, 15, ['legacy-0', 'legacy-1', 'legacy-2']);
  });

  it('keeps the token in the sidecar, allowed to delete only the pool\'s own pods', async () => {
    // The probe's own token search, run in both containers of a pod: it finds the sidecar's token, and only there.
    const search = probeScript(world).split('\n').find((line) => line.includes('-name token'))!;
    // Not a pod a job ran in (its sidecar deletes it any moment), but its ready successor.
    await waitFor('a fresh legacy-0 to be ready', 120_000, async () => {
      const pod = await kubectlJson<Any>(['get', 'pod', 'legacy-0', '-n', NS]);
      const ready = pod.status.conditions?.some((c: Any) => c.type === 'Ready' && c.status === 'True');
      return ready && !pod.metadata.deletionTimestamp && !usedPods.has(pod.metadata.uid) ? pod : undefined;
    });
    const inContainer = (container: string) => kubectl(['exec', '-n', NS, 'legacy-0', '-c', container, '--', 'bash', '-c', `${search}; true`]);
    assert.match(await inContainer('recycle'), /KUBERNETES-TOKEN/);
    assert.doesNotMatch(await inContainer('agent'), /KUBERNETES-TOKEN/);

    const sa = `system:serviceaccount:${NS}:legacy-recycler`;
    // `can-i` answers yes or no on stdout, and exits 1 for no.
    const can = async (...args: string[]) => (await run((await cluster()).kubectlPath, ['--kubeconfig', legacyKubeconfig, 'auth', 'can-i', '--as', sa, ...args])).stdout.trim();
    assert.equal(await can('delete', 'pod/legacy-2', '-n', NS), 'yes');
    assert.equal(await can('delete', 'pod/someone-else', '-n', NS), 'no');
    assert.equal(await can('delete', 'pod/legacy-0', '-n', 'default'), 'no');
    assert.equal(await can('get', 'secrets', '-n', NS), 'no');
    assert.equal(await can('create', 'pods', '-n', NS), 'no');
  });

  it('runs no later job in the pod of a job that ended its agent: the sidecar replaces the pod', async () => {
    await assertKilledAgentLeavesNothing(world, POOL, NS, 'legacy-1', 'SIGTERM to PID 1 (the start script)');
  });

  it('rolls out a new image without killing a running job; later jobs run on it', async () => {
    await assertRolloutKillsNoJob(world, POOL, 'legacy-e2e-b', (image) => deploy({ replicas: '3', image, rolloutStatusTimeout: '0' }));
  });

  it('lets a failing agent back off in its pod instead of looping through new pods', async () => {
    await kubectl(['create', 'secret', 'generic', 'wrong-pat', '-n', NS, '--from-literal=token=not-a-valid-pat']);
    const broken = await deploy({ runnerName: 'broken', replicas: '1', credentialType: 'existingSecret', existingSecretName: 'wrong-pat', rolloutStatusTimeout: '0' });
    assert.equal(broken.result, 'Succeeded', broken.message);
    const pod = async () => kubectlJson<Any>(['get', 'pod', 'broken-0', '-n', NS]).catch(() => undefined);
    const registerRestarts = (p: Any) => p?.status?.initContainerStatuses?.find((s: Any) => s.name === 'register')?.restartCount ?? 0;
    let first: Any;
    await world.emulator.admin.waitFor(pod, (p) => registerRestarts(p) >= 1 && (first = p) !== undefined, 60_000, 'the registration to fail once');
    await new Promise((resolve) => setTimeout(resolve, 25_000));
    const later = await pod();
    assert.equal(later.metadata.uid, first.metadata.uid, 'the same pod: no new pod per failure');
    // The kubelet's back-off (10 s, 20 s, 40 s…) allows at most 3 more attempts in 25 s; a 2 s loop would make 12.
    assert.ok(registerRestarts(later) - registerRestarts(first) <= 3, `restarts ${registerRestarts(first)} → ${registerRestarts(later)}`);
    assert.ok(!(await world.emulator.admin.agents(POOL)).some((a) => a.name === 'broken-0'), 'never registered');
  });
});
