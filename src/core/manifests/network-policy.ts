// The runner pods' egress NetworkPolicy (on unless restrictEgress is false): a job reaches what the pod network
// reaches, except the cloud metadata endpoints, which hand out the node's cloud identity, and the kubelet's ports.
// It takes effect only where the network plugin enforces NetworkPolicy (Azure CNI with Azure or Calico network
// policy, Cilium, Calico; not kubenet without one, nor a plain bridge).
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import type { RunnerPoolSpec } from '../model.js';
import { poolLabels, poolSelector, type Manifest } from './pool-labels.js';

/** Cloud metadata endpoints: Azure's IMDS and the link-local one of other clouds, Azure's WireServer, AWS over IPv6. */
export const blockedAddresses = { ipv4: ['169.254.169.254/32', '168.63.129.16/32'], ipv6: ['fd00:ec2::254/128'] } as const;
/** The kubelet's authenticated API and its old read-only port, closed on every address (the node's IPs are not known here). */
export const blockedTcpPorts = [10250, 10255] as const;

/** Every TCP port but `blocked`, as NetworkPolicy port ranges (policies only allow; what no rule allows is blocked). */
function tcpPortsExcept(blocked: readonly number[]): Array<{ protocol: 'TCP'; port: number; endPort?: number }> {
  const ranges: Array<{ protocol: 'TCP'; port: number; endPort?: number }> = [];
  let from = 1;
  for (const port of [...blocked].sort((a, b) => a - b)) {
    if (port > from) ranges.push({ protocol: 'TCP', port: from, ...(port - 1 > from && { endPort: port - 1 }) });
    from = port + 1;
  }
  ranges.push({ protocol: 'TCP', port: from, endPort: 65535 });
  return ranges;
}

export const egressPolicyName = (runnerName: string) => `${runnerName}-egress`;

/** The egress policy of the pool's runner pods (the StatefulSet's selector). */
export function renderEgressPolicy(spec: RunnerPoolSpec): Manifest<V1NetworkPolicy> {
  const to = [
    // Pods and services in the cluster, whichever way the plugin treats ipBlocks for pod addresses.
    { namespaceSelector: {} },
    { ipBlock: { cidr: '0.0.0.0/0', except: [...blockedAddresses.ipv4] } },
    { ipBlock: { cidr: '::/0', except: [...blockedAddresses.ipv6] } },
  ];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: egressPolicyName(spec.runnerName), namespace: spec.namespace, labels: poolLabels(spec.runnerName) },
    spec: {
      podSelector: { matchLabels: poolSelector(spec.runnerName) },
      policyTypes: ['Egress'],
      // UDP on every port (DNS included); TCP on every port but the kubelet's.
      egress: [{ to, ports: [...tcpPortsExcept(blockedTcpPorts), { protocol: 'UDP' }] }],
    },
  };
}
