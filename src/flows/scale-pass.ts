// One pass of scaling, shared by ScaleRunnerPool, DeployRunnerPool's fixed count and the in-cluster autoscaler: look at
// the pool, decide, drain the slots a scale-down removes, look again, scale, mark busy pods, re-enable, publish, tidy.
import type { AgentInfo, PoolSnapshot, ScaleDecision } from '../core/model.js';
import type { Log } from '../core/ports/host.js';
import { KubeApiError, type KubeClient, type KubeObject, type ObjectRef } from '../core/ports/kube.js';
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import { jobsSeen, observePool, type PoolLook, type ScaleTarget } from '../core/scale-decision.js';
import { ownerConflict, planPass, replicasOwner, type BusyMark, type PassObservation, type UpkeepPart } from '../core/pass-plan.js';
import { annotations, busyLabel, poolLabelSelector } from '../core/manifests/index.js';
import { buildSnapshot, snapshotDue } from '../core/snapshot.js';
import { jobStarts, recordStarts, summarizeWaits, type JobStart, type WaitHistory } from '../core/job-wait.js';
import { summarizePod, type PodSummary } from '../core/pod-status.js';
import { keyHolder, recordedAgentIds } from '../core/single-use.js';
import { slotsSeen, stuckSlots, type StuckSlot } from '../core/slot-start.js';
import { ownAgents, recordedIdentity, type RunnerIdentity } from '../core/runner-identity.js';
import type { SlotsWanted } from '../core/slot-gate.js';
import { liftGates } from './slot-gate.js';
import { drainRefused, publishForHub, trySetAgentsEnabled } from './agent-drain.js';
import { startRefusals, tellStuckSlots, type EventReads, type StuckSlotsTold } from './slot-start.js';
import { LeadershipLost } from './leadership.js';
import { UnusableInput } from '../core/inputs.js';

export const scaleFieldManager = 'azure-devops-runner-scale';
const drainPurpose = 'the slots a scale-down removes';

export interface PassOptions {
  namespace: string;
  runnerName: string;
  poolName: string;
  organizationUrl: string;
  target: ScaleTarget;
  dryRun: boolean;
  removeStaleRegistrations: boolean;
  /** Who runs the pass: it refuses (or, for the autoscaler, skips) a pool whose count another owner sets. */
  actor: PoolSnapshot['publishedBy'];
}

export interface PassServices {
  log: Log;
  /** Undefined without Azure DevOps access: nothing is known about busy agents, so nothing is drained. */
  ado?: AdoClient;
  clock: Clock;
}

export type { UpkeepPart };

/**
 * How long an idle pool's look reuses the agents it read: a minute, so that registrations deleted by hand (a pool left
 * with none rejects every job) are seen within one; the snapshot may go two minutes unrefreshed, the agents not.
 */
const agentsKeptMs = 60_000;

