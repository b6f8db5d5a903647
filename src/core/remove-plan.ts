// The plan of the command line's remove (src/flows/remove-pool.ts): one look at the runner (its objects, the pool's
// agents and jobs) in, what remove deletes and in which order out, as data: the autoscaler first (it would scale the
// pool up again, enable drained agents and register new pods), then the pods (scaled to none), the registrations, the
// other objects in the reverse of the order DeployRunnerPool applied them, and the hub snapshot. Or nothing to remove,
// or the refusal of a pool that runs a job when told not to wait.
//
// Between the autoscaler and the pods, remove drains and waits, and each step goes by a fresh look (`removeStep`): a
// look that finds an agent of the runner enabled drains it — registered after an earlier look, it was not drained —
// and is followed by another look; one that finds a job running waits for it. The pods go only after a look that
// finds every agent drained and idle: a job then reaches no agent of the pool. The registrations deleted are those a
// look taken once the pods are gone shows carrying the runner's identity (`registrationsToDelete`): one that another
// cluster's runner took over meanwhile is no longer this runner's.
import type { AgentInfo } from './model.js';
import type { JobRequest } from './ports/ado.js';
import type { KubeObject, ObjectRef } from './ports/kube.js';
import type { RunnerIdentity } from './runner-identity.js';
import { observePool } from './scale-decision.js';
import { autoscalerName } from './manifests/autoscaler.js';
import { leaseName } from './lease.js';

/** The pool as one look at Azure DevOps shows it. */
export interface RemoveLook {
  agents: AgentInfo[];
  jobs: JobRequest[];
}

export interface RemoveObservation {
  self: RunnerIdentity;
  poolName: string;
  /** The runner's objects that exist, made by DeployRunnerPool, in the order it applies them. */
  objects: KubeObject[];
  look: RemoveLook;
  /** How long remove may wait for the jobs running on the pool; 0: it refuses a pool that runs one. */
  waitSeconds: number;
}

export interface RemovePlan {
  /** Said when nothing of the runner is there: remove does nothing. */
  nothing?: string;
  /** Why remove refuses, changing nothing: the runner runs a job, and remove may not wait. */
  refusal?: string;
  /** The autoscaler's Deployment, removed (and waited for) before any agent is touched, then its Lease. */
  autoscaler?: { deployment: KubeObject; lease: ObjectRef };
  /** The StatefulSet to scale to none once the pool is drained and idle: no deletion policy can leave a pod running. */
  scaleToNone?: KubeObject;
  /** The objects deleted after the registrations, in this order. */
  objects: KubeObject[];
  /** The hub snapshot's key. */
  snapshot: string;
}

const plural = (busy: string[], one: string, more: string) => (busy.length === 1 ? one : more);

/** The runner's slots whose agent runs a job, or has one reserved, by pod name. */
function busySlots(self: RunnerIdentity, look: RemoveLook): { ours: AgentInfo[]; busy: string[] } {
  const { ours, busyOrdinals } = observePool(self, look.agents, look.jobs);
  return { ours, busy: busyOrdinals.map((ordinal) => `${self.runnerName}-${ordinal}`) };
}

export function planRemove(observed: RemoveObservation): RemovePlan {
  const { self, objects } = observed;
  const { ours, busy } = busySlots(self, observed.look);
  const snapshot = `${self.namespace}.${self.runnerName}`;
  if (objects.length === 0 && ours.length === 0) {
    return { nothing: `Nothing to remove: no object of runner '${self.runnerName}' in namespace '${self.namespace}' and no registration of it in pool '${observed.poolName}'.`, objects: [], snapshot };
  }
  if (busy.length > 0 && observed.waitSeconds === 0) {
    const refusal = `${busy.join(', ')} ${plural(busy, 'runs a job', 'run jobs')}; nothing was removed. Remove the pool once ${plural(busy, 'it ends', 'they end')}, or give waitSeconds to wait for ${plural(busy, 'it', 'them')}.`;
    return { refusal, objects: [], snapshot };
  }
  const deployment = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === autoscalerName(self.runnerName));
  return {
    // Its Lease, which it made itself (no manifest names it).
    ...(deployment !== undefined && { autoscaler: { deployment, lease: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: self.namespace, name: leaseName(self.runnerName) } } }),
    scaleToNone: objects.find((object) => object.kind === 'StatefulSet'),
    objects: objects.filter((object) => object !== deployment).reverse(),
    snapshot,
  };
}

