// The plan of one scaling pass (src/flows/scale-pass.ts): one look at the pool in, every write the pass makes out, as
// data, in the order the pass makes them: the agents to disable first (the drain), the single-use upkeep's parts, the
// gates to lift, the replica count, the owner mark, the busy marks, the agents to enable again and the stale
// registrations to delete. The flow looks, asks for the plan, acts; every rule of the pass is here, where a test can
// run it over any pool.
//
// A pass plans twice at most. A plan that drains (disables the agents of the slots a scale-down removes) is followed by
// a second look and a second plan: a job may have landed on a slot between the first look and its drain, and a slot
// that still takes jobs (or runs one) is never removed. The second plan, made with `drain` set, never drains again:
// what it still finds enabled it keeps (decideScale's `undrained`), and a later pass drains it.
import type { AgentInfo, PoolSnapshot, ReplicasOwner, ScaleDecision } from './model.js';
import type { KubeObject } from './ports/kube.js';
import { decideScale, enabledChanges, registeredSlots, staleRegistrations, type PoolLook, type ScaleTarget } from './scale-decision.js';
import { planGates, type GatePlan, type SlotsWanted } from './slot-gate.js';
import { mayEnable, podsWithLiveAgents } from './single-use.js';
import type { StuckSlot } from './slot-start.js';
import { annotations, busyLabel } from './manifests/pool-labels.js';
import { slotOrdinal } from './slots.js';

/** Which part of the single-use upkeep a call of PassState.beforeScale does. */
export type UpkeepPart = 'all' | 'disable' | 'retire';

/** What a pass plans from: its options, and one look at the StatefulSet, its pods and Azure DevOps. */
export interface PassObservation {
  runnerName: string;
  target: ScaleTarget;
  /** Who runs the pass (PassOptions.actor). */
  actor: PoolSnapshot['publishedBy'];
  dryRun: boolean;
  removeStaleRegistrations: boolean;
  /**
   * Azure DevOps as the pass reaches it: undefined without access (nothing is known about agents, so every slot counts
   * as registered); `poolFound` false when the pool's id is unknown (the look saw no agent, and none is changed).
   */
  ado?: { poolFound: boolean };
  /** The StatefulSet's replica count and the owner its annotation names. */
  currentReplicas: number;
  owner?: ReplicasOwner;
  /** The runner's pods, from one list. */
  pods: KubeObject[];
  look: PoolLook;
  /** Slots whose pod cannot start (src/core/slot-start.ts). */
  stuck: StuckSlot[];
  /** When the decision is made (ms): it picks a standby schedule's window. */
  at: number;
  /** Set on the second plan, after this pass drained: `refused` is Azure DevOps's answer when it refused the drain. */
  drain?: { refused?: string };
}

/** A pod's busy label and safe-to-evict annotation to write. */
export interface BusyMark {
  pod: string;
  busy: boolean;
}

/** A registration to delete, and why (the log line says it). */
export interface StaleRegistration {
  agent: AgentInfo;
  reason: string;
}

export interface PassPlan {
  /** False for an autoscaler whose pool's count another owner sets now: it leaves the count, gates and agents alone. */
  countIsOurs: boolean;
  decision: ScaleDecision;
  /** The agents to disable before anything else (the drain); never on a second plan. */
  disable: AgentInfo[];
  /** The single-use upkeep: `first` before any write; then `retire` after the gates' lifts, or after a raise's write. */
  upkeep: { first: UpkeepPart; retire?: 'after-starts' | 'after-raise' };
  /** The decision's wish for the gates, and the gates to lift for it (only while the count is the pass's own). */
  slotsWanted?: SlotsWanted;
  gates?: GatePlan;
  /** Whether to write ScaleRunnerPool's owner annotation (its pass on a pool nobody owns). */
  markOwner: boolean;
  /** The pods whose busy marks differ from what their agents say, in list order. */
  busyMarks: BusyMark[];
  /** The agents to enable again: slots the pool keeps, not leaving, and (for the autoscaler) single-use. */
  enable: AgentInfo[];
  /** The offline registrations to delete. */
  stale: StaleRegistration[];
}

/** The owner of a StatefulSet's replica count (src/core/model.ts ReplicasOwner), from its annotation. */
export function replicasOwner(statefulSet: KubeObject): ReplicasOwner | undefined {
  const owner = statefulSet.metadata.annotations?.[annotations.replicasOwner];
  return owner === 'autoscaler' || owner === 'ScaleRunnerPool' ? owner : undefined;
}

/** Why a pass may not scale this pool at all: another owner's count it would fight. Undefined when it may. */
export function ownerConflict(runnerName: string, actor: PassObservation['actor'], owner: ReplicasOwner | undefined): string | undefined {
  if (owner !== 'autoscaler' || actor === 'autoscaler') return undefined;
  return `the in-cluster autoscaler scales '${runnerName}' (DeployRunnerPool autoscaling: inCluster); a second owner of its replica count would fight it. Run DeployRunnerPool with autoscaling: none first.`;
}