export interface PassState {
  kube: KubeClient;
  poolId?: number;
  /** The last snapshot published: the next one goes out when the pool changed (15 s after it at the soonest), or 2 minutes later. */
  published?: { snapshot: PoolSnapshot; at: number };
  /**
   * The pool's agents as last read, and the unfinished jobs seen with them (jobsSeen): reused for `agentsKeptMs` while
   * no job is unfinished or the same jobs are (and, for the autoscaler, none of ours busy or taking jobs).
   */
  agents?: { list: AgentInfo[]; at: number; jobs?: string };
  /** Called before every write; throws to end the pass there (the autoscaler's lease was lost). */
  beforeWrite?: () => Promise<void>;
  /** The jobs counted as started and the last day's waits (src/core/job-wait.ts). */
  waits?: WaitHistory;
  /** The last SlotCannotStart Event recorded: the next one only when the cause changes, or minutes later. */
  stuckTold?: StuckSlotsTold;
  /** When a look last saw each slot's pod: a refused create older than that holds nothing (src/core/slot-start.ts). */
  slotsSeen?: ReadonlyMap<number, number>;
  /** The failed read of the StatefulSet's events last warned about: warned once, not every pass. */
  eventReads?: EventReads;
  /**
   * The agent ids the autoscaler granted, each with the capabilities it registered then, kept until the pool no longer
   * has them: its registrations whatever their sessions claim, also once the pod that recorded one is gone, and what
   * their placeholders carry (src/core/single-use.ts).
   */
  grantedAgents?: Map<number, Record<string, string>>;
  /** The runner's StatefulSet's UID, set as soon as a pass read it: the handshake registers only the pods it controls. */
  statefulSetUid?: string;
  /**
   * What acts on the pass's final look, and the StatefulSet as looked at (the autoscaler's single-use upkeep): before a
   * replicas write that lowers or keeps the count, so that a pod it ends goes with its own grace period before a
   * scale-down's delete would give it the pod's whole one; after one that raises it, so that no retirement (several
   * Azure DevOps calls each) holds up the slots queued jobs wait for; that is `part`: `disable` (busy registrations,
   * cheap) before a raise, `retire` after it whether it went through or not, `all` otherwise. A pass that starts
   * slots (lifts their gates) without a raise disables before the starts and retires after them, before its write. Throws LeadershipLost
   * to stop the pass at once.
   */
  beforeScale?: (look: PoolLook, statefulSet: KubeObject, part: UpkeepPart) => Promise<void>;
  /**
   * The slots the last pass wanted started that had no pod to un-gate yet (src/core/slot-gate.ts GatePlan.pending):
   * the autoscaler un-gates their pods as soon as its pod watch shows them, without waiting for the next pass.
   */
  pendingStarts?: Set<number>;
  /**
   * The last decision's wish for the gates (the replica count, the slots wanted running), kept through failed passes:
   * while the loop backs off, the slot of a pod whose job ended is started again from it (src/flows/autoscale.ts).
   */
  slotsWanted?: SlotsWanted;
}

export interface PassResult {
  decision: ScaleDecision;
  look: PoolLook;
  pods: PodSummary[];
  /** Jobs one of this runner's agents received since the last pass, with how long each waited. */
  started: JobStart[];
  /** The history with them, for the caller to keep in PassState once the pass is reported (src/core/job-wait.ts). */
  waits?: WaitHistory;
  /** The slots whose pod cannot start, and why (src/core/slot-start.ts). */
  stuck: StuckSlot[];
  /** Whether one of the runner's registrations may take a job after the pass: enabled in its look, or by it. */
  takesJobs: boolean;
}

