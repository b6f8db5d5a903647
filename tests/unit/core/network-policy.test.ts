// The pool's NetworkPolicies, read as a plugin that enforces them would. Egress: the metadata endpoints and the
// kubelet's ports are closed, everything else a job needs stays open. Ingress, with the autoscaler: a runner pod's
// handshake port answers the pool's autoscaler alone, the autoscaler's metrics port no job. (The local test cluster
// enforces no policy: the API server validates the objects in the e2e deploys; what they block is proved here only.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputReader } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { renderRunnerPool, renderStatefulSet } from '../../../src/core/manifests/index.js';
import { inputProblems, MemoryHost } from '../../support/memory-host.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const read = (inputs: Record<string, string> = {}) =>
  readDeployOptions(new InputReader(new MemoryHost({ kubernetesServiceConnection: 'k', poolName: 'Linux', runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p', ...inputs }))).pool;
const policyOf = (inputs?: Record<string, string>) => renderRunnerPool(read(inputs)).find((o) => o.kind === 'NetworkPolicy') as Any;

const ipv4 = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  if (ip.includes(':') !== base.includes(':')) return false;
  if (ip.includes(':')) return Number(bits) === 0 || ip === base; // the only IPv6 blocks here: ::/0 and one /128
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size);
}

/** Whether the policy lets a pod open `protocol` to `ip:port` outside the cluster's pods (an ipBlock peer). */
function allows(policy: Any, ip: string, protocol: string, port: number): boolean {
  return policy.spec.egress.some((rule: Any) =>
    rule.to.some((peer: Any) => peer.ipBlock && inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c: string) => inCidr(ip, c))) &&
    rule.ports.some((p: Any) => p.protocol === protocol && (p.port === undefined || (port >= p.port && port <= (p.endPort ?? p.port)))));
}

describe('egress NetworkPolicy', () => {
  it('is rendered by default, for exactly the StatefulSet\'s pods, egress only', () => {
    const policy = policyOf();
    assert.equal(policy.metadata.name, 'linux-egress');
    assert.deepEqual(policy.spec.podSelector.matchLabels, (renderStatefulSet(read()).spec as Any).selector.matchLabels);
    assert.deepEqual(policy.spec.policyTypes, ['Egress']);
  });

  it('closes the cloud metadata endpoints, on every port', () => {
    for (const ip of ['169.254.169.254', '168.63.129.16', 'fd00:ec2::254']) {
      for (const [protocol, port] of [['TCP', 80], ['TCP', 32526], ['UDP', 53]] as const) assert.equal(allows(policyOf(), ip, protocol, port), false, `${ip} ${protocol}/${port}`);
    }
  });

  it('closes the kubelet\'s ports on any address, and leaves the neighbouring ports open', () => {
    for (const port of [10250, 10255]) assert.equal(allows(policyOf(), '10.224.0.4', 'TCP', port), false, String(port));
    for (const port of [1, 22, 443, 10249, 10251, 10254, 10256, 65535]) assert.equal(allows(policyOf(), '10.224.0.4', 'TCP', port), true, String(port));
  });

  it('leaves open what a job needs: DNS, HTTPS anywhere, other link-local addresses, IPv6, the cluster\'s pods', () => {
    const policy = policyOf();
    assert.ok(allows(policy, '10.0.0.10', 'UDP', 53) && allows(policy, '10.0.0.10', 'TCP', 53));
    assert.ok(allows(policy, '20.42.65.92', 'TCP', 443) && allows(policy, '169.254.1.1', 'TCP', 80) && allows(policy, '2603:1030::1', 'TCP', 443));
    assert.ok(policy.spec.egress[0].to.some((peer: Any) => peer.namespaceSelector !== undefined && Object.keys(peer.namespaceSelector).length === 0));
  });

  it('is left out with restrictEgress false', () => {
    assert.equal(policyOf({ restrictEgress: 'false' }), undefined);
  });
});

/** A pod that opens a connection: its namespace (with that namespace's labels) and its own labels. */
interface Source {
  namespace: string;
  namespaceLabels?: Record<string, string>;
  labels: Record<string, string>;
}

function selects(selector: Any, labels: Record<string, string>): boolean {
  const expressions = selector.matchExpressions ?? [];
  return Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value) && expressions.every((e: Any) => {
    switch (e.operator) {
      case 'In': return e.values.includes(labels[e.key]);
      case 'NotIn': return !(e.key in labels) || !e.values.includes(labels[e.key]);
      case 'Exists': return e.key in labels;
      default: return !(e.key in labels);
    }
  });
}

/** Whether an ingress policy lets `source` open TCP `port` on a pod it selects (NetworkPolicy's rules, ipBlocks aside). */
function admits(policy: Any, source: Source, port: number): boolean {
  const namespaceLabels = { 'kubernetes.io/metadata.name': source.namespace, ...source.namespaceLabels };
  const fromPeer = (peer: Any) =>
    (peer.namespaceSelector ? selects(peer.namespaceSelector, namespaceLabels) : source.namespace === policy.metadata.namespace) &&
    (peer.podSelector === undefined || selects(peer.podSelector, source.labels));
  return policy.spec.ingress.some((rule: Any) =>
    (rule.from === undefined || rule.from.some(fromPeer)) &&
    (rule.ports === undefined || rule.ports.some((p: Any) => p.protocol === 'TCP' && port >= p.port && port <= (p.endPort ?? p.port))));
}

