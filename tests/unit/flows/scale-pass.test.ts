// ScaleRunnerPool's busy marking selects the pool's pods as its StatefulSet does: a pod of another release that
// shares the instance label is never patched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeClient, KubeObject, ObjectRef } from '../../../src/core/ports/kube.js';
import { readScaleOptions } from '../../../src/core/scale-options.js';
import { InputReader } from '../../../src/core/inputs.js';
import { scalePass } from '../../../src/flows/scale-pass.js';
import { MemoryHost } from '../../support/memory-host.js';

/** Pods and a StatefulSet in memory; list honours equality label selectors as the API server does. */
function memoryKube(objects: KubeObject[]) {
  const patched: string[] = [];
  const kube = {
    async get(ref: ObjectRef) {
      return objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name);
    },
    async list(_apiVersion: string, kind: string, _namespace: string, selector = '') {
      const wanted = selector.split(',').filter((p) => p !== '').map((p) => p.split('='));
      return objects.filter((o) => o.kind === kind && wanted.every(([key, value]) => o.metadata.labels?.[key] === value));
    },
    async mergePatch(ref: ObjectRef) {
      patched.push(`${ref.kind}/${ref.name}`);
      return objects[0];
    },
  } as unknown as KubeClient;
  return { kube, patched };
}

const pod = (name: string, app: string): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { 'app.kubernetes.io/name': app, 'app.kubernetes.io/instance': 'linux' } },
});

describe('busy marking', () => {
  it('patches the pool\'s own pods only', async () => {
    const { kube, patched } = memoryKube([
      { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'linux' }, spec: { replicas: 2 } },
      pod('linux-0', 'azure-devops-runner'),
      pod('linux-1', 'another-chart'),
    ]);
    const options = readScaleOptions(new InputReader(new MemoryHost({ kubernetesServiceConnection: 'k', runnerName: 'linux', mode: 'fixed', replicas: '2', removeStaleRegistrations: 'false' })));
    await scalePass(options, { host: new MemoryHost(), clock: { now: () => 0, sleep: async () => {} } }, { kube, target: { mode: 'fixed', replicas: 2 }, drains: true });
    assert.deepEqual(patched, ['Pod/linux-0']);
  });
});
