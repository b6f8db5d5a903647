// One pass of scaling: look at the pool, decide, drain, look again, scale, mark busy pods, re-enable, publish, tidy.
import type { ScaleOptions } from '../core/scale-options.js';
import type { AgentInfo, ScaleDecision } from '../core/model.js';
import type { TaskHost } from '../core/ports/host.js';
import { KubeApiError, type KubeClient } from '../core/ports/kube.js';
import type { AdoClient } from '../core/ports/ado.js';
import { decideScale, enabledChanges, observePool, registeredSlots, slotOrdinal, staleRegistrations, type ScaleTarget } from '../core/scale-decision.js';
import { annotations, busyLabel } from '../core/manifests.js';
import { poolPodSelector } from '../core/pool-selector.js';
import { buildSnapshot } from '../core/snapshot.js';
import { summarizePod, type PodSummary } from '../core/pod-status.js';
import type { Clock } from '../core/ports/clock.js';
import { publishForHub, setAgentsEnabled } from './agent-drain.js';

export const scaleFieldManager = 'azure-devops-runner-scale';
const drainPurpose = 'the slots a scale-down removes';

export interface PassServices {
  host: TaskHost;
  ado?: AdoClient;
  clock: Clock;
}

export interface PassState {
  kube: KubeClient;
  poolId?: number;
  target: ScaleTarget;
  /** Draining needs Agent Pools (Read & manage); with a read-only token the task scales without it. */
  drains: boolean;
}

/** One look at the pool and what follows from it: drain, scale, mark busy pods, publish, tidy registrations. */
export async function scalePass(options: ScaleOptions, services: PassServices, state: PassState): Promise<ScaleDecision> {
  const { host, ado } = services;
  const { kube, poolId, target } = state;
  const ref = { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: options.target.namespace, name: options.runnerName };
  const statefulSet = await kube.get(ref);
  if (statefulSet === undefined) {
    throw new Error(`Input 'runnerName': there is no StatefulSet '${options.runnerName}' in namespace '${options.target.namespace}'. Run DeployRunnerPool first.`);
  }
  const currentReplicas = (statefulSet.spec as { replicas?: number }).replicas ?? 1;
  const observe = async () => poolId === undefined || ado === undefined
    ? { busyOrdinals: [], queuedJobs: 0, ours: [] as AgentInfo[] }
    : observePool(options.runnerName, await ado.listAgents(poolId), await ado.listUnfinishedJobs(poolId));
  let observed = await observe();
  let decision = decideScale(target, { currentReplicas, ...observed });
  if (!options.dryRun && ado !== undefined && poolId !== undefined && state.drains) {
    const { disable } = enabledChanges(options.runnerName, observed.ours, decision.replicas);
    if (disable.length > 0 && (state.drains = await setAgentsEnabled(ado, host, poolId, disable, false, drainPurpose))) {
      // A job may have reached a slot between the first look and its drain: look again before scaling.
      observed = await observe();
      decision = decideScale(target, { currentReplicas, ...observed });
    }
  }
  host.info(`${options.dryRun ? '[dry run] ' : ''}${decision.reason}.`);
  if (options.dryRun) return decision;
  if (decision.replicas !== currentReplicas) await kube.mergePatch(ref, { spec: { replicas: decision.replicas } }, scaleFieldManager);
  const pods = await markBusyPods(kube, options, new Set(observed.busyOrdinals));
  if (ado !== undefined && poolId !== undefined) {
    // Slots the pool keeps take jobs again: a drain that found a late job, or an earlier scale-down, disabled them.
    // A pod on its way out (DeployRunnerPool replacing it) keeps its agent drained: a job handed to it would be cut off.
    const leaving = new Set(pods.filter((pod) => pod.deleting).map((pod) => pod.name));
    const enable = enabledChanges(options.runnerName, observed.ours, decision.replicas).enable.filter((agent) => !leaving.has(agent.name));
    if (state.drains && enable.length > 0) state.drains = await setAgentsEnabled(ado, host, poolId, enable, true, drainPurpose);
    const pool = { runnerName: options.runnerName, namespace: options.target.namespace, poolName: options.poolName, organizationUrl: options.organizationUrl, replicas: decision.replicas };
    await publishForHub(ado, host, buildSnapshot(pool, pods, 'ScaleRunnerPool', new Date(services.clock.now()), decision));
    const keep = registeredSlots(target, decision.replicas);
    for (const agent of options.removeStaleRegistrations ? staleRegistrations(options.runnerName, observed.ours, keep) : []) {
      if (await ado.deleteAgent(poolId, agent.id)) host.info(`Removed the offline registration ${agent.name}: its slot is above ${Math.max(1, keep) - 1}.`);
    }
  }
  return decision;
}

/** Labels and annotates each pod by its agent's state: busy pods are kept by node drains and the cluster autoscaler. */
async function markBusyPods(kube: KubeClient, options: ScaleOptions, busy: Set<number>): Promise<PodSummary[]> {
  const pods = await kube.list('v1', 'Pod', options.target.namespace, poolPodSelector(options.runnerName));
  for (const pod of pods) {
    const ordinal = slotOrdinal(options.runnerName, pod.metadata.name);
    if (ordinal === undefined || pod.metadata.deletionTimestamp !== undefined) continue;
    const isBusy = busy.has(ordinal) ? 'true' : 'false';
    const evictable = busy.has(ordinal) ? 'false' : 'true';
    if (pod.metadata.labels?.[busyLabel] === isBusy && pod.metadata.annotations?.[annotations.safeToEvict] === evictable) continue;
    try {
      await kube.mergePatch(
        { apiVersion: 'v1', kind: 'Pod', namespace: options.target.namespace, name: pod.metadata.name },
        { metadata: { labels: { [busyLabel]: isBusy }, annotations: { [annotations.safeToEvict]: evictable } } },
        scaleFieldManager,
      );
    } catch (error) {
      // The pod ended its job and went since the list: its successor starts unmarked and is marked next time.
      if (!(error instanceof KubeApiError && error.status === 404)) throw error;
    }
  }
  return pods.map(summarizePod).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
