// Single-use registrations, emulated (autoscaling: inCluster). Azure DevOps has none: a registration's key works until
// someone re-keys it, and a job step can copy its agent's key (it runs as the agent's user). So the autoscaler makes
// every registration of a slot belong to one pod and one job, and ends it after that job:
//
// - The autoscaler records on each pod the agent id it grants it (the `agent-id` annotation, written before the
//   grant; no pod can write it). That, not what an agent reports, says which pod holds a registration's key.
// - A registration so recorded, or granted by this autoscaler (it remembers the ids it granted until the pool no
//   longer has them: a pod whose agent ends is deleted within moments, its annotation with it), is the runner's
//   whatever its capabilities claim: a copied key's session that names another namespace or cluster does not take it
//   out of the runner's view (never retired, the slot's next pod refused as another runner's), and its placeholder
//   carries the runner's own identity.
// - A registration that finished a job and runs none is retired, whatever its capabilities say: Azure DevOps' record
//   of its last completed request is the service's, and no pod or agent session can forge it (a session started from
//   a copied key reports any capabilities it likes, RUNNER_POD_UID among them). Retiring deletes it, which ends every
//   session and token of that agent id, and adds in its place a disabled placeholder under the same name with a key
//   nobody holds, so that jobs still queue when the pool is at zero (a pool with no registration rejects them). The
//   placeholder carries what the autoscaler trusts, not the retired registration's capabilities (its last session's
//   word, which could bend the assignment rule until the slot registers again): those its pod's request had at the
//   grant, which the autoscaler remembers by agent id, else the retired registration's with the runner's variables
//   (RUNNER_*) replaced by its declared ones (its StatefulSet template's agent variables).
// - Before that, the slot's own live pod holding that key (the pod of that name owned by the runner's StatefulSet and
//   annotated with that agent id) is deleted, by UID and with 5 s grace: a job that stopped its start script
//   (`kill -STOP`; the init ignores it, the script does not) keeps its container running after its agent exited,
//   with whatever the job left there, and would hold the slot for good.
// - A registration whose pod's agent ended before any job (its container terminated, the pod finished or gone, by its
//   RUNNER_POD_UID) is retired too: a slot at rest is a placeholder.
// - A busy registration is disabled while its job runs: the job goes on, but whatever outlives it holds a
//   registration the service gives no further job. The pod's supervisor tells the autoscaler the moment its agent
//   takes a job, before any step runs (./job-notice.ts), and the autoscaler looks at once (within 2 s of its last look
//   for notices): a job shorter than one poll interval is seen busy too. The notice only hastens the look; what
//   disables is Azure DevOps' record of the job. While the autoscaler backs off (the organization's rate budget low,
//   or failing passes) no look comes sooner: a notice from the very pod holding the registration (its IP, the agent id
//   recorded on it) disables that one registration by its id instead, and a pod whose agent ended has its
//   registration retired from a read of that one agent; another pod's notice disables nothing.
// - A slot is enabled only by a live pod's re-key (the handshake, which re-keys a placeholder and gives a pod a new
//   agent id when the registration had a job), never for a pod DeployRunnerPool is replacing (annotated draining); a
//   scale pass never enables a registration that had a job, nor one whose key no live pod holds, and DeployRunnerPool
//   enables none: it removes the draining mark from the pods it keeps, and a scale pass enables theirs.
//
// Left open: from the agent's exit to the autoscaler's next look a copied key still works — about a second when the
// container ends (the pod watch wakes the autoscaler), at most one poll interval when a job keeps it running; but the
// registration takes no job then: it was disabled while its job ran. Its window is now from the listener's `Running
// job:` line to the pass its notice brings, about one look's round trip (a pod and Azure DevOps call or two; in a
// burst, also the batch of registrations under way, up to 14 s with 20 pods starting on 2 cores): a job
// that ends within that, and a job waiting for that very slot then, may still reach an agent started from a key copied
// within it. When the notice is lost (a network plugin that keeps runner pods from the autoscaler, the autoscaler
// restarting, an image from before notices), the poll interval is the window again, as before: a job shorter than one
// interval is never seen busy (a low rate budget stretches the interval, to a minute at most while a registration of
// the runner may take a job: src/core/poll-interval.ts). Azure DevOps has no single-use registration; only the service could close this whole.
// Also open: a pod granted
// before the `agent-id` annotation existed is not ended (its registration is retired all the same); the granted ids
// live in the autoscaler's memory, so after it restarts (or another takes its lease) a registration whose copied key's
// session named another namespace (RUNNER_NAMESPACE) or cluster, and whose pod is gone, is out of the runner's view
// again: never retired, and the slot's next pod refused as another runner's (a durable record of the grants, e.g. on
// the StatefulSet, is the next step), and a placeholder of a registration granted before the restart keeps that
// registration's capabilities beside the runner's declared variables (the image's tools, so that a job demanding one
// still queues at zero): a capability a copied key's session added there stays until the slot registers again. Until its retirement a copied key's session's
// capabilities count in the assignment rule (src/core/assignment.ts): while its job runs and for the window above. And
// a registration the service would not delete while it held a job is re-keyed in place for the next pod, disabled (it
// had a job), and that pod is ended once that job is abandoned (one pod start wasted).
import type { AgentInfo } from './model.js';
import type { KubeObject } from './ports/kube.js';
import { controlledBy, reportedVariables, type AgentRegistration, type PublicKey } from './registration.js';
import { annotations, identityVariables } from './manifests/pool-labels.js';
import { withOwnIdentity, type RunnerIdentity } from './runner-identity.js';
import { slotOrdinal } from './slots.js';

