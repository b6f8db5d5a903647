// The names every object of a runner pool shares: labels, annotations, the pod identity's variables.
import type { KubeObject } from '../ports/kube.js';

/** A rendered object: the client library's type of its kind, and a KubeObject the KubeClient port can apply. */
export type Manifest<T> = T & KubeObject;

/** Labels every object of a pool carries; the selector uses the first two. */
export function poolLabels(runnerName: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'azure-devops-runner',
    'app.kubernetes.io/instance': runnerName,
    'app.kubernetes.io/managed-by': 'azure-devops-runner',
  };
}

export const selectorKeys = ['app.kubernetes.io/name', 'app.kubernetes.io/instance'] as const;

/** The labels that select a pool's pods. */
export function poolSelector(runnerName: string): Record<string, string> {
  const labels = poolLabels(runnerName);
  return Object.fromEntries(selectorKeys.map((key) => [key, labels[key]]));
}

/** The same, as a label selector for a list or a watch. */
export function poolLabelSelector(runnerName: string): string {
  return Object.entries(poolSelector(runnerName)).map(([key, value]) => `${key}=${value}`).join(',');
}

/** On runner pods of a Docker mode (hostSocket, dind, buildah): the autoscaler keeps off their nodes. */
export const dockerModeLabel = 'azure-devops-runner/docker-mode';

/** Set by ScaleRunnerPool on pods whose agent runs a job; the pool's PodDisruptionBudget protects them. */
export const busyLabel = 'azure-devops-runner/busy';

/**
 * On an autoscaled pool's pods (autoscaling: inCluster), from creation: the pod is not scheduled (no node, no
 * container) until the autoscaler lifts the gate because it wants the slot running (src/core/slot-gate.ts).
 */
export const slotWantedGate = 'azure-devops-runner/slot-wanted';

export const annotations = {
  pool: 'azure-devops-runner/pool',
  organization: 'azure-devops-runner/organization',
  safeToEvict: 'cluster-autoscaler.kubernetes.io/safe-to-evict',
  /** On the StatefulSet: who sets its replica count (ReplicasOwner); absent, DeployRunnerPool's `replicas`. */
  replicasOwner: 'azure-devops-runner/replicas-owner',
  /** On a pod DeployRunnerPool is about to replace: its agent stays disabled, whoever else looks at the pool. */
  draining: 'azure-devops-runner/draining',
  /** On the StatefulSet: its cluster's identity, recorded by the first deploy (src/core/runner-identity.ts). */
  cluster: 'azure-devops-runner/cluster',
  /**
   * On a runner pod: the agent id the autoscaler granted it, written before the grant (src/core/single-use.ts). No pod
   * holds a Kubernetes token, so none can write it: it says which pod holds a registration's key.
   */
  agentId: 'azure-devops-runner/agent-id',
} as const;

/** The environment variables through which a pod's identity reaches Azure DevOps as agent capabilities. */
export const identityVariables = {
  podName: 'RUNNER_POD_NAME',
  podUid: 'RUNNER_POD_UID',
  nodeName: 'RUNNER_NODE_NAME',
  namespace: 'RUNNER_NAMESPACE',
  /** The cluster's identity: with the namespace, whose agent it is in a pool served from several (src/core/runner-identity.ts). */
  cluster: 'RUNNER_CLUSTER',
  image: 'RUNNER_IMAGE',
  runnerName: 'RUNNER_NAME',
  /** DeployRunnerPool's `priority`: which runner of a shared pool counts a job several could take (src/core/assignment.ts). */
  priority: 'RUNNER_PRIORITY',
  /** `autoscaler` when the in-cluster autoscaler scales the runner: only such runners take part in sharing a pool's jobs. */
  scaling: 'RUNNER_SCALING',
} as const;
