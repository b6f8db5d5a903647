// DeployRunnerPool's flow: dry run, apply, set the count (unless another owner sets it), replace idle pods of an old
// template, wait for the pods (or the autoscaler), tidy the recycle sidecar's access once unused, publish.
import { type DeployOptions } from '../core/deploy-options.js';
import type { AgentInfo, PodRecycling, RunnerPoolSpec } from '../core/model.js';
import type { TaskHost } from '../core/ports/host.js';
import { KubeApiError, replacedSince, type KubeClient, type KubeObject } from '../core/ports/kube.js';
import { manifestFile } from '../core/manifest-file.js';
import { annotations, autoscalerKeysSecretName, keepsRestartRules, poolLabelSelector, renderRunnerPool, terminationGraceSeconds } from '../core/manifests/index.js';
import { removeRecycleAccessWhenUnused } from './recycle-access.js';
import { podTable, summarizePod, type PodSummary } from '../core/pod-status.js';
import type { AdoClient } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { Files } from '../core/ports/files.js';
import type { AutoscalerKeyMaker } from '../core/ports/handshake.js';
import { autoscalerKeyFiles, type AutoscalerKeys } from '../core/handshake-trust.js';
import { decodeBase64 } from '../core/base64.js';
import type { PoolLook } from '../core/scale-decision.js';
import { autoscalerGraceSeconds, autoscalerName } from '../core/manifests/autoscaler.js';
import { outlastAutoscaler } from './leadership.js';
import { holderLiftsGate, leaseHolder, leaseName } from '../core/lease.js';
import { scalePass, type PassState } from './scale-pass.js';
import { findRunner, noteRecordedGrants } from './runner-identity.js';
import { ownAgents, type RunnerIdentity } from '../core/runner-identity.js';
import { recordedAgentIds } from '../core/single-use.js';
import { afterDrain, agentsToDrain, drainedWhileLeaving, enableAfterReplacement, outdatedPods, parkedToReplace, passReport, planDeploy, planReplacement, type CountByPass, type DeployObservation, type DeployPlan } from '../core/deploy-plan.js';
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
  const applied = { ...keyed.pool, podRecycling: recycling };
  // After the dry run, which finds what the cluster refuses (a missing namespace, a bad object) with no call to Azure
  // DevOps, and before any change.
  const poolId = services.ado && (await services.ado.findPool(pool.poolName))?.id;
  const { observed, agentsRead } = await observe(kube, options, services, applied, objects, existing, poolId);
  const plan = planDeploy(observed);
  if (plan.refusal !== undefined) throw plan.refusal;
  if (manifestPath) services.files.write(manifestPath, manifestFile(applied));
  try {
    for (const object of plan.apply) await applyObject(kube, object, host);
    if (plan.removeEgress !== undefined && (await kube.delete(plan.removeEgress))) host.info(`Removed the NetworkPolicy ${pool.namespace}/${plan.removeEgress.name}: restrictEgress is off.`);
    if (plan.stopAutoscaler !== undefined) await stopAutoscaler(kube, applied, plan.stopAutoscaler, services);
  } catch (error) {
    throw describeApiError(error, options);
  }
  let look: PoolLook | undefined;
  let replicas = plan.currentReplicas;
  if (plan.pass !== undefined) {
    let passPods: PodSummary[];
    ({ look, replicas, pods: passPods } = await setReplicas(kube, options, services, poolId, plan.pass, agentsRead));
    if (look !== undefined && poolId !== undefined) await enableOnceGone(kube, options, services, poolId, look, passPods, replicas);
  } else if (plan.countStays !== undefined) {
    host.info(plan.countStays);
  }
  // Without a pass, the agents are read again only if a pod is to be replaced: one registered since the first read
  // must be drained too before its pod goes.
  const registered = poolId === undefined ? undefined : { poolId, agents: look?.ours };
  await replaceIdleOutdatedPods(kube, options, services, registered, replicas, observed.self);
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

/** The runner deployed, with the agent ids recorded on its pods so far. */
interface OwnRunner extends RunnerIdentity {
  granted: Set<number>;
}

