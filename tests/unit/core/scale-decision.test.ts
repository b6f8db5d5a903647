// The scaling decision, checked on examples and as properties over random pool states.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideScale, enabledChanges, runningBy, registeredSlots, staleRegistrations, type PoolObservation, type ScaleTarget } from '../../../src/core/scale-decision.js';
import { slotOrdinal } from '../../../src/core/slots.js';
import type { AgentInfo } from '../../../src/core/model.js';

const queue = (minReplicas: number, maxReplicas: number, standby = 0): ScaleTarget => ({ mode: 'queue', limits: { minReplicas, maxReplicas, standby } });

describe('decideScale', () => {
  it('says how its running count follows from the busy slots: queued jobs and standby added, within the limits', () => {
    const queue = (minReplicas: number, maxReplicas: number, standby: number): ScaleTarget => ({ mode: 'queue', limits: { minReplicas, maxReplicas, standby } });
    const observed = { currentReplicas: 4, busyOrdinals: [0, 1, 3], queuedJobs: 1 };
    assert.deepEqual(decideScale(queue(0, 10, 1), observed).runningRule, { beyondBusy: 2, least: 0, most: 10 });
    assert.deepEqual(decideScale({ mode: 'fixed', replicas: 2 }, observed).runningRule, { beyondBusy: 2, least: 2, most: 2 });
    // No registration yet: slot 0 runs once whatever ends.
    assert.equal(decideScale(queue(0, 5, 0), { currentReplicas: 0, busyOrdinals: [], queuedJobs: 0, registered: false }).runningRule.least, 1);
  });

  it('property: its rule gives busy + queued + standby within the limits (1 with no registration), for any busy count', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.nat(20)), fc.nat(10), fc.nat(5), fc.nat(5), fc.nat(15), fc.boolean(), fc.nat(20), (busyOrdinals, queuedJobs, standby, minReplicas, more, registered, busy) => {
      const maxReplicas = minReplicas + more;
      const { runningRule } = decideScale({ mode: 'queue', limits: { minReplicas, maxReplicas, standby } }, { currentReplicas: 3, busyOrdinals, queuedJobs, registered });
      const clamp = (count: number) => Math.min(maxReplicas, Math.max(minReplicas, count));
      const firstRegistration = !registered && clamp(busyOrdinals.length + queuedJobs + standby) === 0 && maxReplicas > 0;
      assert.equal(runningBy(runningRule, busy), firstRegistration ? Math.min(maxReplicas, Math.max(1, busy)) : clamp(busy + queuedJobs + standby));
    }));
  });

  it('adds busy, queued and standby', () => {
    const d = decideScale(queue(0, 10, 1), { currentReplicas: 2, busyOrdinals: [0, 1], queuedJobs: 3 });
    assert.equal(d.replicas, 6);
    assert.equal(d.reason, '2 busy + 3 queued + 1 standby = 6; scale up from 2 to 6');
  });

  it('clamps to the limits', () => {
    assert.equal(decideScale(queue(0, 5), { currentReplicas: 0, busyOrdinals: [], queuedJobs: 2000 }).replicas, 5);
    assert.equal(decideScale(queue(2, 5), { currentReplicas: 0, busyOrdinals: [], queuedJobs: 0 }).replicas, 2);
  });

  it('defers a scale-down while a high slot is busy, and says so', () => {
    const d = decideScale(queue(0, 10), { currentReplicas: 5, busyOrdinals: [4], queuedJobs: 0 });
    assert.equal(d.replicas, 5);
    assert.match(d.reason, /scale-down to 1 deferred: slot 4 is busy, so 5 stay until its job ends/);
    assert.equal(d.action, 'deferred');
  });

  it('keeps a busy slot above a lowered maximum or a fixed count', () => {
    const lowered = decideScale(queue(0, 2), { currentReplicas: 8, busyOrdinals: [7], queuedJobs: 0 });
    assert.equal(lowered.replicas, 8);
    assert.equal(lowered.reason, '1 busy + 0 queued + 0 standby = 1; scale-down to 1 deferred: slot 7 is busy, so 8 stay until its job ends (above maxReplicas 2: a busy slot is never removed)');
    assert.equal(decideScale({ mode: 'fixed', replicas: 0 }, { currentReplicas: 3, busyOrdinals: [1], queuedJobs: 9 }).replicas, 2);
  });

  it('after a drain, removes no slot that still takes jobs, and never adds one for it', () => {
    fc.assert(
      fc.property(target, observation, fc.uniqueArray(fc.integer({ min: 0, max: 599 }), { maxLength: 40 }), (t, o, undrained) => {
        const before = decideScale(t, o);
        const after = decideScale(t, { ...o, undrained });
        const kept = undrained.filter((ordinal) => ordinal < o.currentReplicas);
        if (after.replicas < o.currentReplicas) assert.ok(kept.every((ordinal) => ordinal < after.replicas), `${after.reason} removes one of ${kept}`);
        assert.equal(after.replicas, Math.max(before.replicas, kept.length === 0 ? 0 : Math.max(...kept) + 1));
      }),
    );
    const d = decideScale(queue(0, 10), { currentReplicas: 4, busyOrdinals: [], queuedJobs: 0, undrained: [0, 1] });
    assert.equal(d.reason, '0 busy + 0 queued + 0 standby = 0; scale-down to 0 deferred: slot 1 was not drained (it takes jobs), so 2 stay until a later pass drains it');
  });

  const observation = fc.record({
    currentReplicas: fc.integer({ min: 0, max: 600 }),
    busyOrdinals: fc.uniqueArray(fc.integer({ min: 0, max: 599 }), { maxLength: 40 }),
    queuedJobs: fc.integer({ min: 0, max: 5000 }),
  });
  const target = fc.oneof(
    fc.record({ mode: fc.constant('fixed' as const), replicas: fc.integer({ min: 0, max: 500 }) }),
    fc
      .tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 20 }))
      .map(([a, b, standby]) => queue(Math.min(a, b), Math.max(a, b), standby)),
  );

  it('never goes below the highest busy slot + 1', () => {
    fc.assert(
      fc.property(target, observation, (t, o: PoolObservation) => {
        const floor = o.busyOrdinals.length === 0 ? 0 : Math.max(...o.busyOrdinals) + 1;
        assert.ok(decideScale(t, o).replicas >= floor);
      }),
    );
  });

  it('stays within min and max unless a busy slot needs more', () => {
    fc.assert(
      fc.property(target, observation, (t, o) => {
        if (t.mode !== 'queue') return;
        const floor = o.busyOrdinals.length === 0 ? 0 : Math.max(...o.busyOrdinals) + 1;
        const { replicas } = decideScale(t, o);
        assert.ok(replicas >= t.limits.minReplicas);
        assert.ok(replicas <= Math.max(t.limits.maxReplicas, floor));
      }),
    );
  });

  it('says so whenever busy slots keep the pool above maxReplicas, naming the highest', () => {
    fc.assert(
      fc.property(target, observation, (t, o) => {
        if (t.mode !== 'queue') return;
        const { replicas, reason } = decideScale(t, o);
        if (replicas <= t.limits.maxReplicas) return;
        assert.equal(replicas, Math.max(...o.busyOrdinals) + 1);
        assert.ok(reason.endsWith(`slot ${replicas - 1} is busy, so ${replicas} stay until its job ends (above maxReplicas ${t.limits.maxReplicas}: a busy slot is never removed)`), reason);
      }),
    );
  });

  it('is idempotent: applying the decision and deciding again changes nothing', () => {
    fc.assert(
      fc.property(target, observation, (t, o) => {
        const first = decideScale(t, o);
        const second = decideScale(t, { ...o, currentReplicas: first.replicas });
        assert.equal(second.replicas, first.replicas);
        assert.match(second.reason, /no change|deferred/);
        assert.ok(['no_change', 'deferred'].includes(second.action), second.action);
        // The action says what the count does, as the reason does in words.
        assert.equal(first.action === 'scale_up', first.replicas > o.currentReplicas);
        assert.equal(first.action === 'scale_down', first.replicas < o.currentReplicas);
        assert.equal(first.action === 'deferred', /deferred/.test(first.reason) && first.replicas === o.currentReplicas);
      }),
    );
  });
});