/** The slots whose agent takes jobs (enabled): after a drain, a scale-down removes none of them. */
function takingJobs(runnerName: string, look: PoolLook): number[] {
  return look.ours.filter((agent) => agent.enabled).map((agent) => slotOrdinal(runnerName, agent.name)!);
}

function decide(observed: PassObservation): ScaleDecision {
  const { runnerName, look, drain, currentReplicas } = observed;
  const decision = decideScale(observed.target, {
    currentReplicas, ...look, registered: observed.ado === undefined || look.ours.length > 0, at: new Date(observed.at), stuck: observed.stuck,
    // A task whose drain was refused scales without it (its one pass); the autoscaler keeps what takes jobs, and acts again in seconds.
    undrained: drain === undefined || (drain.refused !== undefined && observed.actor !== 'autoscaler') ? undefined : takingJobs(runnerName, look),
  });
  if (drain?.refused !== undefined && observed.actor === 'autoscaler') {
    return { ...decision, reason: `${decision.reason} (Azure DevOps refused the drain: ${drain.refused}; the next pass tries again)` };
  }
  return decision;
}

/** Labels and annotates each pod by its agent's state: busy pods are kept by node drains and the cluster autoscaler. */
function busyMarks(runnerName: string, pods: KubeObject[], busy: Set<number>): BusyMark[] {
  return pods.flatMap((pod) => {
    const ordinal = slotOrdinal(runnerName, pod.metadata.name);
    if (ordinal === undefined || pod.metadata.deletionTimestamp !== undefined) return [];
    const marked = pod.metadata.labels?.[busyLabel] === String(busy.has(ordinal)) && pod.metadata.annotations?.[annotations.safeToEvict] === String(!busy.has(ordinal));
    return marked ? [] : [{ pod: pod.metadata.name, busy: busy.has(ordinal) }];
  });
}

export function planPass(observed: PassObservation): PassPlan {
  const { runnerName, actor, look, currentReplicas, pods } = observed;
  // DeployRunnerPool turned autoscaling off and is about to remove this autoscaler: it leaves the count and the agents alone.
  const countIsOurs = actor !== 'autoscaler' || observed.owner === 'autoscaler';
  let decision = decide(observed);
  if (!countIsOurs) {
    decision = { ...decision, replicas: currentReplicas, action: 'no_change', reason: `the replica count is no longer the autoscaler's (${observed.owner ?? 'DeployRunnerPool'} sets it); no change` };
  }
  const agentsOurs = countIsOurs && observed.ado?.poolFound === true;
  const changes = enabledChanges(runnerName, look.ours, decision.replicas);
  const disable = agentsOurs && !observed.dryRun && observed.drain === undefined ? changes.disable : [];
  const raises = decision.replicas > currentReplicas;
  // The slots wanted running start before the count's write: an autoscaled pool's other pods stay gated (src/core/slot-gate.ts).
  const slotsWanted = countIsOurs ? { replicas: decision.replicas, running: decision.running, rule: decision.runningRule, busy: look.busyOrdinals, queued: decision.queuedJobs } : undefined;
  const gates = slotsWanted && planGates({ runnerName, ...slotsWanted, pods });
  // Retirements (several calls each) wait for the starts and a raise; busy registrations are disabled before any
  // write, so that a write that fails or hangs holds up none.
  const retireLate = raises || (gates?.ungate.length ?? 0) > 0;
  const upkeep = { first: retireLate ? 'disable' as const : 'all' as const, ...(retireLate && { retire: raises ? 'after-raise' as const : 'after-starts' as const }) };
  // Slots the pool keeps take jobs again: a drain that found a late job, or an earlier scale-down, disabled them. A pod
  // on its way out (DeployRunnerPool replacing it) keeps its agent drained: a job handed to it would be cut off. The
  // autoscaler's registrations are single-use (src/core/single-use.ts): enabled only while a live pod holds the key,
  // and never once they had a job. Not after a refused drain (the same refusal would answer).
  const leaving = new Set(pods.filter((pod) => pod.metadata.deletionTimestamp !== undefined || pod.metadata.annotations?.[annotations.draining] === 'true').map((pod) => pod.metadata.name));
  const live = podsWithLiveAgents(pods);
  const enable = agentsOurs && observed.drain?.refused === undefined
    ? changes.enable.filter((agent) => !leaving.has(agent.name) && (actor !== 'autoscaler' || mayEnable(agent, live)))
    : [];
  const keep = registeredSlots(observed.target, decision.replicas);
  const stale = observed.ado?.poolFound === true && observed.removeStaleRegistrations
    ? staleRegistrations(runnerName, look.ours, keep).map((agent) => ({ agent, reason: `its slot is above ${Math.max(1, keep) - 1}` }))
    : [];
  return {
    countIsOurs, decision, disable, upkeep, slotsWanted, gates,
    // From now on ScaleRunnerPool sets the count; a later DeployRunnerPool leaves it alone.
    markOwner: actor === 'ScaleRunnerPool' && observed.owner === undefined,
    busyMarks: busyMarks(runnerName, pods, new Set(look.busyOrdinals)),
    enable, stale,
  };
}
