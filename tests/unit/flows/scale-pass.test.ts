// ScaleRunnerPool's busy marking selects the pool's pods as its StatefulSet does: a pod of another release that
// shares the instance label is never patched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scalePass } from '../../../src/flows/scale-pass.js';
import { InputReader } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { renderStatefulSet } from '../../../src/core/manifests/index.js';
import { FakeClock } from '../../support/fake-clock.js';
import { FakeKube } from '../../support/fake-kube.js';
import { MemoryHost } from '../../support/memory-host.js';

describe('busy marking', () => {
  it('patches the pool\'s own pods only', async () => {
    const clock = new FakeClock();
    const kube = new FakeKube({ clock, namespaces: ['ns'] });
    const { pool } = readDeployOptions(new InputReader(new MemoryHost({ kubernetesServiceConnection: 'k', namespace: 'ns', poolName: 'Linux', runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p', replicas: '0' })));
    await kube.apply(renderStatefulSet(pool), { fieldManager: 't' });
    for (const [name, app] of [['linux-0', 'azure-devops-runner'], ['linux-1', 'another-chart']]) {
      await kube.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns', labels: { 'app.kubernetes.io/name': app, 'app.kubernetes.io/instance': 'linux' } } }, { fieldManager: 't' });
    }
    const options = { namespace: 'ns', runnerName: 'linux', poolName: 'Linux', organizationUrl: 'https://dev.azure.com/c', target: { mode: 'fixed' as const, replicas: 0 }, dryRun: false, removeStaleRegistrations: false, actor: 'ScaleRunnerPool' as const };
    await scalePass(options, { log: new MemoryHost(), clock }, { kube });
    const patched = kube.calls.filter((call) => call.verb === 'mergePatch' && call.kind === 'Pod').map((call) => call.name);
    assert.deepEqual(patched, ['linux-0']);
  });
});