/**
 * The one look the plan goes by, before any change: the runner's pods, its autoscaler's Lease when autoscaling is off,
 * and the pool's agents, read once (the taken-name check, the scaling pass and the pod replacement all start from
 * them). Its own agents: those carrying its identity, and those its autoscaler recorded on its pods whatever their
 * sessions claim (a job's copied key can name another namespace), read before the agents, as a record comes first.
 */
async function observe(kube: KubeClient, options: DeployOptions, services: DeployServices, pool: RunnerPoolSpec, objects: KubeObject[], existing: KubeObject | undefined, poolId: number | undefined): Promise<{ observed: DeployObservation & { self: OwnRunner }; agentsRead: PassState['agents'] }> {
  const listed = existing === undefined ? [] : await kube.list('v1', 'Pod', pool.namespace, poolLabelSelector(pool.runnerName));
  const granted = new Set(existing === undefined ? [] : recordedAgentIds({ runnerName: existing.metadata.name, statefulSetUid: existing.metadata.uid }, listed));
  const self: OwnRunner = { runnerName: pool.runnerName, namespace: pool.namespace, cluster: pool.cluster, granted };
  // A deployer Role narrowed to fixed pools may not read Leases: then no autoscaler of its could hold one.
  const lease = pool.autoscaler !== undefined || existing === undefined ? undefined : await kube.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace: pool.namespace, name: leaseName(pool.runnerName) }).catch((error: unknown) => {
    if (error instanceof KubeApiError && error.status === 403) return undefined;
    throw describeApiError(error, options);
  });
  const agentsRead = poolId === undefined ? undefined : { list: await services.ado!.listAgents(poolId), at: services.clock.now() };
  return { observed: { pool, objects, existing, pods: sortedPods(listed), leaseFound: lease !== undefined, agents: agentsRead?.list, self }, agentsRead };
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

/** The pool's size set by the plan's pass: drained and never below a busy slot; without Azure DevOps only ever raised. */
async function setReplicas(kube: KubeClient, options: DeployOptions, services: DeployServices, poolId: number | undefined, count: CountByPass, agents: PassState['agents']): Promise<{ look?: PoolLook; replicas: number; pods: PodSummary[] }> {
  const { pool } = options;
  if (count.warning !== undefined) services.host.warning(count.warning);
  const pass = {
    namespace: pool.namespace, runnerName: pool.runnerName, poolName: pool.poolName, organizationUrl: pool.organizationUrl,
    target: { mode: 'fixed' as const, replicas: count.replicas }, dryRun: false, removeStaleRegistrations: false, actor: 'DeployRunnerPool' as const,
  };
  const { decision, look, pods } = await scalePass(pass, { log: services.host, ado: poolId === undefined ? undefined : services.ado, clock: services.clock }, { kube, poolId, agents: count.reuseAgents ? agents : undefined });
  const report = passReport(decision, pool.replicas);
  if (report !== undefined) services.host.info(report);
  return { look: poolId === undefined ? undefined : look, replicas: decision.replicas, pods };
}

/**
 * The pass keeps a kept slot drained while its old pod is still leaving (a job handed to it would be cut off). No
 * later pass of this task enables it, so it waits for those pods to go, then enables their agents.
 */
