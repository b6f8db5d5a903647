// The fake cluster's own promises, each the way the real API server and StatefulSet controller behave: the component
// tests are only as good as these.
import { describe, it } from 'node:test';
import type { V1StatefulSet } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { FakeClock } from '../support/fake-clock.js';
import { FakeKube } from '../support/fake-kube.js';
import { renderStatefulSet } from '../../src/core/manifests/index.js';
import { poolLabelSelector, poolSelector } from '../../src/core/manifests/pool-labels.js';
import type { RunnerPoolSpec } from '../../src/core/model.js';
import { replacedSince, type KubeObject } from '../../src/core/ports/kube.js';
import { liftGates } from '../../src/flows/slot-gate.js';
import { MemoryHost } from '../support/memory-host.js';

const spec: RunnerPoolSpec = {
  namespace: 'ns', runnerName: 'r', poolName: 'P', organizationUrl: 'https://dev.azure.com/o', replicas: 3, image: 'img:1',
  credential: { kind: 'pat', token: 't' }, resources: {}, nodeSelector: {}, tolerations: [], env: {}, dockerMode: 'none', podRecycling: 'restartRules', priority: 0,
};
const fieldManager = 'test';
const podRef = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', namespace: 'ns', name });
const stsRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'ns', name: 'r' };

function cluster(options: { podStopSeconds?: number; restartRules?: boolean } = {}) {
  const clock = new FakeClock();
  return { clock, kube: new FakeKube({ clock, namespaces: ['ns'], ...options }) };
}
const live = (kube: FakeKube) => kube.all('Pod', 'ns').filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => p.metadata.name);

