// The plan of one DeployRunnerPool run (src/flows/deploy-pool.ts): one look at the runner before any change (its
// StatefulSet, its pods, its autoscaler's Lease, the pool's agents read once) in, every change the run makes out, as
// data: the refusal of slot names another runner took, the objects to apply, the egress policy to remove, the
// autoscaler to stop (and outlast) when autoscaling is turned off, and who sets the replica count — the run's own
// scaling pass (src/core/pass-plan.ts), or another owner it leaves alone, saying so. The flow looks, asks, acts.
//
// Two steps act on a world the run has changed, and look again first; the decision on that look is made here too.
// Stopping an autoscaler: it may have started parked pods until it stopped, so which to replace goes by a list taken
// after it (`parkedToReplace`). Replacing the idle pods of an old template: the outdated pods and their agents are
// looked at once the count is set (`planReplacement`), the idle ones drained, and each is deleted only if a second look
// shows its agent can be handed no job (`afterDrain`); a job that reached it meanwhile runs to its end.
import type { AgentInfo, RunnerPoolSpec, ScaleDecision } from './model.js';
import type { KubeObject, ObjectRef } from './ports/kube.js';
import type { PodSummary } from './pod-status.js';
import { UnusableInput } from './inputs.js';
import { otherOwner, type RunnerIdentity } from './runner-identity.js';
import { replicasOwner } from './pass-plan.js';
import { slotOrdinal } from './slots.js';
import { autoscalerKeysSecretName, autoscalerPolicyName, egressPolicyName, handshakePolicyName } from './manifests/index.js';
import { renderAutoscalerAccess, renderAutoscalerDeployment } from './manifests/autoscaler.js';

/** What a deploy plans from: the pool to apply, and one look at the runner before any change. */
export interface DeployObservation {
  /** The pool as applied: its name, identity, autoscaler keys and pod recycling settled. */
  pool: RunnerPoolSpec;
  /** Its objects, as the dry run checked them. */
  objects: KubeObject[];
  /** The runner's StatefulSet before this deploy, when it exists. */
  existing?: KubeObject;
  /** The runner's pods. */
  pods: PodSummary[];
  /** Whether its autoscaler's Lease is there (looked at only when autoscaling is off). */
  leaseFound: boolean;
  /** The pool's agents, read once; undefined without the pool's id (no Azure DevOps access): nothing is known of them. */
  agents?: AgentInfo[];
  /** The runner deployed, with the agent ids its autoscaler recorded on its pods. */
  self: RunnerIdentity;
}

/** The count this run's own scaling pass sets (drained, never below a busy slot). */
export interface CountByPass {
  replicas: number;
  /** Why the count asked for is not the one the pass is given. */
  warning?: string;
  /** Whether the pass may reuse the agents read: not after an autoscaler outlasted, which may have changed them. */
  reuseAgents: boolean;
}

export interface DeployPlan {
  /** Another runner's agents hold this runner's slot names: the run changes nothing. */
  refusal?: UnusableInput;
  apply: KubeObject[];
  /** The egress policy to delete (restrictEgress off). */
  removeEgress?: ObjectRef;
  /**
   * Autoscaling turned off with an autoscaler's objects left: those to delete (its Deployment first), whether it may
   * still act (then it is outlasted, or it would enable the agents the pass drains next), and the slots below which
   * a pod it kept parked is replaced.
   */
  stopAutoscaler?: { objects: KubeObject[]; outlast: boolean; replaceParkedBelow: number };
  /** The replica count before the run. */
  currentReplicas: number;
  /** The pass that sets the count; undefined when another owner sets it. */
  pass?: CountByPass;
  /** Why the count stays as it is, when another owner sets it. */
  countStays?: string;
}

/**
 * Agent names are unique in a pool: a runner whose slots' names another cluster's (or namespace's) runner registered
 * would take them over, or never register. Refused before anything changes; default names never collide.
 */
export function takenNames(agents: AgentInfo[], self: RunnerIdentity): UnusableInput | undefined {
  const taken = agents.map((agent) => ({ agent, owner: otherOwner(self, agent) })).find(({ owner }) => owner !== undefined);
  if (taken === undefined) return undefined;
  return new UnusableInput('runnerName', `the pool's agent ${taken.agent.name} belongs to ${taken.owner}, and agent names are unique in a pool. Give this runner another runnerName, or leave it empty for one of its own.`);
}

