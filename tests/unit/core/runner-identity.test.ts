// Whose agent is it (src/core/runner-identity.ts): on examples, and as properties over runners of one pool in several
// clusters and namespaces.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clusterRunnerName, defaultNamedRunner, otherOwner, ownAgents, ownSlot, runnerTag, withOwnIdentity, type RunnerIdentity } from '../../../src/core/runner-identity.js';
import { dnsLabelProblem } from '../../../src/core/kube-syntax.js';
import { maxRunnerNameLength } from '../../../src/core/deploy-options.js';
import type { AgentInfo } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';

const blue: RunnerIdentity = { runnerName: 'linux', namespace: 'runners', cluster: 'blue-uid' };
const agent = (name: string, capabilities: Record<string, string> = {}): AgentInfo => ({ id: 1, name, status: 'offline', enabled: true, capabilities });
const of = (cluster: string | undefined, namespace: string | undefined) => ({ ...(cluster && { RUNNER_CLUSTER: cluster }), ...(namespace && { RUNNER_NAMESPACE: namespace }) });
const statefulSet = (name: string, poolName: string, cluster?: string): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'StatefulSet',
  metadata: { name, namespace: 'runners', annotations: { 'azure-devops-runner/pool': poolName, ...(cluster && { 'azure-devops-runner/cluster': cluster }) } },
});

describe('whose agent it is', () => {
  it('owns the agents of its slots that carry its cluster and namespace, whatever another cluster names its own', () => {
    assert.equal(ownSlot(blue, agent('linux-3', of('blue-uid', 'runners'))), 3);
    assert.equal(ownSlot(blue, agent('linux-3', of('green-uid', 'runners'))), undefined, 'the same name from another cluster');
    assert.equal(ownSlot(blue, agent('linux-3', of('blue-uid', 'other'))), undefined, 'the same name from another namespace');
    assert.equal(ownSlot(blue, agent('linux-large-0', of('blue-uid', 'runners'))), undefined, 'another runner\'s slot');
    assert.equal(otherOwner(blue, agent('linux-3', of('green-uid', 'runners'))), "the runner of namespace 'runners' in cluster green-uid");
    assert.equal(otherOwner(blue, agent('linux-3', of(undefined, 'other'))), "the runner of namespace 'other' (registered before cluster identities)");
    assert.equal(otherOwner(blue, agent('linux-3', of('blue-uid', 'runners'))), undefined);
    assert.equal(otherOwner(blue, agent('windows-0', of('green-uid', 'runners'))), undefined, 'a name that is not its slot takes nothing from it');
  });

  it('adopts a registration from before identities unless it names another namespace', () => {
    assert.equal(ownSlot(blue, agent('linux-0')), 0);
    assert.equal(ownSlot(blue, agent('linux-0', of(undefined, 'runners'))), 0);
    assert.equal(ownSlot(blue, agent('linux-0', of(undefined, 'other'))), undefined);
    // A runner deployed before identities (none recorded) owns only such registrations.
    const legacy = { runnerName: 'linux', namespace: 'runners' };
    assert.deepEqual(ownAgents(legacy, [agent('linux-0'), agent('linux-1', of('blue-uid', 'runners'))]).map((a) => a.name), ['linux-0']);
  });

  it('owns an agent id it granted under a slot\'s name whatever its session claims, and no other for it', () => {
    const granting: RunnerIdentity = { ...blue, granted: new Set([1]) };
    const rewritten = agent('linux-3', of('green-uid', 'elsewhere'));
    assert.equal(ownSlot(blue, rewritten), undefined, 'by its capabilities, another runner\'s');
    assert.equal(ownSlot(granting, rewritten), 3);
    assert.equal(otherOwner(granting, rewritten), undefined, 'so its slot\'s next pod is not refused');
    assert.equal(ownSlot(granting, { ...rewritten, id: 2 }), undefined, 'another agent id');
    assert.equal(ownSlot(granting, { ...rewritten, name: 'windows-3' }), undefined, 'not one of its slots');
  });

  it('no agent is owned by two runners of one pool, whichever clusters, namespaces and names they have', () => {
    const names = fc.constantFrom('linux', 'linux-1', 'gpu');
    const clusters = fc.constantFrom('blue-uid', 'green-uid');
    const namespaces = fc.constantFrom('runners', 'ci');
    const runner = fc.record({ runnerName: names, namespace: namespaces, cluster: clusters });
    const someAgent = fc.record({ name: fc.tuple(names, fc.nat(3)).map(([n, i]) => `${n}-${i}`), cluster: clusters, namespace: namespaces })
      .map(({ name, cluster, namespace }) => agent(name, of(cluster, namespace)));
    fc.assert(fc.property(runner, runner, someAgent, (a, b, registration) => {
      const sameRunner = a.runnerName === b.runnerName && a.namespace === b.namespace && a.cluster === b.cluster;
      if (!sameRunner) assert.ok(ownSlot(a, registration) === undefined || ownSlot(b, registration) === undefined);
      // An agent of a runner's slot is either its own or names its owner.
      const slotOfA = registration.name.startsWith(`${a.runnerName}-`) && /^\d+$/.test(registration.name.slice(a.runnerName.length + 1));
      if (slotOfA) assert.notEqual(ownSlot(a, registration) === undefined, otherOwner(a, registration) === undefined);
    }));
  });
});

