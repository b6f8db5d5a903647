// The scaling decision: pool state in, replica count and reason out. Pure, so it can be tested exhaustively.
import type { AgentInfo, ScaleDecision, ScaleLimits } from './model.js';
import type { JobRequest } from './ports/ado.js';
import { agentSatisfiesDemands } from './demands.js';

export interface PoolObservation {
  currentReplicas: number;
  /** Slot ordinals whose agent is running (or has been assigned) a job. */
  busyOrdinals: number[];
  /** Queued jobs that this pool's agents can run. */
  queuedJobs: number;
}

export type ScaleTarget = { mode: 'fixed'; replicas: number } | { mode: 'queue'; limits: ScaleLimits };

/** The slot ordinal of an agent named `<runnerName>-<n>`, or undefined for any other agent of the pool. */
export function slotOrdinal(runnerName: string, agentName: string): number | undefined {
  const prefix = `${runnerName}-`;
  if (!agentName.startsWith(prefix)) return undefined;
  const rest = agentName.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

export function decideScale(target: ScaleTarget, observed: PoolObservation): ScaleDecision {
  const busyAgents = observed.busyOrdinals.length;
  // A StatefulSet removes its highest ordinals first, so the highest busy slot sets the floor.
  const floor = busyAgents === 0 ? 0 : Math.max(...observed.busyOrdinals) + 1;
  let wanted: number;
  let why: string;
  if (target.mode === 'fixed') {
    wanted = target.replicas;
    why = `fixed at ${wanted}`;
  } else {
    const { minReplicas, maxReplicas, standby } = target.limits;
    const demand = busyAgents + observed.queuedJobs + standby;
    wanted = Math.min(maxReplicas, Math.max(minReplicas, demand));
    why = `${busyAgents} busy + ${observed.queuedJobs} queued + ${standby} standby = ${demand}`;
    if (wanted !== demand) why += `, kept within ${minReplicas}..${maxReplicas}`;
  }
  const replicas = Math.max(wanted, floor);
  let reason: string;
  if (replicas > wanted) {
    reason = `${why}; scale-down to ${wanted} deferred: slot ${floor - 1} is busy, so ${replicas} stay until its job ends`;
  } else if (replicas === observed.currentReplicas) {
    reason = `${why}; no change`;
  } else {
    reason = `${why}; ${replicas > observed.currentReplicas ? 'scale up' : 'scale down'} from ${observed.currentReplicas} to ${replicas}`;
  }
  return { previousReplicas: observed.currentReplicas, replicas, queuedJobs: observed.queuedJobs, busyAgents, reason };
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

/** What one look at Azure DevOps says about this runner's slots and the pool's queue. */
export function observePool(runnerName: string, agents: AgentInfo[], jobs: JobRequest[]): { busyOrdinals: number[]; queuedJobs: number; ours: AgentInfo[] } {
  const ours = agents.filter((a) => slotOrdinal(runnerName, a.name) !== undefined);
  const busy = new Set<number>();
  for (const agent of ours) if (agent.busyWith !== undefined) busy.add(slotOrdinal(runnerName, agent.name)!);
  // A job already reserved for one of our agents makes that slot busy even before the agent reports it.
  for (const job of jobs) {
    const ordinal = job.reservedAgentName === undefined ? undefined : slotOrdinal(runnerName, job.reservedAgentName);
    if (ordinal !== undefined) busy.add(ordinal);
  }
  // Count a waiting job only if one of our registrations could take it: the service would not give it to us otherwise.
  const waiting = jobs.filter((j) => j.reservedAgentName === undefined && j.assignTime === undefined);
  const queuedJobs = waiting.filter((j) => ours.some((a) => agentSatisfiesDemands(a.capabilities, j.demands))).length;
  return { busyOrdinals: [...busy].sort((a, b) => a - b), queuedJobs, ours };
}
