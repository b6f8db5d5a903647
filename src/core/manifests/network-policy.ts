// The pool's NetworkPolicies. The runner pods' egress (on unless restrictEgress is false): a job reaches what the pod
// network reaches, except the cloud metadata endpoints, which hand out the node's cloud identity, and the kubelet's
// ports. With the in-cluster autoscaler, two ingress policies: a runner pod's handshake port answers the autoscaler
// alone, and the autoscaler's metrics port answers no runner pod, its notice port only the runner's own pods. They take effect only where the network plugin
// enforces NetworkPolicy (Azure CNI with Azure or Calico network policy, Cilium, Calico; not kubenet without one, nor
// a plain bridge); the handshake's own cryptography holds without them (src/core/handshake-trust.ts).
import type { V1NetworkPolicy, V1NetworkPolicyIngressRule, V1NetworkPolicyPeer, V1NetworkPolicySpec } from '@kubernetes/client-node';
import type { RunnerPoolSpec } from '../model.js';
import { autoscalerMetricsPort, autoscalerNoticePort } from '../autoscaler-options.js';
import { handshakePort } from '../registration.js';
import { autoscalerSelector } from './autoscaler.js';
import { poolLabels, poolSelector, selectorKeys, type Manifest } from './pool-labels.js';

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

/** One of the pool's policies, for the pods `pods` selects, with its rules. */
function poolPolicy<Rules extends object>(spec: RunnerPoolSpec, name: string, pods: Record<string, string>, rules: Rules) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: spec.namespace, labels: poolLabels(spec.runnerName) },
    spec: { podSelector: { matchLabels: pods }, ...rules },
  };
}

/** The egress policy of the pool's runner pods (the StatefulSet's selector). */
export function renderEgressPolicy(spec: RunnerPoolSpec): Manifest<V1NetworkPolicy> {
  const to = [
    // Pods and services in the cluster, whichever way the plugin treats ipBlocks for pod addresses.
    { namespaceSelector: {} },
    { ipBlock: { cidr: '0.0.0.0/0', except: [...blockedAddresses.ipv4] } },
    { ipBlock: { cidr: '::/0', except: [...blockedAddresses.ipv6] } },
  ];
  return poolPolicy(spec, egressPolicyName(spec.runnerName), poolSelector(spec.runnerName), {
    policyTypes: ['Egress'],
    // UDP on every port (DNS included); TCP on every port but the kubelet's.
    egress: [{ to, ports: [...tcpPortsExcept(blockedTcpPorts), { protocol: 'UDP' }] }],
  });
}

/** An ingress policy as the API server reads it: the client's type calls `from` `_from`, a name only its serializer maps. */
type IngressPolicy = Manifest<Omit<V1NetworkPolicy, 'spec'> & {
  spec: Omit<V1NetworkPolicySpec, 'ingress'> & { ingress: Array<Omit<V1NetworkPolicyIngressRule, '_from'> & { from?: V1NetworkPolicyPeer[] }> };
}>;

export const handshakePolicyName = (runnerName: string) => `${runnerName}-handshake`;
export const autoscalerPolicyName = (runnerName: string) => `${runnerName}-autoscaler`;

/**
 * The runner pods' ingress: their handshake port answers the pool's autoscaler alone. Every other port stays as open
 * as without a policy (a job's own listeners are the job's business; the product serves nothing else on a runner pod).
 */
export function renderHandshakePolicy(spec: RunnerPoolSpec): IngressPolicy {
  return poolPolicy(spec, handshakePolicyName(spec.runnerName), poolSelector(spec.runnerName), {
    policyTypes: ['Ingress'],
    ingress: [
      { from: [{ podSelector: { matchLabels: autoscalerSelector(spec.runnerName) } }], ports: [{ protocol: 'TCP', port: handshakePort }] },
      { ports: [...tcpPortsExcept([handshakePort]), { protocol: 'UDP' }] },
    ],
  });
}

/**
 * The autoscaler's ingress: its metrics port (/metrics, /healthz) answers pods of its own namespace and of the
 * namespaces `metricsNamespaceSelector` names — never a runner pod of any pool, where jobs run. Its notice port
 * answers this runner's own pods alone (their supervisors' notices, src/core/job-notice.ts). Nothing else reaches it;
 * the kubelet's probes come from the node, which NetworkPolicy always lets through.
 */
export function renderAutoscalerPolicy(spec: RunnerPoolSpec): IngressPolicy {
  const runnerPodName = selectorKeys[0];
  const notRunnerPods = { matchExpressions: [{ key: runnerPodName, operator: 'NotIn', values: [poolLabels(spec.runnerName)[runnerPodName]] }] };
  const namespaces = spec.autoscaler?.metricsNamespaceSelector;
  const from: V1NetworkPolicyPeer[] = [
    { podSelector: notRunnerPods },
    ...(namespaces ? [{ namespaceSelector: { matchLabels: namespaces }, podSelector: notRunnerPods }] : []),
  ];
  return poolPolicy(spec, autoscalerPolicyName(spec.runnerName), autoscalerSelector(spec.runnerName), {
    policyTypes: ['Ingress'],
    ingress: [
      { from, ports: [{ protocol: 'TCP', port: autoscalerMetricsPort }] },
      { from: [{ podSelector: { matchLabels: poolSelector(spec.runnerName) } }], ports: [{ protocol: 'TCP', port: autoscalerNoticePort }] },
    ],
  });
}
