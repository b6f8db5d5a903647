// DeployRunnerPool's flow: dry run, apply, set the count (unless another owner sets it), replace idle pods of an old
// template, wait for the pods (or the autoscaler), tidy the recycle sidecar's access once unused, publish.
import { type DeployOptions } from '../core/deploy-options.js';
import type { AgentInfo, PodRecycling, RunnerPoolSpec } from '../core/model.js';
import type { TaskHost } from '../core/ports/host.js';
import { KubeApiError, replacedSince, type KubeClient, type KubeObject } from '../core/ports/kube.js';
import { manifestFile } from '../core/manifest-file.js';
import { annotations, autoscalerKeysSecretName, autoscalerPolicyName, egressPolicyName, handshakePolicyName, keepsRestartRules, poolLabelSelector, renderRunnerPool, terminationGraceSeconds } from '../core/manifests/index.js';
import { removeRecycleAccessWhenUnused } from './recycle-access.js';
import { podTable, summarizePod, type PodSummary } from '../core/pod-status.js';
import type { AdoClient } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { Files } from '../core/ports/files.js';
import type { AutoscalerKeyMaker } from '../core/ports/handshake.js';
import { autoscalerKeyFiles, type AutoscalerKeys } from '../core/handshake-trust.js';
import { decodeBase64 } from '../core/base64.js';
import type { PoolLook } from '../core/scale-decision.js';
import { autoscalerGraceSeconds, autoscalerName, renderAutoscalerAccess, renderAutoscalerDeployment } from '../core/manifests/autoscaler.js';
import { outlastAutoscaler } from './leadership.js';
import { holderLiftsGate, leaseHolder, leaseName } from '../core/lease.js';
import { replicasOwner, scalePass, type PassState } from './scale-pass.js';
import { findRunner, noteRecordedGrants } from './runner-identity.js';
import { ownAgents, otherOwner, type RunnerIdentity } from '../core/runner-identity.js';
import { slotOrdinal } from '../core/slots.js';
import { enableAgain, publishForHub, setAgentsEnabled } from './agent-drain.js';
import { buildSnapshot } from '../core/snapshot.js';
import { markdownCell } from '../core/log-text.js';
import { manifestTarget } from './manifest-path.js';
import { UnusableInput } from '../core/inputs.js';

export const fieldManager = 'azure-devops-runner';

export interface DeployServices {
  host: TaskHost;
  /** Azure DevOps, when the task holds a PAT: to spare busy agents when updating and to publish the hub's snapshot. */
  ado?: AdoClient;
  /** Opens the cluster connection; never called for `render`. */
  connect(): Promise<KubeClient>;
  files: Files;
  clock: Clock;
  /** Makes the autoscaler's handshake keys, the first time a pool is deployed with it. */
  keys: AutoscalerKeyMaker;
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
  if (error.status === 404 && error.details.kind === 'namespaces') return new Error(`The namespace '${ns}' does not exist. Create it first (kubectl create namespace ${ns}).`);
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
  const manifestPath = manifestTarget(options, host, services.files);
  if (options.action === 'render') {
    if (manifestPath) services.files.write(manifestPath, manifestFile(pool));
    host.info(`Rendered the manifests of runner pool '${pool.runnerName}' to ${options.manifestPath}.`);
    return { statefulSetName: pool.runnerName, replicas: pool.replicas, manifestPath: options.manifestPath, podRecycling: pool.podRecycling, pods: [] };
  }

  const kube = await services.connect();
  // Its name when none is given, and its cluster's identity, recorded the first time (src/flows/runner-identity.ts).
  const found = await findRunner(kube, { ...pool, runnerName: options.runnerNameGiven ? pool.runnerName : undefined }).catch((error: unknown) => {
    throw describeApiError(error, options);
  });
  const { runnerName, cluster } = found.identity;
  return applyRunnerPool({ ...options, pool: { ...pool, runnerName, cluster } }, services, kube, found.statefulSet, manifestPath);
}

