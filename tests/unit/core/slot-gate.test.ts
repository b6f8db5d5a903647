// The slot-wanted scheduling gate (src/core/slot-gate.ts), on examples and as properties over random pools of pods.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { afterJobsEnded, isGated, pendingUngates, planGates } from '../../../src/core/slot-gate.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';

const gate = 'azure-devops-runner/slot-wanted';
type State = 'gated' | 'running' | 'ended' | 'deleting' | 'missing';

/** Slot `slot`'s pod in `state` (missing: none); `otherGate`: another controller's gate beside ours. */
const slotPod = (slot: number, state: Exclude<State, 'missing'>, otherGate = false): KubeObject => (({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: `linux-${slot}`, uid: `uid-${slot}`, ...(state === 'deleting' && { deletionTimestamp: '2026-12-08T10:00:00Z' }) },
  spec: { containers: [], ...(state === 'gated' || otherGate ? { schedulingGates: [...(state === 'gated' ? [{ name: gate }] : []), ...(otherGate ? [{ name: 'example.com/quota' }] : [])] } : {}) },
  status: state === 'gated'
    ? { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }
    : { phase: state === 'ended' ? 'Succeeded' : 'Running', containerStatuses: [{ name: 'agent', state: state === 'ended' ? { terminated: { exitCode: 0 } } : { running: {} } }] },
}));

const pods = (states: State[]) => states.flatMap((state, slot) => (state === 'missing' ? [] : [slotPod(slot, state)]));

/** The pods after the plan acted, and the pending slots' new pods came up gated and were un-gated. */
function acted(states: State[], plan: ReturnType<typeof planGates>): State[] {
  const started = new Set([...plan.ungate.map((pod) => Number(pod.name.split('-')[1])), ...plan.pending]);
  return states.map((state, slot) => (started.has(slot) ? 'running' : state === 'missing' || state === 'ended' || state === 'deleting' ? 'gated' : state));
}