describe('ingress NetworkPolicies of an autoscaled pool', () => {
  const autoscaled = (inputs: Record<string, string> = {}) => renderRunnerPool(read({ autoscaling: 'inCluster', namespace: 'ci', ...inputs }));
  const named = (objects: Any[], name: string) => objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name);
  const objects = autoscaled();
  const handshake = named(objects, 'linux-handshake');
  const metrics = named(objects, 'linux-autoscaler');
  const autoscalerPod = (objects.find((o) => o.kind === 'Deployment') as Any).spec.template.metadata.labels;
  const runnerPod = (renderStatefulSet(read()).spec as Any).template.metadata.labels;
  const other = { labels: { app: 'web' } };

  it('guard the runner pods\' handshake port and the autoscaler\'s pods, ingress only', () => {
    assert.deepEqual(handshake.spec.podSelector.matchLabels, (renderStatefulSet(read()).spec as Any).selector.matchLabels);
    assert.ok(selects(metrics.spec.podSelector, autoscalerPod) && !selects(metrics.spec.podSelector, runnerPod));
    for (const policy of [handshake, metrics]) assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
  });

  it('let only the pool\'s own autoscaler reach a runner pod\'s port 8081', () => {
    assert.equal(admits(handshake, { namespace: 'ci', labels: autoscalerPod }, 8081), true);
    assert.equal(admits(handshake, { namespace: 'ci', labels: runnerPod }, 8081), false, 'a job in another runner pod');
    assert.equal(admits(handshake, { namespace: 'ci', ...other }, 8081), false);
    assert.equal(admits(handshake, { namespace: 'ci', labels: { ...autoscalerPod, 'app.kubernetes.io/instance': 'other' } }, 8081), false, 'another pool\'s autoscaler');
    assert.equal(admits(handshake, { namespace: 'elsewhere', labels: autoscalerPod }, 8081), false, 'a look-alike in another namespace');
  });

  it('leave a runner pod\'s other ports as they were', () => {
    for (const port of [1, 22, 8080, 8082, 65535]) assert.equal(admits(handshake, { namespace: 'elsewhere', ...other }, port), true, String(port));
  });

  it('keep runner pods and other namespaces from the autoscaler\'s metrics port by default, and from its other ports', () => {
    assert.equal(admits(metrics, { namespace: 'ci', ...other }, 9090), true);
    assert.equal(admits(metrics, { namespace: 'ci', labels: runnerPod }, 9090), false, 'a job');
    assert.equal(admits(metrics, { namespace: 'ci', labels: { ...runnerPod, 'app.kubernetes.io/instance': 'windows' } }, 9090), false, 'another runner\'s job');
    assert.equal(admits(metrics, { namespace: 'monitoring', ...other }, 9090), false);
    assert.equal(admits(metrics, { namespace: 'ci', ...other }, 8081), false);
  });

  it('let only this runner\'s own pods reach the autoscaler\'s notice port', () => {
    assert.equal(admits(metrics, { namespace: 'ci', labels: runnerPod }, 9091), true);
    assert.equal(admits(metrics, { namespace: 'ci', labels: { ...runnerPod, 'app.kubernetes.io/instance': 'windows' } }, 9091), false, 'another runner\'s pod');
    assert.equal(admits(metrics, { namespace: 'elsewhere', labels: runnerPod }, 9091), false, 'a look-alike in another namespace');
    assert.equal(admits(metrics, { namespace: 'ci', ...other }, 9091), false);
    assert.equal(admits(metrics, { namespace: 'ci', labels: runnerPod }, 9092), false, 'and no other port');
    const opened = named(autoscaled({ metricsNamespaceSelector: 'kubernetes.io/metadata.name=monitoring' }), 'linux-autoscaler');
    assert.equal(admits(opened, { namespace: 'monitoring', ...other }, 9091), false, 'the metrics readers are not runner pods');
  });

  it('let the namespaces metricsNamespaceSelector names read the metrics, but never their runner pods', () => {
    const opened = named(autoscaled({ metricsNamespaceSelector: 'kubernetes.io/metadata.name=monitoring\nteam=platform' }), 'linux-autoscaler');
    assert.equal(admits(opened, { namespace: 'monitoring', namespaceLabels: { team: 'platform' }, ...other }, 9090), true);
    assert.equal(admits(opened, { namespace: 'monitoring', ...other }, 9090), false, 'every label must match');
    assert.equal(admits(opened, { namespace: 'monitoring', namespaceLabels: { team: 'platform' }, labels: runnerPod }, 9090), false);
    assert.equal(admits(opened, { namespace: 'ci', ...other }, 9090), true, 'its own namespace still');
  });

  it('refuse a metricsNamespaceSelector that is no label selector, naming the input', () => {
    const problems = inputProblems(() => read({ autoscaling: 'inCluster', metricsNamespaceSelector: 'monitoring' }));
    assert.match(problems.join('\n'), /^metricsNamespaceSelector: line 1 must look like KEY=value/m);
    assert.match(inputProblems(() => read({ autoscaling: 'inCluster', metricsNamespaceSelector: 'team=-x' })).join('\n'), /^metricsNamespaceSelector: line 1: '-x' is not a label value/m);
  });

  it('are rendered the same every time, and not at all without the autoscaler', () => {
    assert.equal(JSON.stringify(autoscaled({ metricsNamespaceSelector: 'a=b' })), JSON.stringify(autoscaled({ metricsNamespaceSelector: 'a=b' })));
    assert.deepEqual(renderRunnerPool(read()).filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name), ['linux-egress']);
    assert.ok(named(autoscaled({ restrictEgress: 'false' }), 'linux-handshake'), 'restrictEgress is about egress only');
  });
});
