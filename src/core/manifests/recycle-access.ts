// The recycle sidecar's identity (docs/fresh-pod-per-job.md): a ServiceAccount, and a Role that may delete the pool's pods.
import type { V1Role, V1RoleBinding, V1ServiceAccount } from '@kubernetes/client-node';
import { maxReplicas, type RunnerPoolSpec } from '../model.js';
import { poolLabels, type Manifest } from './pool-labels.js';

/** The ServiceAccount (and Role) of the recycle sidecar. */
export function recyclerName(spec: RunnerPoolSpec): string {
  return `${spec.runnerName}-recycler`;
}

/**
 * What the recycle sidecar may do: delete the pool's own pods, by name, and nothing else. The ServiceAccount mounts no
 * token anywhere; the pod asks for a short-lived one in the sidecar's projected volume only.
 */
export function renderRecycleAccess(spec: RunnerPoolSpec): [Manifest<V1ServiceAccount>, Manifest<V1Role>, Manifest<V1RoleBinding>] {
  const metadata = { name: recyclerName(spec), namespace: spec.namespace, labels: poolLabels(spec.runnerName) };
  const slots = Array.from({ length: maxReplicas }, (_, ordinal) => `${spec.runnerName}-${ordinal}`);
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata, automountServiceAccountToken: false },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata,
      rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'], resourceNames: slots }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: metadata.name },
      subjects: [{ kind: 'ServiceAccount', name: metadata.name, namespace: spec.namespace }],
    },
  ];
}