/** The autoscaler's objects, to remove when autoscaling is turned off: its Deployment first, so it stops first. */
function autoscalerObjects(pool: RunnerPoolSpec): KubeObject[] {
  const withAutoscaler = { ...pool, autoscaler: { minReplicas: 0, maxReplicas: 0, standby: 0, pollSeconds: 5 } };
  const named = (kind: string, apiVersion: string, name: string): KubeObject => ({ apiVersion, kind, metadata: { name, namespace: pool.namespace } });
  return [
    named('Secret', 'v1', autoscalerKeysSecretName(pool.runnerName)),
    ...renderAutoscalerAccess(withAutoscaler),
    named('NetworkPolicy', 'networking.k8s.io/v1', handshakePolicyName(pool.runnerName)),
    named('NetworkPolicy', 'networking.k8s.io/v1', autoscalerPolicyName(pool.runnerName)),
    renderAutoscalerDeployment(withAutoscaler),
  ].reverse();
}

/**
 * Whether an autoscaler of a pool now deployed without one left anything to undo, and whether one may still act: its
 * Lease is there, or the StatefulSet still names it the count's owner (it may not have taken its Lease yet). Told by
 * the cluster, not only by that annotation: the apply removes it before the rest is undone, so a run that failed part
 * way (the autoscaler outlasting it, a refused call) leaves its rerun only the Lease and the pods it kept gated to tell.
 */
function autoscalerLeft(observed: DeployObservation): { mayAct: boolean } | undefined {
  const { existing, pool } = observed;
  if (pool.autoscaler !== undefined || existing === undefined) return undefined;
  const mayAct = replicasOwner(existing) === 'autoscaler' || observed.leaseFound;
  return mayAct || observed.pods.some((pod) => pod.gated) ? { mayAct } : undefined;
}

export function planDeploy(observed: DeployObservation): DeployPlan {
  const { pool, existing, agents } = observed;
  const currentReplicas = (existing?.spec as { replicas?: number } | undefined)?.replicas ?? pool.replicas;
  const refusal = agents && takenNames(agents, observed.self);
  if (refusal !== undefined) return { refusal, apply: [], currentReplicas };
  const left = autoscalerLeft(observed);
  const stopAutoscaler = left && {
    objects: autoscalerObjects(pool), outlast: left.mayAct,
    // Without Azure DevOps access the count never goes down (nothing tells busy slots): every slot stays.
    replaceParkedBelow: agents === undefined ? Infinity : pool.replicas,
  };
  const plan = {
    apply: observed.objects, currentReplicas, stopAutoscaler,
    ...(pool.restrictEgress === false && { removeEgress: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace: pool.namespace, name: egressPolicyName(pool.runnerName) } }),
  };
  // The count has one owner. With the autoscaler it is the autoscaler's; once ScaleRunnerPool scaled the pool, its;
  // otherwise (autoscaling just turned off included) this task's `replicas`, reached through the same pass (drain,
  // busy floor) as every other scale-down.
  if (pool.autoscaler !== undefined) return { ...plan, countStays: `The replica count stays ${currentReplicas}: the in-cluster autoscaler sets it.` };
  if (existing !== undefined && replicasOwner(existing) === 'ScaleRunnerPool') {
    return { ...plan, countStays: `The replica count stays ${currentReplicas}: ScaleRunnerPool scales this pool (remove the annotation azure-devops-runner/replicas-owner to hand it back).` };
  }
  // The pass reuses the agents read while no job is unfinished, for a minute (scale-pass.ts); not after an autoscaler
  // it outlasted, which may have changed their enabled flags meanwhile.
  const pass = { replicas: pool.replicas, reuseAgents: stopAutoscaler === undefined };
  if (agents === undefined && pool.replicas < currentReplicas) {
    return { ...plan, pass: { ...pass, replicas: currentReplicas, warning: `The pool stays at ${currentReplicas} replicas, not ${pool.replicas}: lowering it needs a PAT to see which agents are busy (credentialType pat).` } };
  }
  return { ...plan, pass };
}

/** What the run says of its pass's decision: a count changed, or other than the one asked for. */
export function passReport(decision: ScaleDecision, asked: number): string | undefined {
  return decision.replicas !== decision.previousReplicas || decision.replicas !== asked ? `${decision.reason}.` : undefined;
}

/**
 * Autoscaling turned off, on a look taken once the autoscaler no longer acts: the pods it kept gated are of its
 * template, and started they would wait for a registration no autoscaler grants. None ever ran a container, so none
 * holds an agent or a job: each of a slot below `below` goes at once, undrained, and its next pod comes from the new
 * template, which has no gate; those above go with the scale-down (started first only if a busy slot above keeps
 * them: then replaced).
 */
export function parkedToReplace(runnerName: string, pods: PodSummary[], below: number): PodSummary[] {
  return pods.filter((pod) => pod.gated && !pod.deleting && slotOrdinal(runnerName, pod.name)! < below);
}

