// When the autoscaler publishes the hub's snapshot (src/core/snapshot.ts snapshotDue): fresh enough for a page that
// reads it every 15 s, at a fraction of the PUTs of one on every pass that changed something.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { snapshotChangeGapMs, snapshotDue, snapshotRefreshMs } from '../../../src/core/snapshot.js';
import type { PoolSnapshot } from '../../../src/core/model.js';
import type { StuckSlot } from '../../../src/core/slot-start.js';

const snapshot: PoolSnapshot = { id: 'n.r', runnerName: 'r', namespace: 'n', poolName: 'P', organizationUrl: 'u', publishedAt: 't1', publishedBy: 'autoscaler', replicas: 1, pods: [] };
const pulling: StuckSlot = { slot: 0, reason: 'imagePull', kubernetesReason: 'ImagePullBackOff', message: 'Back-off pulling image "r:1"' };

describe('when the hub\'s snapshot is published', () => {
  it('the first at once, an unchanged one every 2 minutes, a change once the last is 15 s old', () => {
    assert.equal(snapshotDue(undefined, snapshot, 0), true);
    assert.equal(snapshotDue({ snapshot, at: 0 }, { ...snapshot, publishedAt: 't2' }, 119_999), false);
    assert.equal(snapshotDue({ snapshot, at: 0 }, { ...snapshot, publishedAt: 't2' }, 120_000), true);
    assert.equal(snapshotDue({ snapshot, at: 0 }, { ...snapshot, replicas: 2 }, 14_999), false);
    assert.equal(snapshotDue({ snapshot, at: 0 }, { ...snapshot, replicas: 2 }, 15_000), true);
  });

  it('after the clock went back, a change at once: it would otherwise wait for the clock to catch up, then 15 s', () => {
    // The old code held it back: false, until 15 s after the earlier time.
    assert.equal(snapshotDue({ snapshot, at: 600_000 }, { ...snapshot, replicas: 2 }, 0), true);
    assert.equal(snapshotDue({ snapshot, at: 600_000 }, { ...snapshot, publishedAt: 't2' }, 0), true, 'unchanged too: the refresh counts from now on');
  });

  it('a slot that cannot start, or starts again, at once; Kubernetes\' changing words wait like any change', () => {
    const stuck = { ...snapshot, stuckSlots: [pulling] };
    assert.equal(snapshotDue({ snapshot, at: 0 }, stuck, 1), true, 'a slot cannot start');
    assert.equal(snapshotDue({ snapshot: stuck, at: 0 }, { ...snapshot, stuckSlots: [{ ...pulling, reason: 'crashBeforeRegistration', kubernetesReason: 'CrashLoopBackOff' }] }, 1), true, 'for another reason');
    assert.equal(snapshotDue({ snapshot: stuck, at: 0 }, { ...snapshot, stuckSlots: [pulling, { ...pulling, slot: 1 }] }, 1), true, 'another slot');
    assert.equal(snapshotDue({ snapshot: stuck, at: 0 }, snapshot, 1), true, 'it starts again');
    assert.equal(snapshotDue({ snapshot: stuck, at: 0 }, { ...snapshot, stuckSlots: [{ ...pulling, message: 'Back-off pulling image "r:1" (2)' }] }, 1), false);
  });

  it('property: over any run of passes, publishes at most every 15 s but for a slot that cannot start, at least every 2 minutes, and a change that holds within 15 s and one pass', () => {
    const pass = fc.record({ afterMs: fc.integer({ min: 1, max: 10_000 }), replicas: fc.integer({ min: 0, max: 2 }), stuck: fc.boolean() });
    fc.assert(fc.property(fc.array(pass, { minLength: 1, maxLength: 60 }), (passes) => {
      let now = 0;
      let last: { snapshot: PoolSnapshot; at: number } | undefined;
      /** Since when the pool has looked as it does now, when that was not published yet. */
      let unpublishedSince: number | undefined;
      for (const { afterMs, replicas, stuck } of passes) {
        now += afterMs;
        const next: PoolSnapshot = { ...snapshot, publishedAt: String(now), replicas, ...(stuck && { stuckSlots: [pulling] }) };
        const changed = last !== undefined && JSON.stringify({ ...last.snapshot, publishedAt: '' }) !== JSON.stringify({ ...next, publishedAt: '' });
        if (!changed) unpublishedSince = undefined;
        else if (last !== undefined && last.snapshot.replicas !== replicas) unpublishedSince ??= now;
        const due = snapshotDue(last, next, now);
        if (last !== undefined) {
          const stuckChanged = Boolean(last.snapshot.stuckSlots) !== stuck;
          if (now - last.at >= snapshotRefreshMs || stuckChanged) assert.ok(due);
          if (due && !stuckChanged) assert.ok(now - last.at >= snapshotChangeGapMs, 'no sooner than 15 s after the last');
          if (!due) assert.ok(unpublishedSince === undefined || now - unpublishedSince < snapshotChangeGapMs + 10_000, 'a change that holds goes out within 15 s and a pass');
        }
        if (due) {
          last = { snapshot: next, at: now };
          unpublishedSince = undefined;
        }
      }
    }));
  });
});