async function applyRunnerPool(options: DeployOptions, services: DeployServices, kube: KubeClient, existing: KubeObject | undefined, manifestPath: string | undefined): Promise<DeployResult> {
  const { host } = services;
  const { pool } = options;
  const keyed = pool.autoscaler ? { ...options, pool: { ...pool, autoscalerKeys: await autoscalerKeys(kube, options, services) } } : options;
  const { objects, recycling } = await dryRun(kube, keyed, host, existing);
  // After the dry run, which finds what the cluster refuses (a missing namespace, a bad object) with no call to Azure
  // DevOps, and before any change.
  const poolId = services.ado && (await services.ado.findPool(pool.poolName))?.id;
  // Its own: the registrations carrying its identity, and those its autoscaler recorded on its pods whatever their
  // sessions claim (a job's copied key can name another namespace).
  const self: OwnRunner = { runnerName: pool.runnerName, namespace: pool.namespace, cluster: pool.cluster, granted: new Set() };
  if (poolId !== undefined) await noteRecordedGrants(kube, existing, self.granted);
  // Read once: the taken-name check, the scaling pass and the pod replacement all start from this list.
  const agentsRead = poolId === undefined ? undefined : { list: await services.ado!.listAgents(poolId), at: services.clock.now() };
  if (agentsRead !== undefined) refuseTakenNames(agentsRead.list, self);
  const applied = { ...keyed.pool, podRecycling: recycling };
  if (manifestPath) services.files.write(manifestPath, manifestFile(applied));
  let autoscalerStopped = false;
  try {
    for (const object of objects) await applyObject(kube, object, host);
    const egress = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace: pool.namespace, name: egressPolicyName(pool.runnerName) };
    if (pool.restrictEgress === false && (await kube.delete(egress))) host.info(`Removed the NetworkPolicy ${pool.namespace}/${egress.name}: restrictEgress is off.`);
    // Autoscaling turned off: the autoscaler goes, and the count is the task's again — once the autoscaler no longer
    // acts, or it would enable again the agents this task drains next.
    if (pool.autoscaler === undefined) {
      const left = await autoscalerLeftovers(kube, pool, existing);
      if (left !== undefined) {
        await removeObjects(kube, pool.namespace, autoscalerObjects(applied));
        if (left.mayAct) await outlastAutoscaler(kube, pool.namespace, pool.runnerName, 'DeployRunnerPool', services.clock, host, autoscalerGraceSeconds);
        autoscalerStopped = true;
        // Without Azure DevOps access the count never goes down (nothing tells busy slots): every slot stays.
        await deleteParkedPods(kube, pool, poolId === undefined ? Infinity : pool.replicas, host);
      }
    }
  } catch (error) {
    throw describeApiError(error, options);
  }
  const currentReplicas = (existing?.spec as { replicas?: number } | undefined)?.replicas ?? pool.replicas;
  // The count has one owner. With the autoscaler it is the autoscaler's; once ScaleRunnerPool scaled the pool, its;
  // otherwise (autoscaling just turned off included) this task's `replicas`, reached through the same pass (drain,
  // busy floor) as every other scale-down.
  const owner = pool.autoscaler ? 'autoscaler' : existing && replicasOwner(existing) === 'ScaleRunnerPool' ? 'ScaleRunnerPool' : undefined;
  let look: PoolLook | undefined;
  let replicas = currentReplicas;
  if (owner === undefined) {
    let passPods: PodSummary[];
    // The pass reuses the list while no job is unfinished, for a minute (scale-pass.ts); not after an autoscaler it
    // outlasted, which may have changed the agents' enabled flags meanwhile.
    ({ look, replicas, pods: passPods } = await setReplicas(kube, options, services, poolId, currentReplicas, autoscalerStopped ? undefined : agentsRead));
    if (look !== undefined && poolId !== undefined) await enableOnceGone(kube, options, services, poolId, look, passPods, replicas);
  } else {
    host.info(`The replica count stays ${currentReplicas}: ${owner === 'autoscaler' ? 'the in-cluster autoscaler sets it' : 'ScaleRunnerPool scales this pool (remove the annotation azure-devops-runner/replicas-owner to hand it back)'}.`);
  }
  // Without a pass, the agents are read again only if a pod is to be replaced: one registered since the first read
  // must be drained too before its pod goes.
  const registered = poolId === undefined ? undefined : { poolId, agents: look?.ours };
  await replaceIdleOutdatedPods(kube, options, services, registered, replicas, self);
  const pods = pool.autoscaler ? await waitForAutoscaler(kube, options, services) : await waitForPods(kube, options, services, replicas);
  if (recycling === 'restartRules') {
    try {
      await removeRecycleAccessWhenUnused(kube, applied, host);
    } catch (error) {
      throw describeApiError(error, options);
    }
  }
  if (services.ado) {
    await publishForHub(services.ado, host, buildSnapshot({ ...pool, replicas }, pods, 'DeployRunnerPool', new Date(services.clock.now())));
  }
  host.addSummary('Runner pool', `### Runner pool ${pool.runnerName} (${markdownCell(pool.poolName)})\n\n${podTable(pods)}\n`);
  return { statefulSetName: pool.runnerName, replicas, manifestPath: manifestPath && options.manifestPath, podRecycling: recycling, pods };
}

