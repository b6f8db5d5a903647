// Moving a pool from the recycle sidecar to restart rules: the sidecar's identity stays while a pod of the old
// template still runs as it (its sidecar deletes its own pod after the job), and goes once none does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import { InputReader } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { renderRecycleAccess } from '../../../src/core/manifests/index.js';
import { removeRecycleAccessWhenUnused } from '../../../src/flows/recycle-access.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeKube } from '../../support/fake-kube.js';
import { MemoryHost } from '../../support/memory-host.js';

const { pool } = readDeployOptions(new InputReader(new MemoryHost({ kubernetesServiceConnection: 'k', namespace: 'ns', poolName: 'Linux', runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p' })));
const labels = { 'app.kubernetes.io/name': 'azure-devops-runner', 'app.kubernetes.io/instance': 'linux' };
const pod = (name: string, serviceAccountName?: string, deleting = false): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', labels, ...(deleting && { deletionTimestamp: '2026-01-01T00:00:00Z' }) }, spec: { ...(serviceAccountName && { serviceAccountName }) },
});

async function cluster(objects: KubeObject[]): Promise<FakeKube> {
  const kube = new FakeKube({ clock: new FakeClock(), namespaces: ['ns'] });
  for (const object of objects) await kube.apply(object, { fieldManager: 't' });
  return kube;
}
const deleted = (kube: FakeKube) => kube.calls.filter((call) => call.verb === 'delete').map((call) => `${call.kind}/${call.name}`);

describe('the recycle sidecar\'s access after a move to restart rules', () => {
  it('is kept while a pod of the old template runs as the recycler', async () => {
    const kube = await cluster([...renderRecycleAccess(pool), pod('linux-0'), pod('linux-1', 'linux-recycler')]);
    const host = new MemoryHost();
    await removeRecycleAccessWhenUnused(kube, pool, host);
    assert.deepEqual(deleted(kube), []);
    assert.match(host.log[0], /^Kept the recycle sidecar's ServiceAccount, Role and RoleBinding: linux-1 still run\(s\) the previous template/);
  });

  it('goes, binding first, once no such pod is left (one leaving does not count)', async () => {
    const kube = await cluster([...renderRecycleAccess(pool), pod('linux-0'), pod('linux-1', 'linux-recycler', true)]);
    await removeRecycleAccessWhenUnused(kube, pool, new MemoryHost());
    assert.deepEqual(deleted(kube), ['RoleBinding/linux-recycler', 'Role/linux-recycler', 'ServiceAccount/linux-recycler']);
  });

  it('does nothing for a pool that never had it', async () => {
    const kube = await cluster([pod('linux-0')]);
    const host = new MemoryHost();
    await removeRecycleAccessWhenUnused(kube, pool, host);
    assert.deepEqual([deleted(kube), host.log], [[], []]);
  });
});
