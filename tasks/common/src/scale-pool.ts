// ScaleRunnerPool: from validated inputs to what the scaler should do.
import type { InputReader } from './inputs.js';
import { readClusterTarget, type ClusterTarget } from './connection-inputs.js';
import { maxReplicas, type AgentInfo, type ScaleDecision, type ScaleLimits, type ScaleMode } from './model.js';
import type { TaskHost } from './host.js';
import { KubeApiError, type KubeClient } from './kube/client.js';
import { AdoError, type AdoClient, type JobRequest } from './ado/client.js';
import { setAgentsEnabled } from './agent-drain.js';
import { decideScale, enabledChanges, registeredSlots, slotOrdinal, staleRegistrations, type ScaleTarget } from './scale-decision.js';
import { agentSatisfiesDemands } from './demands.js';
import { annotations, busyLabel } from './manifests.js';
import { buildSnapshot } from './snapshot.js';
import { summarizePod, type PodSummary } from './pod-status.js';

export interface ScaleOptions {
  target: ClusterTarget;
  runnerName: string;
  mode: ScaleMode;
  /** The replica count in `fixed` mode. */
  replicas: number;
  limits: ScaleLimits;
  organizationUrl: string;
  poolName: string;
  /** Needed in `queue` mode and for registration hygiene. */
  token?: string;
  /** Keep re-evaluating for this long (0 = decide once). */
  watchSeconds: number;
  intervalSeconds: number;
  dryRun: boolean;
  removeStaleRegistrations: boolean;
}

export function readScaleOptions(inputs: InputReader): ScaleOptions {
  const target = readClusterTarget(inputs);
  const mode = inputs.choice<ScaleMode>('mode', ['fixed', 'queue'], 'queue');
  const queue = mode === 'queue';
  const limits: ScaleLimits = {
    minReplicas: inputs.integer('minReplicas', { min: 0, max: maxReplicas }, 0),
    maxReplicas: inputs.integer('maxReplicas', { min: 0, max: maxReplicas }, 10),
    standby: inputs.integer('standby', { min: 0, max: maxReplicas }, 0),
  };
  if (limits.minReplicas > limits.maxReplicas) {
    inputs.problem('minReplicas', `(${limits.minReplicas}) must not exceed maxReplicas (${limits.maxReplicas}).`);
  }
  const removeStaleRegistrations = inputs.boolean('removeStaleRegistrations', true);
  const needsAzureDevOps = queue || removeStaleRegistrations;
  const options: ScaleOptions = {
    target,
    runnerName: inputs.dnsLabel('runnerName'),
    mode,
    replicas: queue ? 0 : inputs.integer('replicas', { min: 0, max: maxReplicas }),
    limits,
    organizationUrl: needsAzureDevOps ? inputs.url('azureDevOpsUrl') : inputs.optional('azureDevOpsUrl') ?? '',
    poolName: needsAzureDevOps ? inputs.required('poolName') : inputs.optional('poolName') ?? '',
    token: needsAzureDevOps ? inputs.secret('personalAccessToken') : undefined,
    watchSeconds: inputs.integer('watchMinutes', { min: 0, max: 360 }, 0) * 60,
    intervalSeconds: inputs.integer('intervalSeconds', { min: 5, max: 3600 }, 15),
    dryRun: inputs.boolean('dryRun', false),
    removeStaleRegistrations,
  };
  inputs.finish();
  return options;
}

export const scaleFieldManager = 'azure-devops-runner-scale';
const drainPurpose = 'the slots a scale-down removes';

