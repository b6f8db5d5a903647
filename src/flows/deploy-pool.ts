// DeployRunnerPool's flow: dry run, apply, re-enable drained slots, replace idle pods of an old template, wait, publish.
import { type DeployOptions } from '../core/deploy-options.js';
import type { AgentInfo, PodRecycling, RunnerPoolSpec } from '../core/model.js';
import type { TaskHost } from '../core/ports/host.js';
import { KubeApiError, type KubeClient, type KubeObject } from '../core/ports/kube.js';
import { manifestFile } from '../core/manifest-file.js';
import { keepsRestartRules, poolLabels, renderRecycleAccess, renderRunnerPool, selectorKeys, terminationGraceSeconds } from '../core/manifests/index.js';
import { podTable, summarizePod, type PodSummary } from '../core/pod-status.js';
import type { AdoClient } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { Files } from '../core/ports/files.js';
import { enabledChanges, slotOrdinal } from '../core/scale-decision.js';
import { enableAgain, setAgentsEnabled } from './agent-drain.js';
import { buildSnapshot } from '../core/snapshot.js';

export const fieldManager = 'azure-devops-runner';

export interface DeployServices {
  host: TaskHost;
  /** Azure DevOps, when the task holds a PAT: to spare busy agents when updating and to publish the hub's snapshot. */
  ado?: AdoClient;
  /** Opens the cluster connection; never called for `render`. */
  connect(): Promise<KubeClient>;
  files: Files;
  clock: Clock;
}

export interface DeployResult {
  statefulSetName: string;
  replicas: number;
  manifestPath?: string;
  podRecycling: PodRecycling;
  pods: PodSummary[];
}

function describeApiError(error: unknown, options: DeployOptions): Error {
  if (!(error instanceof KubeApiError)) return error instanceof Error ? error : new Error(String(error));
  const ns = options.pool.namespace;
  if (error.status === 0) return error;
  if (error.status === 401) return new Error(`The cluster rejected the credentials of the service connection (401 Unauthorized).`);
  if (error.status === 403) return new Error(`The service connection may not manage the runner pool in namespace '${ns}' (403 Forbidden): ${error.message}`);
  if (error.status === 404 && /namespaces? .*not found/i.test(error.message)) return new Error(`The namespace '${ns}' does not exist. Create it first (kubectl create namespace ${ns}).`);
  return new Error(`The cluster refused the runner pool: ${error.message}`);
}

export async function deployRunnerPool(options: DeployOptions, services: DeployServices): Promise<DeployResult> {
  const { host } = services;
  const { pool } = options;
  if (pool.dockerMode === 'hostSocket') {
    host.warning('dockerMode hostSocket gives every job root-equivalent access to the node through its Docker socket, and jobs share the node\'s images and build cache (the containers, networks and volumes a job creates are removed when its pod ends).');
  } else if (pool.dockerMode === 'dind') {
    host.warning('dockerMode dind runs a privileged Docker sidecar in every runner pod; jobs can use it to gain root on the node.');
  } else if (pool.dockerMode === 'buildah' && pool.buildahSeccompProfile?.type === 'Unconfined') {
    host.warning('dockerMode buildah runs the agent without a seccomp filter (Unconfined), which Pod Security baseline refuses; install configs/seccomp/buildah.json on the nodes and set buildahSeccompProfile to localhost/<its path>.');
  }
  if (options.action === 'render') {
    if (options.manifestPath) services.files.write(options.manifestPath, manifestFile(pool));
    host.info(`Rendered the manifests of runner pool '${pool.runnerName}' to ${options.manifestPath}.`);
    return { statefulSetName: pool.runnerName, replicas: pool.replicas, manifestPath: options.manifestPath, podRecycling: pool.podRecycling, pods: [] };
  }

  const kube = await services.connect();
  const { objects, recycling } = await dryRun(kube, options, host);
  const applied = { ...pool, podRecycling: recycling };
  if (options.manifestPath) services.files.write(options.manifestPath, manifestFile(applied));
  try {
    for (const object of objects) {
      await kube.apply(object, { fieldManager });
      host.info(`Applied ${object.kind} ${pool.namespace}/${object.metadata.name}.`);
    }
    if (recycling === 'restartRules') await removeRecycleAccess(kube, applied);
  } catch (error) {
    throw describeApiError(error, options);
  }
  // One look at the pool's registrations serves both: re-enabling drained slots and sparing busy ones.
  const registered = await registeredAgents(pool, services.ado);
  if (registered && services.ado) await enableDeployedSlots(pool, registered, services.ado, services.host);
  await replaceIdleOutdatedPods(kube, options, services, registered);
  const pods = await waitForPods(kube, options, services);
  if (services.ado) {
    await services.ado.publishSnapshot(buildSnapshot(pool, pods, 'DeployRunnerPool', new Date(services.clock.now())));
  }
  host.addSummary('Runner pool', `### Runner pool ${pool.runnerName} (${pool.poolName})\n\n${podTable(pods)}\n`);
  return { statefulSetName: pool.runnerName, replicas: pool.replicas, manifestPath: options.manifestPath, podRecycling: recycling, pods };
}

