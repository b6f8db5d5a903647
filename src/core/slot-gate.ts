// The slot-wanted scheduling gate (autoscaling: inCluster). An autoscaled pool's pods are created gated
// (manifests/runner-pod.ts): Kubernetes leaves such a pod Pending (SchedulingGated), with no node and no container,
// nothing a cluster autoscaler adds a node for. The autoscaler lifts the gate of exactly the slots it wants running —
// busy + queued + standby, within min..max (decideScale's `running`) — lowest ordinals first. So a slot's fresh pod
// after its job (single-use) costs nothing until a job wants it, where it used to start, register and idle until a
// scale-down drained it. A gate can only be removed after creation, never added (the API server refuses): a pod once
// un-gated runs until its job ends or a scale-down drains it. A gated pod never registered: its slot holds a disabled
// placeholder (src/core/single-use.ts), so a scale-down may always pass it.
import type { KubeObject } from './ports/kube.js';
import type { RunningRule } from './model.js';
import { runningBy } from './scale-decision.js';
import { slotWantedGate, annotations } from './manifests/pool-labels.js';
import { podsWithLiveAgents } from './single-use.js';
import { slotOrdinal } from './slots.js';

/** A pod's scheduling gates, as Kubernetes stores them. */
export interface SchedulingGate {
  name: string;
}

/** A pod that will not serve: deleted, being replaced by DeployRunnerPool, or its agent ended. */
function leaving(pod: KubeObject, live: Set<string>): boolean {
  return pod.metadata.deletionTimestamp !== undefined || pod.metadata.annotations?.[annotations.draining] === 'true' || !live.has(pod.metadata.uid ?? '');
}

function ungate(pod: KubeObject, ordinal: number): Ungate {
  return { name: pod.metadata.name, ordinal, uid: pod.metadata.uid!, keep: gatesOf(pod).filter((gate) => gate.name !== slotWantedGate) };
}

function gatesOf(pod: KubeObject): SchedulingGate[] {
  return (pod.spec as { schedulingGates?: SchedulingGate[] } | undefined)?.schedulingGates ?? [];
}

/** Whether the pod still waits for the autoscaler's slot-wanted gate. */
export function isGated(pod: KubeObject): boolean {
  return gatesOf(pod).some((gate) => gate.name === slotWantedGate);
}

/** A pod to un-gate: that incarnation (its UID), and the gates it keeps (another controller's are not ours to lift). */
export interface Ungate {
  name: string;
  /** Its slot: wanted again when the pod was replaced before its gate was lifted. */
  ordinal: number;
  uid: string;
  keep: SchedulingGate[];
}

export interface GatePlan {
  /** Gated pods to un-gate now, lowest ordinals first. */
  ungate: Ungate[];
  /**
   * Wanted slots that have no pod to un-gate yet: not created (a scale-up's new slots), or their pod is on its way out
   * (its agent ended, it is being deleted). Their next pod is un-gated as soon as it is seen, with no look at Azure
   * DevOps (src/flows/autoscale.ts).
   */
  pending: number[];
}

export interface GateLook {
  runnerName: string;
  /** The replica count after the decision: no slot at or above it is wanted. */
  replicas: number;
  /** How many slots are wanted running (decideScale's `running`). */
  running: number;
  /** The runner's pods, from one look. */
  pods: KubeObject[];
}

/** The last decision's wish for the gates, kept until the next pass. */
export interface SlotsWanted {
  /** The replica count after the decision. */
  replicas: number;
  /** How many slots it wants running (decideScale's `running`). */
  running: number;
  /** How that follows from the busy slots (decideScale's `runningRule`). */
  rule: RunningRule;
  /** The slots it counted busy. */
  busy: readonly number[];
  /** The queued jobs it counted (part of `rule.beyondBusy`, with standby). */
  queued: number;
}

/**
 * The wish once pods have ended since the decision, while no pass comes to renew it (the loop backs off): a slot it
 * counted busy whose pod ended has run its job, and is wanted no more for it; another slot whose pod ended has run
 * one of the queued jobs, wanted no more either — the rest of the demand (jobs still queued, standby) and the limits
 * as the decision had them. Starting its fresh pod anyway would register it, idle and be
 * drained by the next pass: writes paid from the very budget that is running low.
 */
export function afterJobsEnded(wanted: SlotsWanted, endedSlots: readonly number[]): SlotsWanted {
  const busy = wanted.busy.filter((ordinal) => !endedSlots.includes(ordinal));
  // A slot it did not count busy whose pod ended ran a job since: one of those that waited, while any did. (One that
  // ended without a job leaves that job to the next pass, which a registration enabled for it brings within a minute.)
  // Only one it kept: a pod above the count was drained (or is being removed), not started for a job.
  const ranQueued = Math.min(wanted.queued, endedSlots.filter((ordinal) => ordinal < wanted.replicas && !wanted.busy.includes(ordinal)).length);
  const rule = { ...wanted.rule, beyondBusy: wanted.rule.beyondBusy - ranQueued };
  return { ...wanted, rule, queued: wanted.queued - ranQueued, running: runningBy(rule, busy.length), busy };
}

/**
 * The slots to start: while fewer pods run (un-gated, not leaving, agent not ended) than wanted, the lowest slots
 * below the count that do not run, each by un-gating its gated pod, or as pending when it has none yet. Pods that run
 * beyond the wish are left alone: a scale-down drains them.
 */
export function planGates({ runnerName, replicas, running, pods }: GateLook): GatePlan {
  const live = podsWithLiveAgents(pods);
  const bySlot = new Map<number, KubeObject>();
  for (const pod of pods) {
    const ordinal = slotOrdinal(runnerName, pod.metadata.name);
    if (ordinal !== undefined && ordinal < replicas) bySlot.set(ordinal, pod);
  }
  const runs = (pod: KubeObject | undefined) => pod !== undefined && !isGated(pod) && !leaving(pod, live);
  let missing = Math.max(0, Math.min(running, replicas) - [...bySlot.values()].filter(runs).length);
  const plan: GatePlan = { ungate: [], pending: [] };
  for (let ordinal = 0; ordinal < replicas && missing > 0; ordinal++) {
    const pod = bySlot.get(ordinal);
    if (runs(pod)) continue;
    // A gated pod already leaving (a scale-down, DeployRunnerPool replacing it) is replaced: its next pod is the one to start.
    if (pod !== undefined && isGated(pod) && !leaving(pod, live)) plan.ungate.push(ungate(pod, ordinal));
    else plan.pending.push(ordinal);
    missing--;
  }
  return plan;
}

/**
 * Between passes: the gated pods of slots the last pass wanted started but had no pod for (GatePlan.pending). Each is
 * un-gated once, the first pod of its slot seen gated; the caller forgets the slot then.
 */
export function pendingUngates(runnerName: string, pending: ReadonlySet<number>, pods: KubeObject[]): Ungate[] {
  const live = podsWithLiveAgents(pods);
  return pods.flatMap((pod) => {
    const ordinal = slotOrdinal(runnerName, pod.metadata.name);
    return ordinal !== undefined && pending.has(ordinal) && isGated(pod) && !leaving(pod, live) ? [ungate(pod, ordinal)] : [];
  });
}
