// A few Kubernetes objects in memory for flow tests: get, list by equality label selectors as the API server reads
// them, merge patches and deletes recorded. Kubernetes behaviour itself is tested against the real cluster.
import type { KubeClient, KubeObject, ObjectRef } from '../../src/core/ports/kube.js';

export class MemoryKube {
  readonly patched: string[] = [];
  readonly deleted: string[] = [];

  constructor(readonly objects: KubeObject[]) {}

  private find(ref: ObjectRef): KubeObject | undefined {
    return this.objects.find((o) => o.kind === ref.kind && o.metadata.name === ref.name);
  }

  get client(): KubeClient {
    return {
      get: async (ref) => this.find(ref),
      list: async (_apiVersion, kind, _namespace, selector = '') => {
        const wanted = selector.split(',').filter((p) => p !== '').map((p) => p.split('='));
        return this.objects.filter((o) => o.kind === kind && wanted.every(([key, value]) => o.metadata.labels?.[key] === value));
      },
      mergePatch: async (ref) => {
        this.patched.push(`${ref.kind}/${ref.name}`);
        return this.find(ref)!;
      },
      delete: async (ref) => {
        const found = this.find(ref);
        if (found) this.objects.splice(this.objects.indexOf(found), 1);
        this.deleted.push(`${ref.kind}/${ref.name}`);
        return found !== undefined;
      },
      apply: async () => {
        throw new Error('MemoryKube does not apply');
      },
      version: async () => ({ major: 1, minor: 36, gitVersion: 'v1.36.0' }),
    };
  }
}
