// The scaling decision: pool state in, replica count and reason out. Pure, so it can be tested exhaustively.
import type { AgentInfo, DecisionAction, RunningRule, ScaleDecision, ScaleLimits } from './model.js';
import type { JobRequest } from './ports/ado.js';
import { runnerShare } from './assignment.js';
import { slotOrdinal } from './slots.js';
import { standbyAt } from './standby-schedule.js';
import { ownAgents, ownSlot, type RunnerIdentity } from './runner-identity.js';
import { blocksNewSlots, describeStuckSlots, type StuckSlot } from './slot-start.js';

export interface PoolObservation {
  currentReplicas: number;
  /** Slot ordinals whose agent is running (or has been assigned) a job. */
  busyOrdinals: number[];
  /** Queued jobs that this pool's agents can run. */
  queuedJobs: number;
  /** Waiting jobs this runner could take that another runner of the pool counts. */
  leftToOthers?: number;
  /** Waiting jobs not counted because a demand cannot be read, each with why. */
  unreadable?: string[];
  /**
   * False when the runner has no registration at all: Azure DevOps rejects every job queued to a pool with no agent
   * that could take it, so nothing would ever wait for this runner. Its first slot then runs once and registers.
   */
  registered?: boolean;
  /**
   * After a drain: the slots that still take jobs (enabled: not drained, or enabled again since). A scale-down never
   * removes one: a job could be handed to it at any moment. Absent before a drain.
   */
  undrained?: number[];
  /** When the look was made: it picks the standby count of a schedule (src/core/standby-schedule.ts); without it, the plain standby. */
  at?: Date;
  /** Slots whose pod cannot start (src/core/slot-start.ts): told in the reason; a queue-driven pool does not grow past them. */
  stuck?: StuckSlot[];
}

export type ScaleTarget = { mode: 'fixed'; replicas: number } | { mode: 'queue'; limits: ScaleLimits };

/** The slots wanted running for `busy` busy ones: the rest of the demand added, within the limits. */
export function runningBy(rule: RunningRule, busy: number): number {
  return Math.min(rule.most, Math.max(rule.least, busy + rule.beyondBusy));
}

export function decideScale(target: ScaleTarget, observed: PoolObservation): ScaleDecision {
  const busyAgents = observed.busyOrdinals.length;
  // A StatefulSet removes its highest ordinals first, so the highest busy slot sets the floor.
  const busyFloor = busyAgents === 0 ? 0 : Math.max(...observed.busyOrdinals) + 1;
  // Nor below a slot that still takes jobs after a drain; this floor only ever keeps slots, it never adds one.
  const undrained = (observed.undrained ?? []).filter((ordinal) => ordinal < observed.currentReplicas);
  const undrainedFloor = undrained.length === 0 ? 0 : Math.max(...undrained) + 1;
  const floor = Math.max(busyFloor, undrainedFloor);
  let rule: RunningRule;
  let why: string;
  if (target.mode === 'fixed') {
    rule = { beyondBusy: target.replicas, least: target.replicas, most: target.replicas };
    why = `fixed at ${target.replicas}`;
  } else {
    const { minReplicas, maxReplicas } = target.limits;
    const { standby, window } = observed.at === undefined ? { standby: target.limits.standby, window: undefined } : standbyAt(target.limits.standby, target.limits.standbySchedule ?? [], observed.at);
    const demand = busyAgents + observed.queuedJobs + standby;
    rule = { beyondBusy: observed.queuedJobs + standby, least: minReplicas, most: maxReplicas };
    const withinLimits = runningBy(rule, busyAgents);
    why = `${busyAgents} busy + ${observed.queuedJobs} queued + ${standby} standby${window ? ` (standby schedule: ${window.text})` : ''} = ${demand}`;
    if (observed.leftToOthers) why += ` (${observed.leftToOthers} more waiting job${observed.leftToOthers === 1 ? ' is' : 's are'} counted by another runner of the pool)`;
    const unreadable = observed.unreadable ?? [];
    if (unreadable.length > 0) why += ` (${unreadable.length} waiting job${unreadable.length === 1 ? '' : 's'} not counted: a demand this runner cannot read, e.g. ${unreadable[0]})`;
    if (withinLimits !== demand) why += `, kept within ${minReplicas}..${maxReplicas}`;
    if (observed.registered === false && withinLimits === 0 && maxReplicas > 0) {
      rule = { ...rule, least: 1 };
      why += '; no registration yet, so slot 0 runs once to register (a pool with no agent rejects every job)';
    }
  }
  const wanted = runningBy(rule, busyAgents);
  const stuck = observed.stuck ?? [];
  if (stuck.length > 0) why += `; ${describeStuckSlots(stuck)}`;
  let replicas = Math.max(wanted, floor);
  // A new slot would not start either (its image, the nodes or a quota refuse any pod of the template): more slots
  // would only add pods that wait. A fixed count is someone's explicit wish, and stays.
  const held = target.mode === 'queue' && replicas > observed.currentReplicas && stuck.some(blocksNewSlots) ? replicas : undefined;
  if (held !== undefined) replicas = observed.currentReplicas;
  let reason: string;
  const aboveMax = target.mode === 'queue' && replicas > target.limits.maxReplicas ? ` (above maxReplicas ${target.limits.maxReplicas}: a busy slot is never removed)` : '';
  if (held !== undefined) {
    reason = `${why}; scale-up to ${held} held at ${replicas}: a new slot would not start either`;
  } else if (replicas > wanted && busyFloor === floor) {
    reason = `${why}; scale-down to ${wanted} deferred: slot ${floor - 1} is busy, so ${replicas} stay until its job ends${aboveMax}`;
  } else if (replicas > wanted) {
    reason = `${why}; scale-down to ${wanted} deferred: slot ${floor - 1} was not drained (it takes jobs), so ${replicas} stay until a later pass drains it`;
  } else if (replicas === observed.currentReplicas) {
    reason = `${why}; no change`;
  } else {
    reason = `${why}; ${replicas > observed.currentReplicas ? 'scale up' : 'scale down'} from ${observed.currentReplicas} to ${replicas}`;
  }
  const action: DecisionAction = replicas > observed.currentReplicas ? 'scale_up' : replicas < observed.currentReplicas ? 'scale_down'
    : held !== undefined ? 'held' : replicas > wanted ? 'deferred' : 'no_change';
  return { previousReplicas: observed.currentReplicas, replicas, running: wanted, runningRule: rule, queuedJobs: observed.queuedJobs, busyAgents, reason, action };
}