/** The runner deployed, with the agent ids recorded on its pods so far (noteRecordedGrants). */
interface OwnRunner extends RunnerIdentity {
  granted: Set<number>;
}

/**
 * Agent names are unique in a pool: a runner whose slots' names another cluster's (or namespace's) runner registered
 * would take them over, or never register. Refused before anything changes; default names never collide.
 */
function refuseTakenNames(agents: AgentInfo[], self: RunnerIdentity): void {
  const taken = agents.map((agent) => ({ agent, owner: otherOwner(self, agent) })).find(({ owner }) => owner !== undefined);
  if (taken === undefined) return;
  throw new UnusableInput('runnerName', `the pool's agent ${taken.agent.name} belongs to ${taken.owner}, and agent names are unique in a pool. Give this runner another runnerName, or leave it empty for one of its own.`);
}

/**
 * The StatefulSet as applied: with the replica count it has now (a new one: the initial count), guarded by the
 * version read, so a scale between the read and the apply makes the apply fail instead of undoing that scale.
 */
function withCurrentCount(object: KubeObject, existing: KubeObject | undefined, guarded = true): KubeObject {
  if (object.kind !== 'StatefulSet' || existing === undefined) return object;
  const spec = { ...(object.spec as object), replicas: (existing.spec as { replicas?: number }).replicas ?? 1 };
  return { ...object, metadata: { ...object.metadata, ...(guarded && { resourceVersion: existing.metadata.resourceVersion }) }, spec };
}

/**
 * Applies one object; a StatefulSet changed meanwhile (409: scaled, or its status updated) is read again and applied
 * with its new count.
 */
async function applyObject(kube: KubeClient, object: KubeObject, host: TaskHost): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const current = object.kind === 'StatefulSet' ? await kube.get({ ...object, namespace: object.metadata.namespace, name: object.metadata.name }) : undefined;
    try {
      await kube.apply(withCurrentCount(object, current), { fieldManager });
      host.info(`Applied ${object.kind} ${object.metadata.namespace}/${object.metadata.name}.`);
      return;
    } catch (error) {
      if (!(error instanceof KubeApiError && error.status === 409 && object.kind === 'StatefulSet' && attempt < 10)) throw error;
    }
  }
}

/**
 * The autoscaler's handshake keys: those in its Secret, else new ones. Kept across deploys, so the runner pods'
 * template (which carries the public keys) does not change with every deploy.
 */
async function autoscalerKeys(kube: KubeClient, options: DeployOptions, services: DeployServices): Promise<AutoscalerKeys> {
  const { pool } = options;
  const ref = { apiVersion: 'v1', kind: 'Secret', namespace: pool.namespace, name: autoscalerKeysSecretName(pool.runnerName) };
  const stored = await kube.get(ref).catch((error: unknown) => {
    throw describeApiError(error, options);
  });
  const data = (stored?.data ?? {}) as Record<string, string | undefined>;
  const [signing, encryption] = [data[autoscalerKeyFiles.signing], data[autoscalerKeyFiles.encryption]];
  if (stored !== undefined && signing !== undefined && encryption !== undefined) {
    const kept = { signing: decodeBase64(signing), encryption: decodeBase64(encryption) };
    const found = services.keys.publicKeys(kept);
    if (found !== undefined) return { public: found, private: kept };
  }
  if (stored !== undefined) services.host.warning(`The Secret ${pool.namespace}/${ref.name} does not hold the autoscaler's keys; it gets new ones, and the runner pods a new template.`);
  return services.keys.make();
}