/**
 * A server-side dry run of every object first: a missing namespace, a missing permission or an invalid field stops
 * the task before any object changes. It also shows whether the cluster keeps the container restart rules, which
 * decides how pods are recycled.
 */
async function dryRun(kube: KubeClient, options: DeployOptions, host: TaskHost): Promise<{ objects: KubeObject[]; recycling: PodRecycling }> {
  const check = async (pool: RunnerPoolSpec) => {
    const objects = renderRunnerPool(pool);
    const stored: KubeObject[] = [];
    try {
      for (const object of objects) {
        // RBAC checks a new RoleBinding against its Role, which a dry run does not create: that binding is checked
        // when it is applied, right after its Role.
        if (object.kind === 'RoleBinding' && !(await roleExists(kube, object))) continue;
        stored.push(await kube.apply(object, { fieldManager, dryRun: true }));
      }
    } catch (error) {
      throw describeApiError(error, options);
    }
    return { objects, keepsRules: keepsRestartRules(stored.find((o) => o.kind === 'StatefulSet')!) };
  };
  const first = await check(options.pool);
  if (options.pool.podRecycling === 'sidecar' || first.keepsRules) return { objects: first.objects, recycling: options.pool.podRecycling };
  const dropped = 'This cluster drops container restart rules (Kubernetes < 1.35, or the ContainerRestartRules feature is off)';
  if (options.podRecycling === 'restartRules') {
    throw new Error(`Input 'podRecycling': ${dropped}, so an agent would be restarted in its old pod after each job. Use auto or sidecar.`);
  }
  host.info(`${dropped}: a recycle sidecar replaces each pod after its job.`);
  const sidecar = await check({ ...options.pool, podRecycling: 'sidecar' });
  return { objects: sidecar.objects, recycling: 'sidecar' };
}

async function roleExists(kube: KubeClient, binding: KubeObject): Promise<boolean> {
  const { name } = binding.roleRef as { name: string };
  return (await kube.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespace: binding.metadata.namespace, name })) !== undefined;
}

/** The recycle sidecar's ServiceAccount, Role and RoleBinding, once restart rules do its work (e.g. after an upgrade). */
async function removeRecycleAccess(kube: KubeClient, pool: RunnerPoolSpec): Promise<void> {
  for (const object of renderRecycleAccess(pool).reverse()) {
    const ref = { apiVersion: object.apiVersion, kind: object.kind, namespace: pool.namespace, name: object.metadata.name };
    if (await kube.get(ref)) await kube.delete(ref);
  }
}

interface RegisteredAgents {
  poolId: number;
  agents: AgentInfo[];
}

async function registeredAgents(pool: RunnerPoolSpec, ado: AdoClient | undefined): Promise<RegisteredAgents | undefined> {
  const found = ado === undefined ? undefined : await ado.findPool(pool.poolName);
  return ado === undefined || found === undefined ? undefined : { poolId: found.id, agents: await ado.listAgents(found.id) };
}

/** The deployed slots take jobs: a ScaleRunnerPool scale-down disabled the agents of the slots it removed. */
async function enableDeployedSlots(pool: RunnerPoolSpec, registered: RegisteredAgents, ado: AdoClient, host: TaskHost): Promise<void> {
  for (const agent of enabledChanges(pool.runnerName, registered.agents, pool.replicas).enable) {
    await ado.setAgentEnabled(registered.poolId, agent.id, true);
    host.info(`Enabled the agent ${agent.name}: a scale-down had drained its slot.`);
  }
}