describe('decideScale with slots that cannot start', () => {
  const pull = { slot: 1, reason: 'imagePull' as const, kubernetesReason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' };
  const crash = { slot: 1, reason: 'crashBeforeRegistration' as const, kubernetesReason: 'CrashLoopBackOff', message: 'back-off 40s' };

  it('holds a queue-driven pool at its size when a new slot would not start either, and says why', () => {
    const d = decideScale(queue(0, 10), { currentReplicas: 2, busyOrdinals: [0], queuedJobs: 4, stuck: [pull] });
    assert.equal(d.replicas, 2);
    assert.equal(d.reason, '1 busy + 4 queued + 0 standby = 5; slot 1 cannot start: ImagePullBackOff (Back-off pulling image "x"); scale-up to 5 held at 2: a new slot would not start either');
    assert.equal(d.action, 'held');
  });

  it('grows past a slot no node takes yet: a node autoscaler adds nodes for the pods that wait', () => {
    const unschedulable = { slot: 1, reason: 'unschedulable' as const, kubernetesReason: 'Unschedulable', message: '0/1 nodes are available: 1 Insufficient cpu.' };
    const d = decideScale(queue(0, 10), { currentReplicas: 2, busyOrdinals: [], queuedJobs: 4, stuck: [unschedulable] });
    assert.equal(d.replicas, 4);
    assert.match(d.reason, /slot 1 cannot start: Unschedulable \(0\/1 nodes are available: 1 Insufficient cpu\.\); scale up from 2 to 4$/);
  });

  it('still scales down, keeps a fixed count, and grows past a crash (one pod\'s trouble), saying so each time', () => {
    const down = decideScale(queue(0, 10), { currentReplicas: 3, busyOrdinals: [], queuedJobs: 0, stuck: [pull] });
    assert.equal(down.replicas, 0);
    assert.match(down.reason, /slot 1 cannot start: ImagePullBackOff .*; scale down from 3 to 0$/);
    assert.equal(decideScale({ mode: 'fixed', replicas: 4 }, { currentReplicas: 2, busyOrdinals: [], queuedJobs: 0, stuck: [pull] }).replicas, 4);
    const crashed = decideScale(queue(0, 10), { currentReplicas: 2, busyOrdinals: [], queuedJobs: 3, stuck: [crash] });
    assert.equal(crashed.replicas, 3);
    assert.match(crashed.reason, /slot 1 cannot start: CrashLoopBackOff \(back-off 40s\); scale up from 2 to 3$/);
  });
});

describe('slots and registrations', () => {
  it('reads the slot ordinal only from this runner\'s names', () => {
    assert.equal(slotOrdinal('linux', 'linux-0'), 0);
    assert.equal(slotOrdinal('linux', 'linux-12'), 12);
    assert.equal(slotOrdinal('linux', 'linux-gpu-1'), undefined);
    assert.equal(slotOrdinal('linux', 'linux-01'), undefined);
    assert.equal(slotOrdinal('linux', 'other-1'), undefined);
    assert.equal(slotOrdinal('linux', 'linux'), undefined);
    assert.equal(slotOrdinal('linux-x', 'linux-x-0'), 0);
  });

  const agent = (name: string, status: 'online' | 'offline', busyWith?: number, enabled = true): AgentInfo => ({ id: 1, name, status, enabled, busyWith, capabilities: {} });

  it('drains the slots a scale-down removes and enables again the slots the pool keeps', () => {
    const agents = [agent('linux-0', 'online', undefined, false), agent('linux-1', 'online'), agent('linux-2', 'online'), agent('linux-3', 'offline', undefined, false), agent('manual-9', 'online')];
    const changes = enabledChanges('linux', agents, 2);
    assert.deepEqual(changes.disable.map((a) => a.name), ['linux-2']);
    assert.deepEqual(changes.enable.map((a) => a.name), ['linux-0']);
  });

  it('a job that reaches a draining slot before its drain keeps the slot, and the slot takes jobs again', () => {
    // First look: slot 4 idle, so fixed 2 scales 5 → 2 and drains slots 2-4. Second look: slot 4 took a job meanwhile.
    const target: ScaleTarget = { mode: 'fixed', replicas: 2 };
    const first = decideScale(target, { currentReplicas: 5, busyOrdinals: [], queuedJobs: 0 });
    const drained = enabledChanges('linux', ['linux-0', 'linux-1', 'linux-2', 'linux-3', 'linux-4'].map((name) => agent(name, 'online')), first.replicas).disable;
    assert.deepEqual(drained.map((a) => a.name), ['linux-2', 'linux-3', 'linux-4']);
    const second = decideScale(target, { currentReplicas: 5, busyOrdinals: [4], queuedJobs: 0 });
    assert.equal(second.replicas, 5);
    const afterDrain = ['linux-0', 'linux-1'].map((name) => agent(name, 'online')).concat(drained.map((a) => ({ ...a, enabled: false, busyWith: a.name === 'linux-4' ? 7 : undefined })));
    assert.deepEqual(enabledChanges('linux', afterDrain, second.replicas).enable.map((a) => a.name), ['linux-2', 'linux-3', 'linux-4']);
  });

  it('keeps the registrations of every slot the pool keeps, above a fixed count or the maximum too', () => {
    assert.equal(registeredSlots({ mode: 'fixed', replicas: 2 }, 5), 5);
    assert.equal(registeredSlots({ mode: 'fixed', replicas: 3 }, 3), 3);
    assert.equal(registeredSlots(queue(0, 10), 4), 10);
    assert.equal(registeredSlots(queue(0, 2), 8), 8);
  });

  it('removes only offline, idle registrations of this runner at or above the kept slots', () => {
    const agents = [agent('linux-0', 'offline'), agent('linux-3', 'offline'), agent('linux-4', 'online'), agent('linux-5', 'offline', 7), agent('linux-6', 'offline'), agent('manual-9', 'offline')];
    assert.deepEqual(staleRegistrations('linux', agents, 3).map((a) => a.name), ['linux-3', 'linux-6']);
  });

  it('always keeps slot 0 as the placeholder that lets jobs queue at zero', () => {
    assert.deepEqual(staleRegistrations('linux', [agent('linux-0', 'offline'), agent('linux-1', 'offline')], 0).map((a) => a.name), ['linux-1']);
  });
});