/** The autoscaler's objects, to remove when autoscaling is turned off: its Deployment first, so it stops first. */
function autoscalerObjects(pool: RunnerPoolSpec): KubeObject[] {
  const settings = { minReplicas: 0, maxReplicas: 0, standby: 0, pollSeconds: 5 };
  const withAutoscaler = { ...pool, autoscaler: settings };
  const named = (kind: string, apiVersion: string, name: string): KubeObject => ({ apiVersion, kind, metadata: { name, namespace: pool.namespace } });
  return [
    named('Secret', 'v1', autoscalerKeysSecretName(pool.runnerName)),
    ...renderAutoscalerAccess(withAutoscaler),
    named('NetworkPolicy', 'networking.k8s.io/v1', handshakePolicyName(pool.runnerName)),
    named('NetworkPolicy', 'networking.k8s.io/v1', autoscalerPolicyName(pool.runnerName)),
    renderAutoscalerDeployment(withAutoscaler),
  ];
}

/** The pool's size set to `replicas`: drained and never below a busy slot; without Azure DevOps only ever raised. */
async function setReplicas(kube: KubeClient, options: DeployOptions, services: DeployServices, poolId: number | undefined, current: number, agents: PassState['agents']): Promise<{ look?: PoolLook; replicas: number; pods: PodSummary[] }> {
  const { pool } = options;
  let wanted = pool.replicas;
  if (poolId === undefined && wanted < current) {
    services.host.warning(`The pool stays at ${current} replicas, not ${wanted}: lowering it needs a PAT to see which agents are busy (credentialType pat).`);
    wanted = current;
  }
  const pass = {
    namespace: pool.namespace, runnerName: pool.runnerName, poolName: pool.poolName, organizationUrl: pool.organizationUrl,
    target: { mode: 'fixed' as const, replicas: wanted }, dryRun: false, removeStaleRegistrations: false, actor: 'DeployRunnerPool' as const,
  };
  const { decision, look, pods } = await scalePass(pass, { log: services.host, ado: poolId === undefined ? undefined : services.ado, clock: services.clock }, { kube, poolId, agents });
  if (decision.replicas !== decision.previousReplicas || decision.replicas !== pool.replicas) services.host.info(`${decision.reason}.`);
  return { look: poolId === undefined ? undefined : look, replicas: decision.replicas, pods };
}

/**
 * The pass keeps a kept slot drained while its old pod is still leaving (a job handed to it would be cut off). No
 * later pass of this task enables it, so it waits for those pods to go, then enables their agents.
 */
async function enableOnceGone(kube: KubeClient, options: DeployOptions, services: DeployServices, poolId: number, look: PoolLook, passPods: PodSummary[], replicas: number): Promise<void> {
  const { pool } = options;
  // The pods the pass saw leaving (they may be gone already), of slots the pool keeps.
  const leaving = passPods.filter((pod) => pod.deleting && slotOrdinal(pool.runnerName, pod.name)! < replicas);
  const drained = look.ours.filter((agent) => !agent.enabled && leaving.some((pod) => pod.name === agent.name));
  if (drained.length === 0) return;
  await waitUntilGone(kube, pool, leaving.filter((pod) => drained.some((agent) => agent.name === pod.name)), services);
  await enableAgain(services.ado!, services.host, poolId, drained);
}

/**
 * Waits until the autoscaler's Deployment runs its current template and that autoscaler holds its Lease, then reports
 * the runner pods as they are. The runner pods are rendered gated and the autoscaler comes with the runner image: one
 * that does not announce on its Lease that it lifts the gate is from an image built before it (src/core/lease.ts).
 */