/** One look at the pool and what follows from it: observe, plan (src/core/pass-plan.ts), act; after a drain, observe and plan once more. */
export async function scalePass(options: PassOptions, services: PassServices, state: PassState): Promise<PassResult> {
  const { log, ado } = services;
  const { kube, poolId } = state;
  // A pass decides afresh: what an earlier one left pending is forgotten, also when this one fails before deciding.
  state.pendingStarts = undefined;
  const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: options.namespace, name: options.runnerName };
  const statefulSet = await kube.get(ref);
  if (statefulSet === undefined) {
    throw new UnusableInput('runnerName', `there is no StatefulSet '${options.runnerName}' in namespace '${options.namespace}'. Run DeployRunnerPool first.`);
  }
  // Before anything else can fail: a pass that keeps failing must not keep the handshake from registering pods.
  state.statefulSetUid = statefulSet.metadata.uid;
  const owner = replicasOwner(statefulSet);
  const conflict = ownerConflict(options.runnerName, options.actor, owner);
  if (conflict !== undefined) throw new UnusableInput('runnerName', conflict);
  const currentReplicas = (statefulSet.spec as { replicas?: number }).replicas ?? 1;
  // One look at the runner's pods serves the pass: which slots cannot start (before deciding), then the busy marks and
  // the snapshot. The StatefulSet's events only when a slot has no pod.
  // The time before the list: a pod it shows was there then.
  const listedAt = services.clock.now();
  const listed = await kube.list('v1', 'Pod', options.namespace, poolLabelSelector(options.runnerName));
  state.slotsSeen = slotsSeen(state.slotsSeen, options.runnerName, listed, listedAt);
  state.eventReads ??= {};
  const refusals = await startRefusals(kube, statefulSet, currentReplicas, listed, log, state.eventReads);
  // Whose the pool's agents are: those carrying its identity, and those it granted whatever they claim.
  const granted = new Set([...recordedAgentIds({ runnerName: options.runnerName, statefulSetUid: statefulSet.metadata.uid }, listed), ...(state.grantedAgents?.keys() ?? [])]);
  const identity = { ...recordedIdentity(statefulSet), granted };
  const observe = (fresh: boolean) => observeAgents(options, services, state, identity, fresh);
  let look = await observe(false);
  const stuck = stuckSlots({
    runnerName: options.runnerName, replicas: currentReplicas, statefulSetUid: statefulSet.metadata.uid, pods: listed, events: refusals,
    registeredPods: new Set(look.ours.flatMap((agent) => keyHolder(agent) ?? [])), seen: state.slotsSeen, now: services.clock.now(),
  });
  const observed: PassObservation = {
    runnerName: options.runnerName, target: options.target, actor: options.actor, dryRun: options.dryRun, removeStaleRegistrations: options.removeStaleRegistrations,
    ado: ado === undefined ? undefined : { poolFound: poolId !== undefined }, currentReplicas, owner, pods: listed, look, stuck, at: services.clock.now(),
  };
  let plan = planPass(observed);
  // Azure DevOps refused to change an agent's enabled flag (403) in this pass: this pass's answer, retried next pass.
  let refusal: AdoError | undefined;
  // A count is lowered only on a look of its own: taken after the drain, or, with nothing to drain, instead of a look
  // whose job requests came from another runner (src/core/shared-look.ts), which rests on two nodes' clocks agreeing.
  if (plan.disable.length > 0 || (plan.decision.action === 'scale_down' && ado?.lastLookShared === true)) {
    await state.beforeWrite?.();
    if (plan.disable.length > 0) refusal = await trySetAgentsEnabled(ado!, log, poolId!, plan.disable, false);
    // A job may have reached a slot between the first look and its drain: look again before scaling.
    if (refusal === undefined) look = await observe(true);
    // A task's one pass scales without draining, on its first decision, and says so.
    else if (options.actor !== 'autoscaler') log.warning(drainRefused(refusal, drainPurpose));
    const at = refusal !== undefined && options.actor !== 'autoscaler' ? observed.at : services.clock.now();
    plan = planPass({ ...observed, look, at, drain: { refused: refusal?.message } });
  }
  let { decision } = plan;
  const enabledInLook = look.ours.some((agent) => agent.enabled);
  if (options.dryRun) return { decision, look, pods: [], started: [], stuck, takesJobs: enabledInLook };
  const { history: waits, fresh: started } = recordStarts(state.waits, jobStarts(look.ours, look.jobs), look.jobs.map((job) => job.requestId), services.clock.now());
  // The single-use upkeep (PassState.beforeScale): before a write that lowers or keeps the count; around one that raises
  // it (disabling before, retiring after), so that the slots queued jobs wait for wait on no retirement. Its failure fails the pass, but only once the
  // pass has done the rest (a refused retirement holds up no scaling), unless it found the lease lost.
  const upkeep = async (part: UpkeepPart) => state.beforeScale?.(look, statefulSet, part).then(() => undefined, (error: unknown) => {
    if (error instanceof LeadershipLost) throw error;
    return { error: error as Error };
  });
  // The slots wanted running start before the count's write and what follows it: each second here is a second of a
  // pod's start.
  state.slotsWanted = plan.slotsWanted;
  const { gates } = plan;
  let upkeepFailure = await upkeep(plan.upkeep.first);
  // The pods whose gate this pass lifted (UIDs): the list was taken before, and they start now.
  const lifted = new Set<string>();
  try {
    if (gates !== undefined) {
      state.pendingStarts = new Set(gates.pending);
      const skipped = await liftGates(kube, options.namespace, gates.ungate, scaleFieldManager, log, state.beforeWrite);
      for (const { ordinal } of skipped) state.pendingStarts.add(ordinal);
      for (const pod of gates.ungate) if (!skipped.includes(pod)) lifted.add(pod.uid);
    }
    // Before a write that lowers or keeps the count: a pod it ends goes with its own grace period.
    if (plan.upkeep.retire === 'after-starts') upkeepFailure = (await upkeep('retire')) ?? upkeepFailure;
    if (decision.action === 'scale_down' || decision.action === 'scale_up') {
      await state.beforeWrite?.();
      if (decision.action === 'scale_down') await scaleDown(kube, ref, decision.replicas, statefulSet, state.beforeWrite);
      else {
        try {
          await kube.scale(ref, decision.replicas, scaleFieldManager);
        } finally {
          upkeepFailure = (await upkeep('retire')) ?? upkeepFailure;
        }
      }
    }
    if (plan.markOwner) await kube.mergePatch(ref, { metadata: { annotations: { [annotations.replicasOwner]: 'ScaleRunnerPool' } } }, scaleFieldManager);
    await markBusyPods(kube, options.namespace, plan.busyMarks);
    // The hub shows a gated pod as Parked: one started just now shows as starting, not beside the job it starts for.
    const pods = listed.map(summarizePod).map((pod) => (lifted.has(pod.uid) ? { ...pod, gated: undefined } : pod)).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    if (stuck.length > 0) await state.beforeWrite?.();
    state.stuckTold = await tellStuckSlots(kube, statefulSet, stuck, state.stuckTold, { now: services.clock.now(), reporter: options.actor, fieldManager: scaleFieldManager, log });
    let enabledByPass = false;
    if (ado !== undefined && poolId !== undefined) {
      if (plan.enable.length > 0) {
        await state.beforeWrite?.();
        enabledByPass = true;
        refusal = await trySetAgentsEnabled(ado, log, poolId, plan.enable, true);
        if (refusal !== undefined && options.actor === 'autoscaler') decision = { ...decision, reason: `${decision.reason} (Azure DevOps refused to enable ${plan.enable.map((agent) => agent.name).join(', ')}: ${refusal.message}; the next pass tries again)` };
        else if (refusal !== undefined) log.warning(drainRefused(refusal, drainPurpose));
        state.agents = undefined; // their enabled flags changed since the look
      }
      const pool = { runnerName: options.runnerName, namespace: options.namespace, poolName: options.poolName, organizationUrl: options.organizationUrl, replicas: decision.replicas };
      const snapshot = buildSnapshot(pool, pods, options.actor, new Date(services.clock.now()), { lastDecision: decision, jobWait: summarizeWaits(waits, services.clock.now()), stuck });
      if (snapshotDue(state.published, snapshot, services.clock.now())) {
        await publishForHub(ado, log, snapshot);
        state.published = { snapshot, at: services.clock.now() };
      }
      for (const { agent, reason } of plan.stale) {
        await state.beforeWrite?.();
        try {
          // Already gone (another run removed it): nothing to report.
          if (!(await ado.deleteAgent(poolId, agent.id))) continue;
        } catch (error) {
          // The service keeps an agent that holds a job (400, TaskAgentJobStillRunningException): it took one since the
          // look, or its pod died mid-job and the job's lock has not run out yet. A later pass finds it idle.
          if (!(error instanceof AdoError && error.status === 400)) throw error;
          log.warning(`Kept the offline registration ${agent.name} for now: ${error.message}. A later pass removes it once it holds no job.`);
          continue;
        }
        log.info(`Removed the offline registration ${agent.name}: ${reason}.`);
      }
    }
    if (upkeepFailure !== undefined) throw upkeepFailure.error;
    return { decision, look, pods, started, waits, stuck, takesJobs: enabledInLook || enabledByPass };
  } catch (error) {
    // A later step fails the pass with its own error: the upkeep's must not be lost with it.
    if (upkeepFailure !== undefined && error !== upkeepFailure.error) log.warning(`The single-use upkeep failed too in this pass: ${upkeepFailure.error.message}`);
    throw error;
  }
}

