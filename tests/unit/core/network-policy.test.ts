// The runner pods' egress NetworkPolicy, read as a plugin that enforces it would: the metadata endpoints and the
// kubelet's ports are closed, everything else a job needs stays open. (The local test cluster enforces no policy:
// the API server validates the object in the e2e deploys; what it blocks is proved here only.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputReader } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { renderRunnerPool, renderStatefulSet } from '../../../src/core/manifests/index.js';
import { MemoryHost } from '../../support/memory-host.js';

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
