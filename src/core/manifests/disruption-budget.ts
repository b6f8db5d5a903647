// The PodDisruptionBudget that keeps node drains away from busy runner pods.
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { RunnerPoolSpec } from '../model.js';
import { busyLabel, poolLabels, poolSelector, type Manifest } from './pool-labels.js';

/** Node drains may not evict a pod that ScaleRunnerPool has labelled busy (its agent is running a job). */
export function renderDisruptionBudget(spec: RunnerPoolSpec): Manifest<V1PodDisruptionBudget> {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: `${spec.runnerName}-busy`, namespace: spec.namespace, labels: poolLabels(spec.runnerName) },
    spec: {
      maxUnavailable: 0,
      selector: { matchLabels: { ...poolSelector(spec.runnerName), [busyLabel]: 'true' } },
    },
  };
}