/** Polls the pool's pods until `replicas` of them are ready, reporting each change, or fails after the timeout. */
async function waitForPods(kube: KubeClient, options: DeployOptions, services: DeployServices): Promise<PodSummary[]> {
  const { pool } = options;
  const deadline = services.clock.now() + options.rolloutTimeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const pods = await listPoolPods(kube, pool);
    const ready = pods.filter((p) => p.ready && !p.deleting).length;
    const progress = `${ready}/${pool.replicas} pods ready` + pods.filter((p) => p.waitingReason).map((p) => `; ${p.name}: ${p.waitingReason}`).join('');
    if (progress !== last) services.host.info(progress);
    last = progress;
    if (ready >= pool.replicas || options.rolloutTimeoutSeconds === 0) return pods;
    if (services.clock.now() >= deadline) {
      throw new Error(`Timed out after ${options.rolloutTimeoutSeconds} s waiting for the runner pods: ${progress}.`);
    }
    await services.clock.sleep(2000);
  }
}

/**
 * Pods still on the previous template take the new one when they are replaced after their next job (OnDelete).
 * An idle one would run that job on the old template, so it is replaced now; a busy one is left to finish.
 * An idle agent is drained first and looked at again: a job that reached it meanwhile runs to its end.
 */
async function replaceIdleOutdatedPods(kube: KubeClient, options: DeployOptions, services: DeployServices, registered: RegisteredAgents | undefined): Promise<void> {
  const { pool } = options;
  const { ado, host } = services;
  const statefulSet = await kube.get({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: pool.namespace, name: pool.runnerName });
  const updateRevision = (statefulSet?.status as { updateRevision?: string } | undefined)?.updateRevision;
  const outdated = (await listPoolPods(kube, pool))
    .filter((p) => updateRevision !== undefined && p.revision !== undefined && p.revision !== updateRevision && !p.deleting);
  if (outdated.length === 0) return;
  if (ado === undefined) {
    host.info(`${outdated.length} pod(s) run the previous template; each takes the new one after its next job.`);
    return;
  }
  const agentOf = (agents: AgentInfo[] | undefined, pod: PodSummary) => agents?.find((a) => a.name === pod.name);
  const idle = outdated.filter((pod) => agentOf(registered?.agents, pod)?.busyWith === undefined);
  for (const pod of outdated.filter((p) => !idle.includes(p))) host.info(`${pod.name} is running a job; it takes the new template when that job ends.`);
  if (idle.length === 0) return;
  const toDrain = idle.map((pod) => agentOf(registered?.agents, pod)).filter((a) => a !== undefined);
  // Slots above the pool's size stay drained: the StatefulSet removes them.
  const kept = toDrain.filter((agent) => slotOrdinal(pool.runnerName, agent.name)! < pool.replicas);
  // True from the first call on: a failure halfway through the drain still re-enables those it disabled.
  let drains = registered !== undefined;
  const replaced: PodSummary[] = [];
  try {
    if (registered !== undefined) drains = await setAgentsEnabled(ado, host, registered.poolId, toDrain, false, 'the idle pods it replaces');
    const now = registered === undefined ? undefined : await ado.listAgents(registered.poolId);
    for (const pod of idle) {
      if (agentOf(now, pod)?.busyWith !== undefined) {
        host.info(`${pod.name} took a job while being drained; it takes the new template when that job ends.`);
      } else if (await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, pod.uid)) {
        replaced.push(pod);
        host.info(`Replaced idle ${pod.name} so that its next job runs on the new template.`);
      }
    }
    // Its agent stays disabled until the old pod is gone: re-enabled sooner, it could still be handed a job.
    await waitUntilGone(kube, pool, replaced, services);
  } finally {
    if (registered !== undefined && drains) await enableAgain(ado, host, registered.poolId, kept);
  }
}

/** Waits until each pod has left (its name free or held by a successor), at most its grace period and some. */
async function waitUntilGone(kube: KubeClient, pool: RunnerPoolSpec, pods: PodSummary[], services: DeployServices): Promise<void> {
  const deadline = services.clock.now() + (terminationGraceSeconds + 30) * 1000;
  for (const pod of pods) {
    while ((await kube.get({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }))?.metadata.uid === pod.uid) {
      if (services.clock.now() >= deadline) throw new Error(`The replaced pod ${pod.name} has not stopped within ${terminationGraceSeconds + 30} s.`);
      await services.clock.sleep(1000);
    }
  }
}

/** The pool's pods, by slot order. */
async function listPoolPods(kube: KubeClient, pool: RunnerPoolSpec): Promise<PodSummary[]> {
  const labels = poolLabels(pool.runnerName);
  const selector = selectorKeys.map((key) => `${key}=${labels[key]}`).join(',');
  return (await kube.list('v1', 'Pod', pool.namespace, selector)).map(summarizePod).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
