// The inputs that say which cluster and namespace a task works on, shared by DeployRunnerPool and ScaleRunnerPool.
import type { InputReader } from './inputs.js';
import type { ClusterConnection } from './model.js';

export interface ClusterTarget {
  connection: ClusterConnection;
  namespace: string;
}

export function readClusterTarget(inputs: InputReader): ClusterTarget {
  const type = inputs.choice('connectionType', ['kubernetesServiceConnection', 'inCluster'] as const, 'kubernetesServiceConnection');
  const connection: ClusterConnection =
    type === 'inCluster'
      ? { kind: 'inCluster' }
      : { kind: 'kubernetesServiceConnection', endpointId: inputs.required('kubernetesServiceConnection') };
  return { connection, namespace: inputs.dnsLabel('namespace', 'azure-pipelines') };
}