describe('a registration\'s identity', () => {
  it('is the runner\'s own whatever the pod asked for, so no pod can give its slot away', () => {
    const self: RunnerIdentity = { runnerName: 'linux', namespace: 'blue', cluster: 'c-1' };
    const forged = withOwnIdentity({ 'Agent.Name': 'linux-0', RUNNER_CLUSTER: 'forged', RUNNER_NAMESPACE: 'green' }, self);
    assert.deepEqual(forged, { 'Agent.Name': 'linux-0', RUNNER_CLUSTER: 'c-1', RUNNER_NAMESPACE: 'blue' });
    assert.equal(ownSlot(self, { name: 'linux-0', capabilities: forged }), 0);
    // A runner deployed before identities records none, and so keeps owning what it registers.
    const older: RunnerIdentity = { runnerName: 'linux', namespace: 'blue' };
    const registered = withOwnIdentity({ RUNNER_CLUSTER: 'forged' }, older);
    assert.deepEqual(registered, { RUNNER_NAMESPACE: 'blue' });
    assert.equal(ownSlot(older, { name: 'linux-3', capabilities: registered }), 3);
  });
});

describe('default runner names', () => {
  it('tag the pool\'s name with its cluster and namespace: a DNS label, stable, and different per cluster and namespace', () => {
    const name = clusterRunnerName('Linux Private', 'blue-uid', 'runners');
    assert.match(name, /^linux-private-[0-9a-z]{5}$/);
    assert.equal(clusterRunnerName('Linux Private', 'blue-uid', 'runners'), name);
    assert.notEqual(clusterRunnerName('Linux Private', 'green-uid', 'runners'), name);
    assert.notEqual(clusterRunnerName('Linux Private', 'blue-uid', 'ci'), name);
    fc.assert(fc.property(fc.string({ maxLength: 300 }), fc.uuid(), fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?$/), (pool, cluster, namespace) => {
      const named = clusterRunnerName(pool, cluster, namespace);
      assert.equal(dnsLabelProblem(named, maxRunnerNameLength), undefined, named);
      assert.ok(named.endsWith(`-${runnerTag(cluster, namespace)}`));
    }));
  });

  it('keeps the name a runner was deployed under: the pool\'s alone from before identities, else its recorded cluster\'s', () => {
    const tagged = clusterRunnerName('Linux Private', 'blue-uid', 'runners');
    assert.equal(defaultNamedRunner('Linux Private', [statefulSet('linux-private', 'Linux Private')])?.metadata.name, 'linux-private');
    assert.equal(defaultNamedRunner('linux private', [statefulSet('small', 'Linux Private', 'blue-uid'), statefulSet(tagged, 'Linux Private', 'blue-uid')])?.metadata.name, tagged);
    assert.equal(defaultNamedRunner('Linux Private', [statefulSet('linux-private', 'Other pool')]), undefined, 'the same name for another pool');
    assert.equal(defaultNamedRunner('Linux Private', [statefulSet(tagged, 'Linux Private', 'green-uid')]), undefined, 'a name its own record does not give');
  });
});