/** The pod whose key a registration holds by its own account (RUNNER_POD_UID); undefined for a placeholder. */
export function keyHolder(agent: AgentInfo): string | undefined {
  return agent.capabilities[identityVariables.podUid] || undefined;
}

/** Whether a registration has had a job: it runs one, or the service records one it finished. */
export function hadJob(agent: AgentInfo): boolean {
  return agent.busyWith !== undefined || agent.lastCompletedRequestId !== undefined;
}

interface PodShape {
  status?: { phase?: string; containerStatuses?: Array<{ name: string; state?: { terminated?: unknown } }> };
}

function agentLive(pod: KubeObject): boolean {
  const { status } = pod as unknown as PodShape;
  const finished = status?.phase === 'Succeeded' || status?.phase === 'Failed';
  const terminated = status?.containerStatuses?.find((container) => container.name === 'agent')?.state?.terminated !== undefined;
  return !finished && !terminated;
}

/** The runner's pods whose agent may still run: not finished, and the agent container not terminated. */
export function podsWithLiveAgents(pods: KubeObject[]): Set<string> {
  return new Set(pods.flatMap((pod) => (pod.metadata.uid && agentLive(pod) ? [pod.metadata.uid] : [])));
}

/** The runner a plan is for: its name, and its StatefulSet's UID (the owner of its slots' pods). */
export interface SingleUseRunner {
  runnerName: string;
  statefulSetUid?: string;
}

/** A pod to end, by name and the incarnation looked at. */
export interface PodRef {
  name: string;
  uid: string;
}

/**
 * The slot's own live pod that holds this registration's key: named as the slot, controlled by the runner's
 * StatefulSet, granted this agent id, and not already on its way out within `endGraceSeconds`. Another's delete (a
 * person's, a scale-down) gives it the pod's whole grace period, which a start script the job stopped would use up:
 * that one is shortened at the API server, though a kubelet already stopping the pod may hold to its first grace
 * period; the autoscaler's own scale-down comes after this end (src/flows/scale-pass.ts PassState.beforeScale).
 */
export function podHoldingKey(runner: SingleUseRunner, agent: AgentInfo, pods: KubeObject[]): PodRef | undefined {
  const pod = pods.find(({ metadata }) => metadata.name === agent.name && metadata.annotations?.[annotations.agentId] === String(agent.id));
  if (pod?.metadata.uid === undefined || !controlledBy(pod, runner.statefulSetUid) || endingSoon(pod) || !agentLive(pod)) return undefined;
  return { name: pod.metadata.name, uid: pod.metadata.uid };
}

/**
 * The agent ids recorded on the runner's pods (the `agent-id` annotation on a slot's pod its StatefulSet controls):
 * registrations the autoscaler made, the runner's whatever their sessions claim.
 */
export function recordedAgentIds(runner: SingleUseRunner, pods: KubeObject[]): number[] {
  return pods.flatMap((pod) => {
    const recorded = pod.metadata.annotations?.[annotations.agentId] ?? '';
    return slotOrdinal(runner.runnerName, pod.metadata.name) !== undefined && controlledBy(pod, runner.statefulSetUid) && /^\d{1,15}$/.test(recorded) ? [Number(recorded)] : [];
  });
}

/** Long enough for an agent that is exiting anyway; a start script a job stopped never answers the SIGTERM. */
export const endGraceSeconds = 5;