/** What remove does next, between the autoscaler and the pods. */
export type RemoveStep =
  | { kind: 'drain'; agents: AgentInfo[]; message: string }
  /** Sleep a poll interval: for the jobs on `busy`, and before draining `enabledAgain` (drained since the last sleep) again. */
  | { kind: 'wait'; busy: string[]; enabledAgain: string[]; message: string }
  | { kind: 'give-up'; message: string }
  | { kind: 'pods-go' };

/** The agents remove disabled: ever, and since its last sleep (those it does not disable again before a sleep). */
export interface Drained {
  ever: ReadonlySet<number>;
  sinceSleep: ReadonlySet<number>;
}

const nothingDrained: Drained = { ever: new Set(), sinceSleep: new Set() };

/**
 * The step a look calls for: drain the runner's agents it finds enabled (the service hands a disabled agent no new
 * job), but not one drained since the last sleep: a look that finds it enabled again (something else enables it, or
 * the disable did not take) waits a poll interval first; else wait for the jobs running (`msLeft` of `waitSeconds` to
 * go); else the pods may go. The time counts whatever the step: once it is spent, with an agent still enabled or busy,
 * remove gives up — after its first drain, which it makes even with no time (waitSeconds 0 on an idle pool).
 */
export function removeStep(self: RunnerIdentity, look: RemoveLook, msLeft: number, waitSeconds: number, drained: Drained = nothingDrained): RemoveStep {
  const { ours, busy } = busySlots(self, look);
  const enabled = ours.filter((agent) => agent.enabled);
  if (enabled.length === 0 && busy.length === 0) return { kind: 'pods-go' };
  if (msLeft <= 0 && (drained.ever.size > 0 || enabled.length === 0)) return { kind: 'give-up', message: giveUp(enabled.map((agent) => agent.name), busy, waitSeconds) };
  const fresh = enabled.filter((agent) => !drained.sinceSleep.has(agent.id));
  if (fresh.length > 0) return { kind: 'drain', agents: fresh, message: `Disabled ${fresh.map((agent) => agent.name).join(', ')}: no new job starts on the pool.` };
  const enabledAgain = enabled.map((agent) => agent.name);
  const seconds = `at most ${Math.ceil(msLeft / 1000)} s more`;
  const again = enabledAgain.length === 0 ? '' : `${enabledAgain.join(', ')} ${plural(enabledAgain, 'is', 'are')} enabled again after ${plural(enabledAgain, 'its', 'their')} disable: disabling ${plural(enabledAgain, 'it', 'them')} again after a pause (${seconds}).`;
  const jobs = busy.length === 0 ? '' : `Waiting for the job${plural(busy, '', 's')} on ${busy.join(', ')} to end (${seconds}).`;
  return { kind: 'wait', busy, enabledAgain, message: [again, jobs].filter((line) => line !== '').join(' ') };
}

function giveUp(enabled: string[], busy: string[], waitSeconds: number): string {
  const jobs = `${busy.join(', ')} still ${plural(busy, 'runs a job', 'run jobs')} after ${waitSeconds} s`;
  if (enabled.length === 0) return `${jobs}. The pool is drained (no new job starts on it, its autoscaler is gone) but still there: remove it again once the ${plural(busy, 'job ends', 'jobs end')}.`;
  const also = busy.length === 0 ? '' : ` (and ${jobs})`;
  return `${enabled.join(', ')} ${plural(enabled, 'is', 'are')} still enabled after ${waitSeconds} s${also}: something enables ${plural(enabled, 'it', 'them')} again after remove disables ${plural(enabled, 'it', 'them')} (an autoscaler or a deploy of the pool still running?). No pod and no registration was removed: stop what enables ${plural(enabled, 'it', 'them')}, then remove the pool again.`;
}

/**
 * The registrations to delete, on a look taken once the pods are gone: those carrying the runner's identity then (one
 * that another cluster's runner took over while they went is no longer this runner's).
 */
export function registrationsToDelete(self: RunnerIdentity, look: RemoveLook): AgentInfo[] {
  return busySlots(self, look).ours;
}
