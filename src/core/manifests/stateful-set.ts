// The StatefulSet of a pool's fixed-name slots `<runner>-0 … -N`, each a runner pod (runner-pod.ts).
import type { V1StatefulSet } from '@kubernetes/client-node';
import type { KubeObject } from '../ports/kube.js';
import type { RunnerPoolSpec } from '../model.js';
import { annotations, dockerModeLabel, poolLabels, poolSelector, type Manifest } from './pool-labels.js';
import { runnerPodSpec } from './runner-pod.js';

export function renderStatefulSet(spec: RunnerPoolSpec): Manifest<V1StatefulSet> {
  const labels = poolLabels(spec.runnerName);
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: spec.runnerName,
      namespace: spec.namespace,
      labels,
      annotations: {
        [annotations.pool]: spec.poolName,
        [annotations.organization]: spec.organizationUrl,
        ...(spec.autoscaler && { [annotations.replicasOwner]: 'autoscaler' }),
        ...(spec.cluster !== undefined && { [annotations.cluster]: spec.cluster }),
      },
    },
    spec: {
      replicas: spec.replicas,
      serviceName: spec.runnerName,
      // Parallel: one slot in back-off must not stall the others; OnDelete: a new template never kills a running job,
      // each slot takes it when its pod is replaced after the next job.
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      selector: { matchLabels: poolSelector(spec.runnerName) },
      template: {
        metadata: {
          labels: { ...labels, ...(spec.dockerMode !== 'none' && { [dockerModeLabel]: spec.dockerMode }) },
          annotations: { [annotations.safeToEvict]: 'false' },
        },
        spec: runnerPodSpec(spec),
      },
    },
  };
}

/** True when the server kept the container restart rules that give every job a fresh pod (Kubernetes >= 1.35). */
export function keepsRestartRules(stored: KubeObject): boolean {
  const { spec } = stored as V1StatefulSet;
  return spec?.template.spec?.containers.find((c) => c.name === 'agent')?.restartPolicyRules !== undefined;
}