async function waitForAutoscaler(kube: KubeClient, options: DeployOptions, services: DeployServices): Promise<PodSummary[]> {
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: options.pool.namespace, name: autoscalerName(options.pool.runnerName) };
  const leaseRef = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: options.pool.namespace, name: leaseName(options.pool.runnerName) };
  const deadline = services.clock.now() + options.rolloutTimeoutSeconds * 1000;
  const autoscalerPods = () => kube.list('v1', 'Pod', ref.namespace, `app.kubernetes.io/name=azure-devops-runner-autoscaler,app.kubernetes.io/instance=${options.pool.runnerName}`);
  let running = false;
  for (;;) {
    if (options.rolloutTimeoutSeconds === 0) return listPoolPods(kube, options.pool);
    if (!running) {
      const deployment = await kube.get(ref);
      const status = deployment?.status as { observedGeneration?: number; updatedReplicas?: number; availableReplicas?: number } | undefined;
      running = status?.observedGeneration === deployment?.metadata.generation && status?.updatedReplicas === 1 && status?.availableReplicas === 1;
      if (running) services.host.info(`The autoscaler ${ref.name} runs.`);
    }
    if (running) {
      const lease = await kube.get(leaseRef);
      const holder = leaseHolder(lease);
      const current = (await autoscalerPods()).filter((pod) => pod.metadata.deletionTimestamp === undefined).map((pod) => pod.metadata.name);
      if (lease !== undefined && holder !== undefined && current.includes(holder)) {
        if (holderLiftsGate(lease)) return listPoolPods(kube, options.pool);
        throw new UnusableInput('image', `the autoscaler in '${options.pool.image}' is older than this task: it does not lift the scheduling gate the runner pods are now created with, so they would stay Pending and no job would start. Build the image with this release's BuildRunnerImage, or deploy with the release the image was built with.`);
      }
    }
    if (services.clock.now() >= deadline) {
      if (running) throw new Error(`Timed out after ${options.rolloutTimeoutSeconds} s waiting for the autoscaler ${ref.name} to take its lease ${leaseRef.name}. See its log: kubectl -n ${ref.namespace} logs deployment/${ref.name}.`);
      const pods = await autoscalerPods();
      const why = pods.map(summarizePod).map((pod) => `${pod.name}: ${pod.phase}${pod.waitingReason ? ` (${pod.waitingReason})` : ''}, ${pod.restarts} restarts`).join('; ');
      throw new Error(`Timed out after ${options.rolloutTimeoutSeconds} s waiting for the autoscaler ${ref.name} to run${why ? `: ${why}` : ''}. See its log: kubectl -n ${ref.namespace} logs deployment/${ref.name}.`);
    }
    await services.clock.sleep(2000);
  }
}

/**
 * A server-side dry run of every object first: a missing namespace, a missing permission or an invalid field stops
 * the task before any object changes. It also shows whether the cluster keeps the container restart rules, which
 * decides how pods are recycled.
 */