/**
 * The pass's look at Azure DevOps: the pool's unfinished jobs and its agents. A pool at rest costs one call a look: with
 * no unfinished job, or the same ones unchanged since the agents were read (a burst waiting for its pods), no agent
 * took or finished a job, so the agents read within the last minute still say all the pass needs (the look after a
 * drain, `fresh`, always reads them again, and its job requests itself, none from another runner's look). For the
 * autoscaler, not while one of ours was busy then or could have taken a job since (enabled: one still starting then
 * may be online now): a job may have run and ended between two looks, and its registration is to be retired at once
 * (src/core/single-use.ts).
 */
async function observeAgents(options: PassOptions, services: PassServices, state: PassState, identity: RunnerIdentity, fresh: boolean): Promise<PoolLook> {
  const { ado } = services;
  const { poolId } = state;
  if (poolId === undefined || ado === undefined) return { busyOrdinals: [], queuedJobs: 0, leftToOthers: 0, ours: [], jobs: [] };
  if (fresh) ado.lookAfresh?.();
  const jobs = await ado.listUnfinishedJobs(poolId);
  const cached = state.agents;
  const settled = (list: AgentInfo[]) => options.actor !== 'autoscaler' || !ownAgents(identity, list).some((agent) => agent.busyWith !== undefined || agent.enabled);
  const seen = jobsSeen(jobs);
  const reuse = !fresh && cached !== undefined && (jobs.length === 0 || cached.jobs === seen) && services.clock.now() - cached.at < agentsKeptMs && settled(cached.list);
  const agents = reuse ? cached.list : await ado.listAgents(poolId);
  if (!reuse) {
    state.agents = { list: agents, at: services.clock.now(), jobs: seen };
    for (const id of state.grantedAgents?.keys() ?? []) if (!agents.some((agent) => agent.id === id)) state.grantedAgents!.delete(id);
  }
  return observePool(identity, agents, jobs, options.actor === 'autoscaler');
}