/**
 * The enabled flags to flip so that only the slots the pool keeps take jobs. Disabling the slots a scale-down removes
 * before the scale call drains them: the service hands a disabled agent no new job.
 */
export function enabledChanges(runnerName: string, agents: AgentInfo[], replicas: number): { disable: AgentInfo[]; enable: AgentInfo[] } {
  const ours = agents.filter((agent) => slotOrdinal(runnerName, agent.name) !== undefined);
  return {
    disable: ours.filter((agent) => agent.enabled && slotOrdinal(runnerName, agent.name)! >= replicas),
    enable: ours.filter((agent) => !agent.enabled && slotOrdinal(runnerName, agent.name)! < replicas),
  };
}

/** How many slots keep their registration: the configured size, and any slot a busy one keeps above it. */
export function registeredSlots(target: ScaleTarget, replicas: number): number {
  return Math.max(target.mode === 'queue' ? target.limits.maxReplicas : target.replicas, replicas);
}

/**
 * Registrations to remove: this runner's offline, idle agents whose slot is at or above `keepSlots`. The slots below
 * stay registered while offline: they are what lets jobs queue when the pool is at zero.
 */
export function staleRegistrations(runnerName: string, agents: AgentInfo[], keepSlots: number): AgentInfo[] {
  const keep = Math.max(1, keepSlots);
  return agents.filter((agent) => {
    const ordinal = slotOrdinal(runnerName, agent.name);
    return ordinal !== undefined && ordinal >= keep && agent.status === 'offline' && agent.busyWith === undefined;
  });
}

/** What one look at Azure DevOps says about this runner's slots and its share of the pool's queue. */
export interface PoolLook {
  busyOrdinals: number[];
  /** Waiting jobs this runner counts (each waiting job is counted by one runner of the pool: src/core/assignment.ts). */
  queuedJobs: number;
  /** Waiting jobs this runner could take that another runner of the pool counts. */
  leftToOthers: number;
  /** Waiting jobs no runner counts because a demand cannot be read, each with why (optional: a look without jobs has none). */
  unreadable?: string[];
  /** This runner's registrations: those carrying its identity. */
  ours: AgentInfo[];
  /** The pool's unfinished job requests the look read. */
  jobs: JobRequest[];
}

/**
 * The unfinished jobs as a key: two looks with the same key saw the same requests, none newly reserved, assigned or
 * received in between (a finished one is no longer listed), so no agent took or finished one of them (a job queued
 * and done between the two looks is missed, as with no job at all).
 */
export function jobsSeen(jobs: readonly JobRequest[]): string {
  return jobs.map((job) => [job.requestId, job.reservedAgentName ?? '', job.assignTime ?? '', job.receiveTime ?? ''].join(' ')).sort().join('\n');
}

/**
 * `self`: the runner looking, whose agents are those carrying its identity (src/core/runner-identity.ts), whatever the
 * names of another cluster's. `scaled`: the in-cluster autoscaler runs this look (false: ScaleRunnerPool, or
 * DeployRunnerPool's fixed count).
 */
export function observePool(self: RunnerIdentity, agents: AgentInfo[], jobs: JobRequest[], scaled = false): PoolLook {
  const ours = ownAgents(self, agents);
  const busy = new Set<number>();
  for (const agent of ours) if (agent.busyWith !== undefined) busy.add(ownSlot(self, agent)!);
  // A job already reserved for one of our agents makes that slot busy even before the agent reports it.
  for (const job of jobs) {
    const reserved = ours.find((agent) => agent.name === job.reservedAgentName);
    if (reserved !== undefined) busy.add(ownSlot(self, reserved)!);
  }
  const share = runnerShare(self.runnerName, agents, jobs, scaled);
  return { busyOrdinals: [...busy].sort((a, b) => a - b), queuedJobs: share.counted.length, leftToOthers: share.leftToOthers.length, unreadable: share.unreadable, ours, jobs };
}
