// What the Runner pools hub shows, computed from what it can read: runner agents from Azure DevOps and the pool snapshots
// the tasks publish. Pure, so the page only fetches and renders.
import { runnerShare, waitingJobs } from './assignment.js';
import { identityVariables } from './manifests/index.js';
import { slotOrdinal } from './slots.js';
import type { AgentInfo, PodSummary, PoolSnapshot, ScaleDecision, SlotStatus } from './model.js';
import type { JobRequest } from './ports/ado.js';
import { stuckSummary, type StuckSlot } from './slot-start.js';

/** A job request as the hub links to it. */
export interface JobLink {
  requestId: number;
  /** The pipeline (definition) and the job, e.g. "CI · Build". */
  name: string;
  /** The run's web page in Azure DevOps, when the request names one. */
  url?: string;
  /** When the agent took it (running jobs) or when it finished (last job). */
  time?: string;
  result?: string;
  /** A waiting job this runner counts while some of its slots cannot start: what it waits on (src/core/slot-start.ts). */
  waitsOn?: string;
}

/** An unfinished job request of a pool as the hub reads it: what the pool's rule needs, and how the page names it. */
export interface HubJobRequest extends JobRequest {
  name: string;
  url?: string;
}

/** A runner agent as the hub reads it: AgentInfo plus its pool and its current and last job. */
export interface HubAgent extends AgentInfo {
  poolId: number;
  poolName: string;
  runningJob?: JobLink;
  lastJob?: JobLink;
}

/**
 * What a slot is doing, most telling first: an agent's state when it has one, else its pod's.
 * `failing` = the pod waits on an error (image pull, crash loop); `parked` = the pod waits, on purpose and holding no
 * node, for the autoscaler to start it when a job needs the slot (its scheduling gate, src/core/slot-gate.ts);
 * `starting` = a pod whose agent has not registered yet; `missing` = below the replica count but no pod and no agent.
 */
export type SlotState = 'busy' | 'idle' | 'offline' | 'disabled' | 'failing' | 'parked' | 'starting' | 'missing';

export interface SlotView extends SlotStatus {
  agent?: HubAgent;
  state: SlotState;
  waitingReason?: string;
  /** The pod is being deleted (scale-in or a finished job's restart). */
  deleting: boolean;
  /** Above the StatefulSet's replica count: an agent registration left from a larger pool. */
  beyondReplicas: boolean;
  /** The agent registered from an earlier pod with this name; the current pod has not registered yet. */
  staleRegistration: boolean;
  /** Its pod cannot start, and why, as the snapshot tells (src/core/slot-start.ts). */
  cannotStart?: StuckSlot;
}

export interface PoolCounters {
  online: number;
  busy: number;
  idle: number;
  /** Agents offline, but for parked slots' (offline by design). */
  offline: number;
  disabled: number;
  /** Slots whose pod the autoscaler holds until a job needs it. */
  parked: number;
  /** Jobs of the Azure DevOps pool waiting for an agent (the whole pool, not only this runner's share); undefined until known. */
  queued: number | undefined;
}

export interface PoolView {
  /** `<namespace>.<runnerName>` (the snapshot id); stable across refreshes. */
  key: string;
  runnerName: string;
  namespace?: string;
  poolName: string;
  poolId?: number;
  replicas?: number;
  /** When the tasks last published the cluster's view, and which task did. Absent: no snapshot yet. */
  snapshot?: { publishedAt: string; publishedBy: PoolSnapshot['publishedBy']; ageMs: number; lastDecision?: ScaleDecision; jobWait?: PoolSnapshot['jobWait'] };
  slots: SlotView[];
  counters: PoolCounters;
  /**
   * The pool's waiting jobs this runner counts — each waiting job is counted by one runner of the pool, by the rule its
   * scalers follow (src/core/assignment.ts); undefined until the pool's job requests are known.
   */
  counted: JobLink[] | undefined;
  /** The slots whose pod cannot start, as the snapshot tells (src/core/slot-start.ts); the jobs counted wait on them. */
  stuck: StuckSlot[];
}

function agentPodName(agent: HubAgent): string {
  return agent.capabilities[identityVariables.podName] ?? agent.name;
}