async function dryRun(kube: KubeClient, options: DeployOptions, host: TaskHost, existing: KubeObject | undefined): Promise<{ objects: KubeObject[]; recycling: PodRecycling }> {
  const check = async (pool: RunnerPoolSpec) => {
    const objects = renderRunnerPool(pool);
    const stored: KubeObject[] = [];
    try {
      for (const object of objects) {
        // RBAC checks a new RoleBinding against its Role, which a dry run does not create: that binding is checked
        // when it is applied, right after its Role.
        if (object.kind === 'RoleBinding' && !(await roleExists(kube, object))) continue;
        // A dry run changes nothing: no need to guard it against a concurrent scale.
        stored.push(await kube.apply(withCurrentCount(object, existing, false), { fieldManager, dryRun: true }));
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
    throw new UnusableInput('podRecycling', `${dropped}, so an agent would be restarted in its old pod after each job. Use auto or sidecar.`);
  }
  host.info(`${dropped}: a recycle sidecar replaces each pod after its job.`);
  const sidecar = await check({ ...options.pool, podRecycling: 'sidecar' });
  return { objects: sidecar.objects, recycling: 'sidecar' };
}

async function roleExists(kube: KubeClient, binding: KubeObject): Promise<boolean> {
  const { name } = binding.roleRef as { name: string };
  return (await kube.get({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespace: binding.metadata.namespace, name })) !== undefined;
}

/** Removes objects of the pool that are no longer wanted (the recycle sidecar's once restart rules do its work). */
async function removeObjects(kube: KubeClient, namespace: string, objects: KubeObject[]): Promise<void> {
  for (const object of [...objects].reverse()) {
    const ref = { apiVersion: object.apiVersion, kind: object.kind, namespace, name: object.metadata.name };
    if (await kube.get(ref)) await kube.delete(ref);
  }
}

interface RegisteredAgents {
  poolId: number;
  /** This runner's agents as the pass just saw them; undefined: read them when a pod is to be replaced. */
  agents: AgentInfo[] | undefined;
}

/** Polls the pool's pods until `replicas` of them are ready, reporting each change, or fails after the timeout. */
async function waitForPods(kube: KubeClient, options: DeployOptions, services: DeployServices, replicas: number): Promise<PodSummary[]> {
  const { pool } = options;
  const deadline = services.clock.now() + options.rolloutTimeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const pods = await listPoolPods(kube, pool);
    const ready = pods.filter((p) => p.ready && !p.deleting).length;
    const progress = `${ready}/${replicas} pods ready` + pods.filter((p) => p.waitingReason).map((p) => `; ${p.name}: ${p.waitingReason}`).join('');
    if (progress !== last) services.host.info(progress);
    last = progress;
    if (ready >= replicas || options.rolloutTimeoutSeconds === 0) return pods;
    if (services.clock.now() >= deadline) {
      throw new Error(`Timed out after ${options.rolloutTimeoutSeconds} s waiting for the runner pods: ${progress}.`);
    }
    await services.clock.sleep(2000);
  }
}

/**
 * Pods still on the previous template take the new one when they are replaced after their next job (OnDelete).
 * An idle one would run that job on the old template, so it is replaced now; a busy one is left to finish.
 * An idle agent is drained first (its pod marked draining) and looked at again: a job that reached it meanwhile runs
 * to its end. A pod whose agent the second look shows idle and disabled, whoever disabled it, or not registered, is
 * deleted (nothing can hand it a job: no scaling pass nor handshake enables a draining pod's agent); one whose agent
 * is enabled (registered or enabled again between the two looks) keeps running and is replaced after its job. Every
 * pod kept loses its draining mark. The agents it drained are enabled again once the pods it deleted are gone; an
 * autoscaled pool's are not (its registrations are single-use, src/core/single-use.ts): the autoscaler's pass enables
 * a kept pod's, the handshake a new pod's.
 */
async function replaceIdleOutdatedPods(kube: KubeClient, options: DeployOptions, services: DeployServices, registered: RegisteredAgents | undefined, replicas: number, self: OwnRunner): Promise<void> {
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
  // Those of pods granted since the first look too: the looks below go by them.
  if (registered !== undefined) await noteRecordedGrants(kube, statefulSet, self.granted);
  const known = registered === undefined ? undefined : registered.agents ?? ownAgents(self, await ado.listAgents(registered.poolId));
  const idle = outdated.filter((pod) => agentOf(known, pod)?.busyWith === undefined);
  for (const pod of outdated.filter((p) => !idle.includes(p))) host.info(`${pod.name} is running a job; it takes the new template when that job ends.`);
  if (idle.length === 0) return;
  // The agents of the pods it marked: a pod replaced since the look (its job ended) has nothing to drain.
  let toDrain: AgentInfo[] = [];
  // True from the first call on: a failure halfway through the drain still re-enables those it disabled.
  let drains = registered !== undefined;
  const replaced: PodSummary[] = [];
  try {
    // Marked first: a scaling pass that runs meanwhile (ScaleRunnerPool, the autoscaler) must not enable them again.
    const marked: PodSummary[] = [];
    for (const pod of idle) if (await markDraining(kube, pool, pod)) marked.push(pod);
    toDrain = marked.map((pod) => agentOf(known, pod)).filter((a) => a !== undefined);
    if (registered !== undefined) drains = await setAgentsEnabled(ado, host, registered.poolId, toDrain, false, 'the idle pods it replaces');
    const now = registered === undefined ? undefined : ownAgents(self, await ado.listAgents(registered.poolId));
    const drained = new Set(toDrain.map((agent) => agent.id));
    for (const pod of marked) {
      const agent = agentOf(now, pod);
      if (agent?.busyWith !== undefined) {
        host.info(`${pod.name} took a job while being drained; it takes the new template when that job ends.`);
      } else if (agent?.enabled === true) {
        // Registered after the first look, or enabled again since its drain: it may be handed a job at any moment. Its
        // pod ends after that job, on the new template.
        const since = drained.has(agent.id) ? 'was enabled again after its drain' : 'registered after the first look, undrained';
        host.info(`${pod.name}'s agent ${since}; it takes the new template after its next job.`);
      } else if (await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, pod.uid)) {
        replaced.push(pod);
        host.info(`Replaced idle ${pod.name} so that its next job runs on the new template.`);
      }
    }
    // Its agent stays disabled until the old pod is gone: re-enabled sooner, it could still be handed a job.
    await waitUntilGone(kube, pool, replaced, services);
  } finally {
    // A kept pod takes jobs again once nothing marks it draining: a scaling pass enables its agent then.
    await unmarkDraining(kube, pool, idle.filter((pod) => !replaced.includes(pod)), host);
    // An autoscaled pool's slot is enabled only by its live pod's re-key or a pass that sees that pod hold the key
    // (src/core/single-use.ts): these looks are too old to tell which pod took a job since, or is gone.
    // Slots above the pool's size stay drained: the StatefulSet removes them.
    const kept = toDrain.filter((agent) => slotOrdinal(pool.runnerName, agent.name)! < replicas);
    if (pool.autoscaler === undefined && registered !== undefined && drains) await enableAgain(ado, host, registered.poolId, kept);
  }
}