/**
 * The pass keeps a kept slot drained while its old pod is still leaving (a job handed to it would be cut off). No
 * later pass of this run enables it: the run waits for those pods to go, then enables their agents.
 */
export function drainedWhileLeaving(runnerName: string, ours: AgentInfo[], passPods: PodSummary[], replicas: number): { pods: PodSummary[]; agents: AgentInfo[] } {
  // The pods the pass saw leaving (they may be gone already), of slots the pool keeps.
  const leaving = passPods.filter((pod) => pod.deleting && slotOrdinal(runnerName, pod.name)! < replicas);
  const agents = ours.filter((agent) => !agent.enabled && leaving.some((pod) => pod.name === agent.name));
  return { pods: leaving.filter((pod) => agents.some((agent) => agent.name === pod.name)), agents };
}

/** The pods still on a template older than the StatefulSet's `updateRevision`, not already leaving. */
export function outdatedPods(pods: PodSummary[], updateRevision: string | undefined): PodSummary[] {
  return pods.filter((pod) => updateRevision !== undefined && pod.revision !== undefined && pod.revision !== updateRevision && !pod.deleting);
}

/** A pod the plan leaves running, and why (the log line says it). */
export interface KeptPod {
  pod: PodSummary;
  reason: string;
}

export interface ReplacementPlan {
  /** Said when nothing tells an idle pod from a busy one (no Azure DevOps access): each is left to its next job. */
  notice?: string;
  /** The busy ones, left to finish their job. */
  kept: KeptPod[];
  /** The idle ones: marked draining, their agents drained, then replaced if a second look still finds them idle. */
  drain: PodSummary[];
}

const agentOf = (agents: AgentInfo[] | undefined, pod: PodSummary) => agents?.find((agent) => agent.name === pod.name);

/**
 * Pods still on the previous template take the new one when they are replaced after their next job (OnDelete). An
 * idle one would run that job on the old template, so it is replaced now; a busy one is left to finish. `agents`:
 * the runner's agents as last looked at; undefined without Azure DevOps access, or when the pool has no such agent
 * pool (then no pod has an agent that could be handed a job).
 */
export function planReplacement(outdated: PodSummary[], agents: AgentInfo[] | undefined, adoAccess: boolean): ReplacementPlan {
  if (!adoAccess) return { notice: `${outdated.length} pod(s) run the previous template; each takes the new one after its next job.`, kept: [], drain: [] };
  const busy = (pod: PodSummary) => agentOf(agents, pod)?.busyWith !== undefined;
  return {
    kept: outdated.filter(busy).map((pod) => ({ pod, reason: `${pod.name} is running a job; it takes the new template when that job ends.` })),
    drain: outdated.filter((pod) => !busy(pod)),
  };
}

/** The agents to drain: those of the pods marked draining (a pod replaced since the look has nothing to drain). */
export function agentsToDrain(marked: PodSummary[], agents: AgentInfo[] | undefined): AgentInfo[] {
  return marked.map((pod) => agentOf(agents, pod)).filter((agent) => agent !== undefined);
}

/**
 * A drained pod, on the look after its drain: deleted (undefined) when its agent is idle and disabled, whoever
 * disabled it, or not registered — nothing can hand it a job: no scaling pass nor handshake enables a draining pod's
 * agent. Kept, saying why, when its agent took a job, or is enabled (registered or enabled again between the two
 * looks): it may be handed a job at any moment, and its pod ends after that job, on the new template.
 */
export function afterDrain(pod: PodSummary, agents: AgentInfo[] | undefined, drained: AgentInfo[]): KeptPod | undefined {
  const agent = agentOf(agents, pod);
  if (agent?.busyWith !== undefined) return { pod, reason: `${pod.name} took a job while being drained; it takes the new template when that job ends.` };
  if (agent?.enabled !== true) return undefined;
  const since = drained.some((other) => other.id === agent.id) ? 'was enabled again after its drain' : 'registered after the first look, undrained';
  return { pod, reason: `${pod.name}'s agent ${since}; it takes the new template after its next job.` };
}

/**
 * The agents the replacement drained that take jobs again once the pods it deleted are gone: those of slots the pool
 * keeps (the StatefulSet removes those above). An autoscaled pool's none: its registrations are single-use
 * (src/core/single-use.ts), enabled by its live pod's re-key or a pass that sees that pod hold the key.
 */
export function enableAfterReplacement(pool: Pick<RunnerPoolSpec, 'runnerName' | 'autoscaler'>, drained: AgentInfo[], replicas: number): AgentInfo[] {
  if (pool.autoscaler !== undefined) return [];
  return drained.filter((agent) => slotOrdinal(pool.runnerName, agent.name)! < replicas);
}