/** Waiting reasons that mean the pod will not start by itself (others, like ContainerCreating, are progress). */
const failureReasons = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError',
  'CreateContainerError', 'RunContainerError']);

function failing(pod: PodSummary | undefined): boolean {
  return Boolean(pod && !pod.ready && pod.waitingReason && failureReasons.has(pod.waitingReason));
}

function slotState(agent: HubAgent | undefined, pod: PodSummary | undefined, missing: boolean, stuck: boolean): SlotState {
  // Busy whatever its enabled flag: an agent running its one job is disabled so that it takes no further one
  // (single-use registrations, or a drain), and the job is what there is to see.
  if (agent && agent.status === 'online' && (agent.runningJob || agent.busyWith !== undefined)) return 'busy';
  // A slot that cannot start says so, whatever registration it keeps (an autoscaled slot's disabled placeholder).
  if (stuck) return 'failing';
  // Its registration is a placeholder that waits offline and disabled with it; an agent online under its name is
  // another story, told as the agent's.
  if (pod?.gated && agent?.status !== 'online') return 'parked';
  if (agent) {
    if (!agent.enabled) return 'disabled';
    if (agent.status === 'online') return 'idle';
    if (failing(pod)) return 'failing';
    return 'offline';
  }
  if (pod) return failing(pod) ? 'failing' : 'starting';
  return missing ? 'missing' : 'offline';
}

function buildSlot(podName: string, ordinal: number, agent: HubAgent | undefined, pod: PodSummary | undefined,
  replicas: number | undefined, cannotStart: StuckSlot | undefined): SlotView {
  const podUid = agent?.capabilities[identityVariables.podUid];
  return {
    podName,
    ordinal,
    agent,
    podPhase: pod?.phase,
    ready: pod?.ready,
    restarts: pod?.restarts,
    node: pod?.node ?? agent?.capabilities[identityVariables.nodeName],
    image: pod?.image ?? agent?.capabilities[identityVariables.image],
    startedAt: pod?.createdAt,
    state: slotState(agent, pod, replicas !== undefined && ordinal < replicas, cannotStart !== undefined),
    waitingReason: pod?.waitingReason,
    deleting: pod?.deleting ?? false,
    beyondReplicas: replicas !== undefined && ordinal >= replicas,
    staleRegistration: Boolean(agent && pod && podUid && pod.uid && podUid !== pod.uid && agent.status === 'offline'),
    ...(cannotStart && { cannotStart }),
  };
}

function countersOf(slots: SlotView[]): PoolCounters {
  const agents = slots.flatMap((slot) => (slot.agent ? [slot.agent] : []));
  const online = agents.filter((a) => a.status === 'online');
  const busy = online.filter((a) => a.runningJob || a.busyWith !== undefined);
  return {
    online: online.length,
    busy: busy.length,
    idle: online.filter((a) => a.enabled && !busy.includes(a)).length,
    offline: slots.filter((slot) => slot.agent?.status === 'offline' && slot.state !== 'parked').length,
    disabled: slots.filter((slot) => slot.state === 'disabled').length,
    parked: slots.filter((slot) => slot.state === 'parked').length,
    queued: undefined,
  };
}

/**
 * The view with its pool's unfinished job requests known: the pool-wide queue and this runner's part of it, computed
 * from every runner agent of the pool as the runner's own scaler does (whether an autoscaler scales a runner, its
 * agents say).
 */
function withQueue(view: PoolView, agents: HubAgent[], jobs: HubJobRequest[]): PoolView {
  const poolAgents = agents.filter((agent) => agent.poolName.toLowerCase() === view.poolName.toLowerCase());
  const { counted } = runnerShare(view.runnerName, poolAgents, jobs);
  const waitsOn = view.stuck.length > 0 ? stuckSummary(view.stuck) : undefined;
  return {
    ...view,
    counters: { ...view.counters, queued: waitingJobs(jobs, poolAgents).length },
    // In queue order (oldest first), whatever order the service lists them in.
    counted: [...counted].sort((a, b) => a.requestId - b.requestId).map(({ requestId, name, url }) => ({ requestId, name, url, ...(waitsOn && { waitsOn }) })),
  };
}