export interface ScaleServices {
  host: TaskHost;
  connect(): Promise<KubeClient>;
  /** Undefined when the task has no Azure DevOps access (fixed mode without registration hygiene). */
  ado?: AdoClient;
  sleep(ms: number): Promise<void>;
  now(): number;
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

export async function scaleRunnerPool(options: ScaleOptions, services: ScaleServices): Promise<ScaleDecision> {
  const { host, ado } = services;
  const kube = await services.connect();
  let poolId: number | undefined;
  if (ado) {
    const pool = await ado.findPool(options.poolName);
    if (pool === undefined) throw new Error(`Input 'poolName': the agent pool '${options.poolName}' does not exist in ${options.organizationUrl}, or the token cannot see it.`);
    poolId = pool.id;
  } else {
    host.warning('Without Azure DevOps access the task cannot see which agents are busy; it cannot protect them from a scale-down.');
  }
  const target: ScaleTarget = options.mode === 'fixed' ? { mode: 'fixed', replicas: options.replicas } : { mode: 'queue', limits: options.limits };
  const stopAt = services.now() + options.watchSeconds * 1000;
  const state: PassState = { kube, poolId, target, drains: true };
  let decision: ScaleDecision | undefined;
  let failure: unknown;
  let failedInARow = 0;
  for (;;) {
    try {
      decision = await scalePass(options, services, state);
      failedInARow = 0;
    } catch (error) {
      // A watch outlives a blip of the cluster or of Azure DevOps; a refusal, or a failure that lasts, still ends it.
      if (options.watchSeconds === 0 || !isTransient(error) || ++failedInARow >= maxFailedPassesInARow) throw error;
      failure = error;
      host.warning(`This pass failed; the next one is in ${options.intervalSeconds} s. ${(error as Error).message}`);
    }
    if (services.now() + options.intervalSeconds * 1000 > stopAt) {
      // A last pass that failed leaves the pool as the pass before it decided.
      if (decision === undefined) throw failure;
      if (ado !== undefined && ado.throttledSeconds > 0) host.warning(`Azure DevOps throttled this run: ${Math.round(ado.throttledSeconds)} s spent waiting.`);
      host.addSummary(
        'Runner pool scaling',
        `### Scaling ${options.runnerName}\n\n| | |\n|---|---|\n| replicas | ${decision.previousReplicas} → ${decision.replicas} |\n| busy agents | ${decision.busyAgents} |\n| queued jobs | ${decision.queuedJobs} |\n| reason | ${decision.reason} |\n`,
      );
      return decision;
    }
    await services.sleep(options.intervalSeconds * 1000);
  }
}

/** How many passes of a watch may fail one after another, each on a transient error, before the task fails. */
const maxFailedPassesInARow = 3;

/** No answer, throttling or a server error: worth another pass. A refusal (401, 403, 404, 422) is not. */
function isTransient(error: unknown): boolean {
  return (error instanceof KubeApiError || error instanceof AdoError) && (error.status === 0 || error.status === 429 || error.status >= 500);
}

interface PassState {
  kube: KubeClient;
  poolId?: number;
  target: ScaleTarget;
  /** Draining needs Agent Pools (Read & manage); with a read-only token the task scales without it. */
  drains: boolean;
}

/** One look at the pool and what follows from it: drain, scale, mark busy pods, publish, tidy registrations. */
async function scalePass(options: ScaleOptions, services: ScaleServices, state: PassState): Promise<ScaleDecision> {
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
    await ado.publishSnapshot(buildSnapshot(pool, pods, 'ScaleRunnerPool', new Date(services.now()), decision));
    const keep = registeredSlots(target, decision.replicas);
    for (const agent of options.removeStaleRegistrations ? staleRegistrations(options.runnerName, observed.ours, keep) : []) {
      await ado.deleteAgent(poolId, agent.id);
      host.info(`Removed the offline registration ${agent.name}: its slot is above ${Math.max(1, keep) - 1}.`);
    }
  }
  return decision;
}

/** Labels and annotates each pod by its agent's state: busy pods are kept by node drains and the cluster autoscaler. */
async function markBusyPods(kube: KubeClient, options: ScaleOptions, busy: Set<number>): Promise<PodSummary[]> {
  const pods = await kube.list('v1', 'Pod', options.target.namespace, `app.kubernetes.io/instance=${options.runnerName}`);
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