describe('FakeKube', () => {
  it('stores nothing on a dry run, and refuses a missing namespace', async () => {
    const { kube } = cluster();
    const stored = await kube.apply(renderStatefulSet(spec), { fieldManager, dryRun: true });
    assert.equal(stored.metadata.name, 'r');
    assert.equal(await kube.get(stsRef), undefined);
    assert.deepEqual(kube.all('Pod', 'ns'), []);
    await assert.rejects(kube.apply(renderStatefulSet({ ...spec, namespace: 'other' }), { fieldManager }), { status: 404, message: 'namespaces "other" not found' });
  });

  it('drops container restart rules where the cluster lacks them', async () => {
    const { kube } = cluster({ restartRules: false });
    const stored = (await kube.apply(renderStatefulSet(spec), { fieldManager, dryRun: true })) as V1StatefulSet;
    assert.equal(stored.spec!.template.spec!.containers[0].restartPolicyRules, undefined);
  });

  it('scales down from the highest ordinal, whatever the pods do, through a grace period', async () => {
    const { clock, kube } = cluster({ podStopSeconds: 10 });
    await kube.apply(renderStatefulSet(spec), { fieldManager });
    assert.deepEqual(live(kube), ['r-0', 'r-1', 'r-2']);
    await kube.mergePatch(stsRef, { spec: { replicas: 1 } }, fieldManager);
    assert.deepEqual(live(kube), ['r-0']);
    assert.ok(kube.peek('Pod', 'ns', 'r-2')!.metadata.deletionTimestamp, 'listed, with a deletionTimestamp, while it stops');
    await clock.advance(10_000);
    assert.deepEqual(kube.all('Pod', 'ns').map((p) => p.metadata.name), ['r-0']);
  });

  it('updates OnDelete: a new template reaches a slot only when its pod is replaced, under the same name with a new UID', async () => {
    const { clock, kube } = cluster({ podStopSeconds: 1 });
    await kube.apply(renderStatefulSet(spec), { fieldManager });
    const first = kube.peek('Pod', 'ns', 'r-0')!;
    await kube.apply(renderStatefulSet({ ...spec, image: 'img:2' }), { fieldManager });
    const revision = (kube.peek('StatefulSet', 'ns', 'r')!.status as { updateRevision: string }).updateRevision;
    assert.notEqual(first.metadata.labels!['controller-revision-hash'], revision);
    assert.equal(kube.peek('Pod', 'ns', 'r-0')!.metadata.uid, first.metadata.uid, 'the running pod is left alone');
    assert.equal(await kube.delete(podRef('r-0'), 'some-other-uid'), false, 'a UID precondition that does not hold (409)');
    assert.equal(await kube.delete(podRef('r-0'), first.metadata.uid), true);
    await clock.advance(1000);
    const second = kube.peek('Pod', 'ns', 'r-0')!;
    assert.notEqual(second.metadata.uid, first.metadata.uid);
    assert.equal(second.metadata.labels!['controller-revision-hash'], revision);
    assert.equal(await kube.delete(podRef('r-0'), first.metadata.uid), false, 'the old UID no longer names anything');
    assert.equal(await kube.delete(podRef('r-9')), false, 'nothing to delete (404)');
    await assert.rejects(kube.mergePatch(podRef('r-9'), {}, fieldManager), { status: 404 });
  });

  it('answers a patch as the API server does: another incarnation\'s UID or a new scheduling gate is invalid (422)', async () => {
    const { kube } = cluster();
    const pod = await kube.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gated', namespace: 'ns' }, spec: { containers: [{ name: 'c', image: 'img:1' }], schedulingGates: [{ name: 'x/y' }] }, status: { phase: 'Pending', conditions: [] } }, fieldManager);
    await assert.rejects(kube.mergePatch(podRef('gated'), { metadata: { uid: 'another' }, spec: { schedulingGates: [] } }, fieldManager), (error) => replacedSince(error));
    await assert.rejects(kube.mergePatch(podRef('gated'), { spec: { schedulingGates: [{ name: 'x/y' }, { name: 'a/b' }] } }, fieldManager), { status: 422 });
    const log = new MemoryHost();
    const replaced = { name: 'gated', ordinal: 0, uid: 'another', keep: [] };
    assert.deepEqual(await liftGates(kube, 'ns', [replaced], fieldManager, log), [replaced], 'a pod replaced since the look is skipped');
    assert.deepEqual(await liftGates(kube, 'ns', [{ name: 'gated', ordinal: 0, uid: pod.metadata.uid!, keep: [] }], fieldManager, log), []);
    assert.deepEqual((kube.peek('Pod', 'ns', 'gated')!.spec as { schedulingGates?: unknown[] }).schedulingGates, []);
  });

  it('tells a watch of what its label selector selects, and of nothing else', async () => {
    const { kube } = cluster();
    await kube.apply(renderStatefulSet(spec), { fieldManager });
    await kube.apply(renderStatefulSet({ ...spec, runnerName: 'other' }), { fieldManager });
    const heard: string[][] = [];
    let last: KubeObject[] = [];
    const watching = new AbortController();
    const watch = kube.watch('v1', 'Pod', 'ns', poolLabelSelector('r'), (pods) => {
      heard.push(pods.map((pod) => pod.metadata.name));
      last = pods;
    }, watching.signal);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(heard, [['r-0', 'r-1', 'r-2']], 'the current list at once');
    await kube.mergePatch(podRef('other-0'), { metadata: { annotations: { note: 'x' } } }, fieldManager);
    await kube.delete(podRef('other-1'));
    assert.equal(heard.length, 1, 'another runner\'s pods change unheard');
    const before = last;
    await kube.mergePatch(podRef('r-1'), { metadata: { annotations: { note: 'x' } } }, fieldManager);
    assert.deepEqual(heard.at(-1), ['r-0', 'r-1', 'r-2']);
    // As from the client's watch: the changed pod is a new object, the others those of the last list.
    assert.deepEqual(last.map((pod, index) => pod === before[index]), [true, false, true]);
    assert.equal(last[1].metadata.annotations?.note, 'x');
    // A pod whose labels no longer match leaves the list, and that is heard.
    await kube.mergePatch(podRef('r-2'), { metadata: { labels: { [Object.keys(poolSelector('r'))[0]]: 'elsewhere' } } }, fieldManager);
    assert.deepEqual(heard.at(-1), ['r-0', 'r-1']);
    watching.abort();
    await watch;
  });
});