/**
 * Groups runner agents (recognised by their RUNNER_NAME capability) and snapshot pods by runner, one slot per pod name,
 * ordered by ordinal; pools sorted by pool name, then runner name. `jobRequestsByPool` holds the unfinished job requests
 * known so far, by pool name as agents and snapshots spell it; a pool missing there has its queue undefined.
 */
export function buildPoolViews(agents: HubAgent[], jobRequestsByPool: Record<string, HubJobRequest[]>, snapshots: PoolSnapshot[], now: Date): PoolView[] {
  interface Group { key: string; runnerName: string; namespace?: string; poolName: string; poolId?: number; snapshot?: PoolSnapshot; agents: HubAgent[] }
  const groups = new Map<string, Group>();
  const groupKey = (poolName: string, namespace: string | undefined, runnerName: string) =>
    `${poolName.toLowerCase()}\n${namespace ?? ''}\n${runnerName}`;

  for (const snapshot of snapshots) {
    groups.set(groupKey(snapshot.poolName, snapshot.namespace, snapshot.runnerName), {
      key: snapshot.id, runnerName: snapshot.runnerName, namespace: snapshot.namespace, poolName: snapshot.poolName, snapshot, agents: [],
    });
  }
  for (const agent of agents) {
    const runnerName = agent.capabilities[identityVariables.runnerName];
    if (!runnerName) continue;
    const namespace = agent.capabilities[identityVariables.namespace];
    const key = groupKey(agent.poolName, namespace, runnerName);
    const group = groups.get(key) ?? { key: namespace ? `${namespace}.${runnerName}` : runnerName, runnerName, namespace, poolName: agent.poolName, agents: [] };
    group.poolId = agent.poolId;
    group.agents.push(agent);
    groups.set(key, group);
  }

  const views = [...groups.values()].map((group): PoolView => {
    const replicas = group.snapshot?.replicas;
    const pods = new Map((group.snapshot?.pods ?? []).map((pod) => [pod.name, pod]));
    const stuck = group.snapshot?.stuckSlots ?? [];
    const byPod = new Map<string, HubAgent>();
    for (const agent of group.agents) {
      const podName = agentPodName(agent);
      const known = byPod.get(podName);
      // Two registrations under one pod name only happen when one was made without --replace; show the live one.
      if (!known || (known.status === 'offline' && agent.status === 'online')) byPod.set(podName, agent);
    }
    const names = new Set([...pods.keys(), ...byPod.keys()]);
    for (let ordinal = 0; ordinal < (replicas ?? 0); ordinal++) names.add(`${group.runnerName}-${ordinal}`);
    const slots = [...names]
      .map((podName) => ({ podName, ordinal: slotOrdinal(group.runnerName, podName) }))
      .filter((slot): slot is { podName: string; ordinal: number } => slot.ordinal !== undefined)
      .sort((a, b) => a.ordinal - b.ordinal)
      .map(({ podName, ordinal }) => buildSlot(podName, ordinal, byPod.get(podName), pods.get(podName), replicas, stuck.find((slot) => slot.slot === ordinal)));
    const view: PoolView = {
      key: group.key,
      runnerName: group.runnerName,
      namespace: group.namespace,
      poolName: group.poolName,
      poolId: group.poolId,
      replicas,
      snapshot: group.snapshot && {
        publishedAt: group.snapshot.publishedAt,
        publishedBy: group.snapshot.publishedBy,
        ageMs: Math.max(0, now.getTime() - Date.parse(group.snapshot.publishedAt)),
        lastDecision: group.snapshot.lastDecision,
        jobWait: group.snapshot.jobWait,
      },
      slots,
      counters: countersOf(slots),
      counted: undefined,
      stuck,
    };
    const jobs = jobRequestsByPool[group.poolName];
    return jobs === undefined ? view : withQueue(view, agents, jobs);
  });
  return views.sort((a, b) => a.poolName.localeCompare(b.poolName) || a.runnerName.localeCompare(b.runnerName) || a.key.localeCompare(b.key));
}

/**
 * The views with one Azure DevOps pool's job requests now known (`agents`: those the views were built from); every other
 * view, and every slot list, stays as it was.
 */
export function withJobRequests(views: PoolView[], agents: HubAgent[], poolName: string, jobs: HubJobRequest[]): PoolView[] {
  return views.map((view) => (view.poolName === poolName ? withQueue(view, agents, jobs) : view));
}