// While a burst of pods starts, the controller updates the status several times a second: a few conflicts in a row.
const scaleDownTries = 10;

/**
 * A scale-down only on the StatefulSet as this pass looked at it: if another writer (a second autoscaler, a person)
 * changed its spec since, the write fails (409) instead of removing a slot nobody drained, and the next pass looks
 * again. Its controller's status updates change the resourceVersion too: after such a conflict, a spec that is still
 * the one looked at (same generation, same count) is scaled with the resourceVersion read then.
 */
async function scaleDown(kube: KubeClient, ref: ObjectRef, replicas: number, looked: KubeObject, beforeWrite?: () => Promise<void>): Promise<void> {
  let resourceVersion = looked.metadata.resourceVersion;
  for (let attempt = 1; ; attempt++) {
    try {
      return await kube.scale(ref, replicas, scaleFieldManager, resourceVersion);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409) || attempt === scaleDownTries) throw error;
      const now = await kube.get(ref);
      const count = (object: KubeObject | undefined) => (object?.spec as { replicas?: number } | undefined)?.replicas;
      if (now === undefined || now.metadata.generation !== looked.metadata.generation || count(now) !== count(looked)) throw error;
      resourceVersion = now.metadata.resourceVersion;
      // Tries take a while on a busy API server: each is a write like the first.
      await beforeWrite?.();
    }
  }
}

/** Writes the busy marks the plan found wrong: busy pods are kept by node drains and the cluster autoscaler. */
async function markBusyPods(kube: KubeClient, namespace: string, marks: BusyMark[]): Promise<void> {
  for (const { pod, busy } of marks) {
    try {
      await kube.mergePatch(
        { apiVersion: 'v1', kind: 'Pod', namespace, name: pod },
        { metadata: { labels: { [busyLabel]: String(busy) }, annotations: { [annotations.safeToEvict]: String(!busy) } } },
        scaleFieldManager,
      );
    } catch (error) {
      // The pod ended its job and went since the list: its successor starts unmarked and is marked next time.
      if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    }
  }
}