function endingSoon(pod: KubeObject): boolean {
  const { deletionTimestamp, deletionGracePeriodSeconds } = pod.metadata as { deletionTimestamp?: string; deletionGracePeriodSeconds?: number };
  return deletionTimestamp !== undefined && deletionGracePeriodSeconds !== undefined && deletionGracePeriodSeconds <= endGraceSeconds;
}

/** A registration to replace with a placeholder, and the pod holding its key, ended first. */
export interface Retirement {
  agent: AgentInfo;
  pod?: PodRef;
}

/** What the autoscaler does to keep every registration single-use, from one look at the agents and the pods. */
export interface SingleUsePlan {
  /** Registrations that ran their job, or whose pod's agent has ended: replace each with a placeholder. */
  retire: Retirement[];
  /** Busy registrations still enabled: disable each, so that nothing gets a second job through it. */
  disable: AgentInfo[];
}

export function planSingleUse(runner: SingleUseRunner, ours: AgentInfo[], pods: KubeObject[]): SingleUsePlan {
  const live = podsWithLiveAgents(pods);
  const slots = ours.filter((agent) => slotOrdinal(runner.runnerName, agent.name) !== undefined);
  const retired = slots.filter((agent) => {
    const holder = keyHolder(agent);
    const ranItsJob = agent.lastCompletedRequestId !== undefined && agent.busyWith === undefined;
    return ranItsJob || (holder !== undefined && !live.has(holder));
  });
  const disable = slots.filter((agent) => agent.enabled && agent.busyWith !== undefined && !retired.includes(agent));
  return { retire: retired.map((agent) => ({ agent, pod: podHoldingKey(runner, agent, pods) })), disable };
}

/** Whether a scale pass may enable this registration: only before its job, while a live pod holds its key. */
export function mayEnable(agent: AgentInfo, livePods: Set<string>): boolean {
  const holder = keyHolder(agent);
  return !hadJob(agent) && holder !== undefined && livePods.has(holder);
}

/**
 * Whether the handshake must give a pod a new agent id rather than re-key the slot's registration: when that
 * registration had a job (whatever outlived it may hold its key and sessions), or holds another pod's key.
 */
export function needsNewAgentId(existing: AgentInfo, podUid: string): boolean {
  const holder = keyHolder(existing);
  return hadJob(existing) || (holder !== undefined && holder !== podUid);
}

/** What the autoscaler trusts about its registrations' capabilities: never what an agent's session reports. */
export interface TrustedCapabilities {
  /** By agent id, those it registered at each grant it remembers: its pod's request, made before any job ran there. */
  granted: ReadonlyMap<number, Record<string, string>>;
  /** The runner's declared ones (declaredCapabilities), for a registration whose grant it does not remember. */
  declared: Record<string, string>;
}

interface TemplateShape {
  spec?: { template?: { spec?: { containers?: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } } };
}

/**
 * The capabilities a runner declares: the variables with a literal value in its StatefulSet template's agent container
 * that the agent reports. Not a pod's own (its name, UID, node) nor a Secret's: those are no value of the template.
 */
export function declaredCapabilities(statefulSet: KubeObject): Record<string, string> {
  const agent = (statefulSet as unknown as TemplateShape).spec?.template?.spec?.containers?.find((container) => container.name === 'agent');
  return reportedVariables(Object.fromEntries((agent?.env ?? []).map(({ name, value }) => [name, value])));
}

/**
 * The placeholder that takes a retired registration's name: disabled, a key nobody holds, no pod. Its capabilities are
 * those its pod registered with at the grant, and the runner's own identity: the retired registration's are its last
 * session's word, and a copied key's session would leave there whatever bends the assignment rule (a RUNNER_PRIORITY of
 * 1000, a capability the runner lacks) until the slot registers again. For a grant it does not remember (granted
 * before its restart), the retired registration's own, its runner's variables (RUNNER_*) replaced by the declared ones:
 * the tools the agent found in the image stay, so that a job demanding one still queues at zero.
 */
export function placeholderRegistration(agent: AgentInfo, unheldKey: PublicKey, self: RunnerIdentity, trusted: TrustedCapabilities): AgentRegistration {
  const capabilities = trusted.granted.get(agent.id)
    ?? { 'Agent.OS': 'Linux', ...Object.fromEntries(Object.entries(agent.capabilities).filter(([name]) => !name.toUpperCase().startsWith('RUNNER_'))), ...trusted.declared, 'Agent.Name': agent.name };
  const unheld = Object.fromEntries(Object.entries(capabilities).filter(([name]) => name !== identityVariables.podUid));
  return { name: agent.name, publicKey: unheldKey, systemCapabilities: withOwnIdentity(unheld, self), enabled: false };
}