async function enableOnceGone(kube: KubeClient, options: DeployOptions, services: DeployServices, poolId: number, look: PoolLook, passPods: PodSummary[], replicas: number): Promise<void> {
  const drained = drainedWhileLeaving(options.pool.runnerName, look.ours, passPods, replicas);
  if (drained.agents.length === 0) return;
  await waitUntilGone(kube, options.pool, drained.pods, services);
  await enableAgain(services.ado!, services.host, poolId, drained.agents);
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
 * Replaces the idle pods of an old template (src/core/deploy-plan.ts planReplacement), on a look taken once the count
 * is set. An idle agent is drained first (its pod marked draining) and looked at again: a job that reached it
 * meanwhile runs to its end (afterDrain). Every pod kept loses its draining mark. The agents it drained are enabled
 * again once the pods it deleted are gone (enableAfterReplacement).
 */
async function replaceIdleOutdatedPods(kube: KubeClient, options: DeployOptions, services: DeployServices, registered: RegisteredAgents | undefined, replicas: number, self: OwnRunner): Promise<void> {
  const { pool } = options;
  const { ado, host } = services;
  const statefulSet = await kube.get({ apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: pool.namespace, name: pool.runnerName });
  const outdated = outdatedPods(await listPoolPods(kube, pool), (statefulSet?.status as { updateRevision?: string } | undefined)?.updateRevision);
  if (outdated.length === 0) return;
  // Those of pods granted since the first look too: the looks below go by them.
  if (ado !== undefined && registered !== undefined) await noteRecordedGrants(kube, statefulSet, self.granted);
  const known = ado === undefined || registered === undefined ? undefined : registered.agents ?? ownAgents(self, await ado.listAgents(registered.poolId));
  const plan = planReplacement(outdated, known, ado !== undefined);
  if (plan.notice !== undefined) host.info(plan.notice);
  for (const { reason } of plan.kept) host.info(reason);
  if (ado === undefined || plan.drain.length === 0) return;
  // The agents of the pods it marked: a pod replaced since the look (its job ended) has nothing to drain.
  let toDrain: AgentInfo[] = [];
  // True from the first call on: a failure halfway through the drain still re-enables those it disabled.
  let drains = registered !== undefined;
  const replaced: PodSummary[] = [];
  try {
    // Marked first: a scaling pass that runs meanwhile (ScaleRunnerPool, the autoscaler) must not enable them again.
    const marked: PodSummary[] = [];
    for (const pod of plan.drain) if (await markDraining(kube, pool, pod)) marked.push(pod);
    toDrain = agentsToDrain(marked, known);
    if (registered !== undefined) drains = await setAgentsEnabled(ado, host, registered.poolId, toDrain, false, 'the idle pods it replaces');
    const now = registered === undefined ? undefined : ownAgents(self, await ado.listAgents(registered.poolId));
    for (const pod of marked) {
      const kept = afterDrain(pod, now, toDrain);
      if (kept !== undefined) {
        host.info(kept.reason);
      } else if (await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, pod.uid)) {
        replaced.push(pod);
        host.info(`Replaced idle ${pod.name} so that its next job runs on the new template.`);
      }
    }
    // Its agent stays disabled until the old pod is gone: re-enabled sooner, it could still be handed a job.
    await waitUntilGone(kube, pool, replaced, services);
  } finally {
    // A kept pod takes jobs again once nothing marks it draining: a scaling pass enables its agent then.
    await unmarkDraining(kube, pool, plan.drain.filter((pod) => !replaced.includes(pod)), host);
    if (registered !== undefined && drains) await enableAgain(ado, host, registered.poolId, enableAfterReplacement(pool, toDrain, replicas));
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
 * Autoscaling turned off: the autoscaler goes (its Deployment first, so it stops first), outlasted when it may still
 * act, then the pods it kept parked are replaced, as a look taken once it no longer acts shows them.
 */
async function stopAutoscaler(kube: KubeClient, pool: RunnerPoolSpec, stop: NonNullable<DeployPlan['stopAutoscaler']>, services: DeployServices): Promise<void> {
  const { host } = services;
  for (const object of stop.objects) {
    const ref = { apiVersion: object.apiVersion, kind: object.kind, namespace: pool.namespace, name: object.metadata.name };
    if (await kube.get(ref)) await kube.delete(ref);
  }
  if (stop.outlast) await outlastAutoscaler(kube, pool.namespace, pool.runnerName, 'DeployRunnerPool', services.clock, host, autoscalerGraceSeconds);
  const replaced: string[] = [];
  // One gone since the look (its slot's next pod comes from the new template) was not replaced here.
  for (const pod of parkedToReplace(pool.runnerName, await listPoolPods(kube, pool), stop.replaceParkedBelow)) {
    if (await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace: pool.namespace, name: pod.name }, pod.uid)) replaced.push(pod.name);
  }
  if (replaced.length > 0) host.info(`Replaced ${replaced.join(', ')}, which the autoscaler held gated: their slots start on the new template.`);
}

/** The pool's pods, by slot order. */
async function listPoolPods(kube: KubeClient, pool: RunnerPoolSpec): Promise<PodSummary[]> {
  return sortedPods(await kube.list('v1', 'Pod', pool.namespace, poolLabelSelector(pool.runnerName)));
}

function sortedPods(pods: KubeObject[]): PodSummary[] {
  return pods.map(summarizePod).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
