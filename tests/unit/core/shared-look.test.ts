// The look at a pool's job requests that the namespace's runners of the pool share (src/core/shared-look.ts): whose it
// is, when it may be used, what is refused, and the Lease write.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clockSkewMs, largestShared, parseSharedLook, sharedLookAnnotation, sharedLookName, sharedLookOf, sharedLookWrite, usable, type SharedLook } from '../../../src/core/shared-look.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import type { JobRequest } from '../../../src/core/ports/ado.js';

const org = 'https://dev.azure.com/contoso';
const job = { requestId: 7, demands: ['RUNNER_NAME -equals linux'], queueTime: '2026-12-08T01:00:00Z' };
/** A look; `list` may hold what no job request is, for the refusals. */
const look = (at: number, by = 'other-autoscaler', list: unknown[] = [job]): SharedLook => ({ organizationUrl: org, poolId: 3, jobs: { at, by, list: list as JobRequest[] } });
const lease = (value: unknown, metadata: Partial<KubeObject['metadata']> = {}): KubeObject => ({
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'runner-look-x', namespace: 'ci', resourceVersion: '41', ...metadata, annotations: { [sharedLookAnnotation]: typeof value === 'string' ? value : JSON.stringify(value) } },
});
const need = (now: number, after = { at: Number.NEGATIVE_INFINITY, by: 'me' }) => ({ reader: 'me', now, maxAgeMs: 2500, after });

describe('the shared look at a pool\'s job requests', () => {
  it('is named after the organization and the pool as every runner spells them, and differs between pools', () => {
    const name = sharedLookName(org, 'Linux Private');
    assert.match(name, /^runner-look-[0-9a-f]{8}$/);
    assert.equal(sharedLookName(`${org.toUpperCase()}/`, 'linux private'), name);
    assert.notEqual(sharedLookName(org, 'Linux Public'), name);
    assert.notEqual(sharedLookName('https://dev.azure.com/fabrikam', 'Linux Private'), name);
  });

  it('is used only when it is the same pool\'s, of the same organization', () => {
    assert.deepEqual(sharedLookOf(lease(look(1000)), { organizationUrl: `${org}/`, poolId: 3 })?.jobs.list, [job]);
    assert.equal(sharedLookOf(lease(look(1000)), { organizationUrl: org, poolId: 4 }), undefined);
    assert.equal(sharedLookOf(lease(look(1000)), { organizationUrl: 'https://dev.azure.com/fabrikam', poolId: 3 }), undefined);
    assert.equal(sharedLookOf(undefined, { organizationUrl: org, poolId: 3 }), undefined);
  });

  it('refuses a look in which any field has another type, or that is no JSON', () => {
    const broken: unknown[] = [
      '{', 'null', '[]', { ...look(1000), poolId: '3' }, { ...look(1000), organizationUrl: 3 }, { ...look(1000), jobs: undefined },
      { ...look(1000), jobs: { at: 'now', by: 'x', list: [] } }, { ...look(1000), jobs: { at: 1000, list: [] } },
      look(1000, 'x', [{ ...job, requestId: 7.5 }]), look(1000, 'x', [{ ...job, demands: [1] }]), look(1000, 'x', [{ ...job, reservedAgentName: 5 }]),
      look(1000, 'x', [{ ...job, demands: 'RUNNER_NAME' }]), look(1000, 'x', [null]),
    ];
    for (const value of broken) assert.equal(parseSharedLook(typeof value === 'string' ? value : JSON.stringify(value)), undefined, JSON.stringify(value));
    assert.deepEqual(parseSharedLook(JSON.stringify(look(1000))), look(1000));
  });

  it('is young enough for less than the age given, by the reader\'s clock, and not when dated ahead by over the skew', () => {
    const now = 100_000;
    assert.ok(usable(look(now - 2499).jobs, need(now)));
    assert.equal(usable(look(now - 2500).jobs, need(now)), undefined);
    assert.ok(usable(look(now + clockSkewMs).jobs, need(now)));
    assert.equal(usable(look(now + clockSkewMs + 1).jobs, need(now)), undefined);
    // Its own list, on its own clock: no skew to allow for.
    assert.equal(usable(look(now + 1, 'me').jobs, need(now)), undefined);
  });

  it('is read after the reader\'s last write: on its own clock at or after it, on another\'s a skew margin later', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2400 }), fc.integer({ min: 0, max: 2400 }), fc.boolean(), (readAgo, wroteAgo, own) => {
      const now = 1_000_000;
      const read = look(now - readAgo, own ? 'me' : 'other-autoscaler').jobs;
      const used = usable(read, need(now, { at: now - wroteAgo, by: 'me' })) !== undefined;
      assert.equal(used, now - readAgo >= now - wroteAgo + (own ? 0 : clockSkewMs));
    }));
  });

  it('writes the look on the Lease it read, its owners kept and its own StatefulSet added once; a new one whole', () => {
    const owner = { name: 'linux', uid: 'sts-1' };
    const other = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'windows', uid: 'sts-2' };
    const patch = sharedLookWrite('runner-look-x', 'ci', look(5000, 'me'), lease(look(1000), { ownerReferences: [other] }), owner)!;
    assert.equal(patch.metadata.resourceVersion, '41', 'a conflict, not a lost write, when another wrote since');
    assert.deepEqual(patch.metadata.ownerReferences, [other, { apiVersion: 'apps/v1', kind: 'StatefulSet', ...owner }]);
    assert.deepEqual(parseSharedLook(patch.metadata.annotations![sharedLookAnnotation]), look(5000, 'me'));
    const again = sharedLookWrite('runner-look-x', 'ci', look(6000, 'me'), lease(look(5000), { ownerReferences: patch.metadata.ownerReferences }), owner)!;
    assert.equal(again.metadata.ownerReferences, undefined, 'owners left as they are');
    const created = sharedLookWrite('runner-look-x', 'ci', look(5000, 'me'), undefined, owner)!;
    assert.equal(created.metadata.resourceVersion, undefined);
    assert.deepEqual(created.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'StatefulSet', ...owner }]);
  });

  it('is not shared when it would not fit in a Lease\'s annotations', () => {
    const jobs = Array.from({ length: 2000 }, (_, i) => ({ ...job, requestId: i, name: 'CI · Build and test every package of the monorepo' }));
    assert.ok(JSON.stringify(jobs).length > largestShared);
    assert.equal(sharedLookWrite('runner-look-x', 'ci', look(5000, 'me', jobs), undefined, undefined), undefined);
  });
});