/**
 * Marks the incarnation looked at, its UID a precondition: a successor under its name (made when its job ended) keeps
 * no mark meant for its predecessor, which would hold its agent drained. False when that pod is gone: nothing to drain.
 */
async function markDraining(kube: KubeClient, pool: RunnerPoolSpec, pod: PodSummary): Promise<boolean> {
  try {
    await kube.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, { metadata: { uid: pod.uid, annotations: { [annotations.draining]: 'true' } } }, fieldManager);
    return true;
  } catch (error) {
    if (replacedSince(error)) return false;
    throw error;
  }
}

/** Only on the incarnation marked: a pod gone or replaced since needs nothing. */
async function unmarkDraining(kube: KubeClient, pool: RunnerPoolSpec, pods: PodSummary[], host: TaskHost): Promise<void> {
  for (const pod of pods) {
    try {
      await kube.mergePatch({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, { metadata: { uid: pod.uid, annotations: { [annotations.draining]: null } } }, fieldManager);
    } catch (error) {
      if (replacedSince(error)) continue;
      host.warning(`Could not remove the mark ${annotations.draining} from ${pod.name}: ${(error as Error).message}. No scaling pass enables its agent until it is removed (kubectl -n ${pool.namespace} annotate pod ${pod.name} ${annotations.draining}-).`);
    }
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

/**
 * Whether an autoscaler of a pool now deployed without one left anything to undo, and whether one may still act: its
 * Lease is there, or the StatefulSet still names it the count's owner (it may not have taken its Lease yet). Read from the cluster, not only from the StatefulSet's replicas-owner annotation: the apply
 * removes that before the rest is undone, so a run that failed part way (the autoscaler outlasting it, a refused call)
 * leaves its rerun only the Lease and the pods the autoscaler kept gated to tell.
 */
async function autoscalerLeftovers(kube: KubeClient, pool: RunnerPoolSpec, existing: KubeObject | undefined): Promise<{ mayAct: boolean } | undefined> {
  if (existing === undefined) return undefined;
  // A deployer Role narrowed to fixed pools may not read Leases: then no autoscaler of its could hold one.
  const lease = () => kube.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: pool.namespace, name: leaseName(pool.runnerName) }).catch((error: unknown) => {
    if (error instanceof KubeApiError && error.status === 403) return undefined;
    throw error;
  });
  const mayAct = replicasOwner(existing) === 'autoscaler' || (await lease()) !== undefined;
  if (mayAct || (await listPoolPods(kube, pool)).some((pod) => pod.gated)) return { mayAct };
  return undefined;
}

/**
 * Autoscaling turned off, once the autoscaler no longer acts: the pods it kept gated are of its template, and started
 * they would wait for a registration no autoscaler grants. None ever ran a container, so none holds an agent or a job:
 * each of a slot below `staying` goes at once, undrained, and its next pod comes from the new template, which has no
 * gate; those above go with the scale-down (started first only if a busy slot above keeps them: then replaced).
 */
async function deleteParkedPods(kube: KubeClient, pool: RunnerPoolSpec, staying: number, host: TaskHost): Promise<void> {
  const parked = (await listPoolPods(kube, pool)).filter((pod) => pod.gated && !pod.deleting && slotOrdinal(pool.runnerName, pod.name)! < staying);
  const replaced: string[] = [];
  // One gone since the look (its slot's next pod comes from the new template) was not replaced here.
  for (const pod of parked) if (await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, pod.uid)) replaced.push(pod.name);
  if (replaced.length > 0) host.info(`Replaced ${replaced.join(', ')}, which the autoscaler held gated: their slots start on the new template.`);
}

/** The pool's pods, by slot order. */
async function listPoolPods(kube: KubeClient, pool: RunnerPoolSpec): Promise<PodSummary[]> {
  return (await kube.list('v1', 'Pod', pool.namespace, poolLabelSelector(pool.runnerName))).map(summarizePod).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