describe('the slot-wanted gate', () => {
  it('un-gates the lowest gated slots up to the slots wanted running, counting those that run', () => {
    const plan = planGates({ runnerName: 'linux', replicas: 5, running: 3, pods: pods(['gated', 'running', 'gated', 'gated', 'gated']) });
    assert.deepEqual(plan.ungate.map((pod) => pod.name), ['linux-0', 'linux-2']);
    assert.deepEqual(plan.pending, []);
  });

  it('leaves the new slots of a scale-up pending, and a slot whose pod is on its way out', () => {
    const plan = planGates({ runnerName: 'linux', replicas: 4, running: 3, pods: pods(['ended', 'gated']) });
    assert.deepEqual(plan.ungate.map((pod) => pod.name), ['linux-1']);
    assert.deepEqual(plan.pending, [0, 2]);
    // The watch shows slot 2's new pod gated: un-gated between passes; slot 0's ended pod is not.
    assert.deepEqual(pendingUngates('linux', new Set(plan.pending), [...pods(['ended', 'gated']), slotPod(2, 'gated')]).map((pod) => pod.name), ['linux-2']);
  });

  it('un-gates nothing when nothing is wanted: a burst\'s fresh pods stay gated', () => {
    const plan = planGates({ runnerName: 'linux', replicas: 6, running: 0, pods: pods(['gated', 'gated', 'gated', 'gated', 'gated', 'gated']) });
    assert.deepEqual(plan, { ungate: [], pending: [] });
  });

  it('keeps another controller\'s gate: only ours is lifted', () => {
    const plan = planGates({ runnerName: 'linux', replicas: 1, running: 1, pods: [slotPod(0, 'gated', true)] });
    assert.deepEqual(plan.ungate, [{ name: 'linux-0', ordinal: 0, uid: 'uid-0', keep: [{ name: 'example.com/quota' }] }]);
    // A pod held only by another's gate is ours to count as started.
    assert.equal(isGated(slotPod(0, 'running', true)), false);
  });

  const states = fc.array(fc.constantFrom<State>('gated', 'running', 'ended', 'deleting', 'missing'), { maxLength: 12 });
  const look = fc.record({ states, running: fc.nat(14), extra: fc.nat(3) });

  it('never starts more slots than wanted, nor any at or above the count, lowest ordinals first, and converges', () => {
    fc.assert(fc.property(look, ({ states: slots, running, extra }) => {
      const replicas = slots.length;
      const plan = planGates({ runnerName: 'linux', replicas, running, pods: [...pods(slots), ...Array.from({ length: extra }, (_, i) => slotPod(replicas + i, 'gated'))] });
      const started = [...plan.ungate.map((pod) => Number(pod.name.split('-')[1])), ...plan.pending].sort((a, b) => a - b);
      const runs = slots.filter((state) => state === 'running').length;
      assert.equal(started.length, Math.max(0, Math.min(running, replicas) - runs), 'exactly the slots wanted, never more');
      assert.ok(started.every((slot) => slot < replicas && slots[slot] !== 'running'));
      // Lowest first: every slot below the highest started one runs or is started.
      const highest = started.at(-1) ?? -1;
      for (let slot = 0; slot < highest; slot++) assert.ok(slots[slot] === 'running' || started.includes(slot), `slot ${slot} skipped`);
      for (const pod of plan.ungate) assert.equal(slots[Number(pod.name.split('-')[1])], 'gated', 'only a gated pod is un-gated');
      // Once acted on, a second look wants nothing more.
      assert.deepEqual(planGates({ runnerName: 'linux', replicas, running, pods: pods(acted(slots, plan)) }), { ungate: [], pending: [] });
    }));
  });

  it('between passes un-gates only gated, live pods of pending slots', () => {
    fc.assert(fc.property(states, fc.uniqueArray(fc.nat(12)), (slots, pending) => {
      const ungated = pendingUngates('linux', new Set(pending), pods(slots)).map((pod) => Number(pod.name.split('-')[1]));
      assert.deepEqual(ungated, slots.flatMap((state, slot) => (state === 'gated' && pending.includes(slot) ? [slot] : [])));
    }));
  });
  it('after jobs ended while backing off, wants a slot no more for the job it ran, but still for what waits', () => {
    // Two standby slots beyond the three busy.
    const wanted = { replicas: 6, running: 5, rule: { beyondBusy: 2, least: 1, most: 10 }, busy: [0, 2, 3], queued: 0 };
    assert.deepEqual(afterJobsEnded(wanted, [2, 4]), { ...wanted, running: 4, busy: [0, 3] });
    // Slot 4 was not busy in the decision, and no job waited: its end changes nothing.
    assert.deepEqual(afterJobsEnded(wanted, [4]), wanted);
    assert.equal(afterJobsEnded(wanted, [0, 2, 3]).running, 2);
    assert.equal(afterJobsEnded({ ...wanted, rule: { beyondBusy: 0, least: 1, most: 10 }, running: 3 }, [0, 2, 3]).running, 1, 'the minimum');
  });

  it('after a busy slot ended at maxReplicas, keeps every slot the waiting jobs still want', () => {
    // 3 busy and 2 queued, kept within 0..3: the old rule took one slot off per ended job, starting none for the queue.
    const wanted = { replicas: 3, running: 3, rule: { beyondBusy: 2, least: 0, most: 3 }, busy: [0, 1, 2], queued: 2 };
    assert.equal(afterJobsEnded(wanted, [0]).running, 3);
    assert.equal(afterJobsEnded(wanted, [0, 1]).running, 3);
    assert.equal(afterJobsEnded(wanted, [0, 1, 2]).running, 2);
  });

  it('after a slot started for a waiting job ended, wants it no more for that job', () => {
    // One job queued and one standby beyond slot 0's busy one: slot 1 was started for the job; its pod ended having run
    // it. The first rule still counted the job queued and started slot 1's fresh pod, to register, idle and be drained.
    const wanted = { replicas: 3, running: 3, rule: { beyondBusy: 2, least: 0, most: 10 }, busy: [0], queued: 1 };
    assert.deepEqual(afterJobsEnded(wanted, [1]), { ...wanted, running: 2, rule: { beyondBusy: 1, least: 0, most: 10 }, queued: 0 });
    // A second one that ended takes nothing more off: the standby slot is still wanted.
    assert.equal(afterJobsEnded(afterJobsEnded(wanted, [1]), [2]).running, 2);
    assert.equal(afterJobsEnded(wanted, [0, 1, 2]).running, 1, 'the standby slot');
    // Pods above the count that ended were drained by a scale-down, not started for the job: it still waits.
    const scaledDown = { replicas: 1, running: 1, rule: { beyondBusy: 1, least: 0, most: 10 }, busy: [], queued: 1 };
    assert.deepEqual(afterJobsEnded(scaledDown, [1, 2]), scaledDown);
  });
});
