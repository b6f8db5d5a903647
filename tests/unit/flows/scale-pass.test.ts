// ScaleRunnerPool's busy marking selects the pool's pods as its StatefulSet does: a pod of another release that
// shares the instance label is never patched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import { readScaleOptions } from '../../../src/core/scale-options.js';
import { InputReader } from '../../../src/core/inputs.js';
import { scalePass } from '../../../src/flows/scale-pass.js';
import { MemoryHost } from '../../support/memory-host.js';
import { MemoryKube } from '../../support/memory-kube.js';

const pod = (name: string, app: string): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { 'app.kubernetes.io/name': app, 'app.kubernetes.io/instance': 'linux' } },
});

describe('busy marking', () => {
  it('patches the pool\'s own pods only', async () => {
    const kube = new MemoryKube([
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'linux' }, spec: { replicas: 2 } },
      pod('linux-0', 'azure-devops-runner'),
      pod('linux-1', 'another-chart'),
    ]);
    const options = readScaleOptions(new InputReader(new MemoryHost({ kubernetesServiceConnection: 'k', runnerName: 'linux', mode: 'fixed', replicas: '2', removeStaleRegistrations: 'false' })));
    await scalePass(options, { host: new MemoryHost(), clock: { now: () => 0, sleep: async () => {} } }, { kube: kube.client, target: { mode: 'fixed', replicas: 2 }, drains: true });
    assert.deepEqual(kube.patched, ['Pod/linux-0']);
  });
});
