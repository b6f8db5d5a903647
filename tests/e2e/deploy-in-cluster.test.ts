// E2E: how DeployRunnerPool reaches a cluster. From a pod in the cluster with in-cluster credentials, under the
// least-privilege Role of configs/deployer-rbac.yaml (enforced: pods reach the local cluster's RBAC API server);
// a namespace that identity may not manage gives a clear 403 and changes nothing; an unreachable cluster a clear
// error; the temporary kubeconfig is gone after every run.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl, kubectlJson, legacyApiServer, waitFor } from '../support/cluster.js';
import { kubeconfigEndpoint, parseTaskOutput } from '../support/run-task.js';
import { createNamespace, deleteNamespace, deployerRbac, deployPool, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import { repoRoot } from '../support/task-manifests.js';

const POOL = 'In Cluster Pool';
const NS = 'adr-incluster-e2e';
const OTHER_NS = 'adr-incluster-other';
let world: PoolWorld;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/**
 * Runs the bundled task in a pod under the runner-deployer service account, as a self-hosted agent in the cluster
 * would: the host's Node and the task's bundle come in read-only from the node. Returns what the task reported.
 */
async function deployFromPod(name: string, namespace: string) {
  const inputs: Record<string, string> = {
    INPUT_CONNECTIONTYPE: 'inCluster',
    INPUT_NAMESPACE: namespace,
    INPUT_POOLNAME: POOL,
    INPUT_RUNNERNAME: 'incluster',
    INPUT_AZUREDEVOPSURL: world.emulator.orgUrl,
    INPUT_IMAGE: world.image,
    INPUT_REPLICAS: '1',
    INPUT_ROLLOUTSTATUSTIMEOUT: '180',
    AGENT_TEMPDIRECTORY: '/tmp',
  };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      serviceAccountName: 'runner-deployer',
      restartPolicy: 'Never',
      securityContext: { runAsNonRoot: true, runAsUser: 10001 },
      containers: [
        {
          name: 'task',
          image: world.image,
          command: ['/opt/node', '/task/index.js'],
          env: [
            ...Object.entries(inputs).map(([key, value]) => ({ name: key, value })),
            { name: 'INPUT_PERSONALACCESSTOKEN', valueFrom: { secretKeyRef: { name: 'deployer-pat', key: 'token' } } },
          ],
          volumeMounts: [
            { name: 'node', mountPath: '/opt/node', readOnly: true },
            { name: 'task', mountPath: '/task', readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: 'node', hostPath: { path: realpathSync(process.execPath), type: 'File' } },
        { name: 'task', hostPath: { path: join(repoRoot, 'dist', 'extension', 'tasks', 'DeployRunnerPool'), type: 'Directory' } },
      ],
    },
  };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  await waitFor(`pod ${name} to finish`, 300_000, async () => {
    const phase = (await kubectlJson<Any>(['get', 'pod', name, '-n', NS])).status.phase;
    return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
  });
  return parseTaskOutput('DeployRunnerPool', await kubectl(['logs', name, '-n', NS]));
}

describe('DeployRunnerPool connections', { timeout: 15 * 60_000 }, () => {
  before(async () => {
    world = await startPoolWorld(POOL, 'incluster-e2e');
    await legacyApiServer();
    await createNamespace(NS);
    await createNamespace(OTHER_NS);
    await kubectl(['apply', '-f', '-'], { input: deployerRbac(NS) });
    await kubectl(['create', 'secret', 'generic', 'deployer-pat', '-n', NS, `--from-literal=token=${world.token}`]);
  });

  after(async () => {
    await deleteNamespace(NS);
    await deleteNamespace(OTHER_NS);
    await world?.stop();
  });

  it('deploys from a pod in the cluster with in-cluster credentials and the least-privilege Role', async () => {
    const result = await deployFromPod('deploy-in-cluster', NS);
    assert.equal(result.result, 'Succeeded', `${result.message}\n${result.stdout}`);
    // The agent masks a secret variable in every line; the task adds nothing of its own that holds the PAT.
    const ownLines = result.stdout.split('\n').filter((line) => !/^##vso\[task\.(debug|setsecret)\]/.test(line));
    assert.ok(!ownLines.some((line) => line.includes(world.token)), 'the PAT is only in lines the agent masks');
    const sts = await kubectlJson<Any>(['get', 'statefulset', 'incluster', '-n', NS]);
    assert.equal(sts.status.readyReplicas, 1);
  });

  it('says which namespace its identity may not manage (403), and changes nothing there', async () => {
    const result = await deployFromPod('deploy-forbidden', OTHER_NS);
    assert.equal(result.result, 'Failed');
    assert.match(result.message ?? '', new RegExp(`may not manage the runner pool in namespace '${OTHER_NS}' \\(403 Forbidden\\)`));
    assert.equal(await kubectl(['get', 'all,secrets,roles', '-n', OTHER_NS, '-l', 'app.kubernetes.io/instance=incluster', '-o', 'name']), '');
  });

  it('names an unreachable cluster, and leaves no kubeconfig behind whatever the outcome', async () => {
    const unreachable = kubeconfigEndpoint(readFileSync(world.cluster.kubeconfig, 'utf8').replace(/server: .*/, 'server: https://127.0.0.1:9'));
    const inputs = { namespace: NS, poolName: POOL, runnerName: 'unreachable' };
    const failed = await deployPool(world, inputs, unreachable);
    assert.equal(failed.result, 'Failed');
    assert.match(failed.message ?? '', /cannot reach the cluster at https:\/\/127\.0\.0\.1:9/);
    const applied = await deployPool(world, { ...inputs, runnerName: 'reachable', replicas: '0' });
    assert.equal(applied.result, 'Succeeded', applied.message);
    for (const run of [failed, applied]) {
      assert.deepEqual(readdirSync(run.tempDirectory).filter((entry) => entry.startsWith('kubeconfig-')), [], 'the temporary kubeconfig is removed');
    }
  });
});
