// The command line's remove: retires a runner pool and leaves nothing of it behind — its autoscaler, its pods, its
// agents' registrations, every object DeployRunnerPool made for it and its hub snapshot — without cutting off a job:
// its agents are drained first, and running jobs end before any pod goes.
import type { RemoveOptions } from '../core/cli-options.js';
import { leaseName } from '../core/lease.js';
import type { Log } from '../core/ports/host.js';
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { KubeClient, KubeObject, ObjectRef } from '../core/ports/kube.js';
import { autoscalerName, everyPoolObject, poolLabelSelector, poolLabels, terminationGraceSeconds } from '../core/manifests/index.js';
import { observePool } from '../core/scale-decision.js';
import { scaleFieldManager } from './scale-pass.js';
import { findRunner, noteRecordedGrants } from './runner-identity.js';
import { ownAgents, type RunnerIdentity } from '../core/runner-identity.js';
import { defaultRunnerName } from '../core/deploy-options.js';
import { UnusableInput } from '../core/inputs.js';

export interface RemoveServices {
  log: Log;
  ado: AdoClient;
  connect(): Promise<KubeClient>;
  clock: Clock;
}

export interface RemoveResult {
  /** The runner it removed (named by default when the command named none). */
  runnerName: string;
  /** `Kind/name` of each object removed, in the order it went. */
  objects: string[];
  /** The agent registrations removed. */
  agents: string[];
}

/** A job runs on the pool: remove refused, or gave up waiting for it; no pod and no registration was removed. */
export class PoolBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoolBusyError';
  }
}

const pollMs = 5000;
/** How long the service may keep a registration whose pod died mid-job (the job's lock) before remove gives up. */
const registrationLockSeconds = 60;

const refOf = (object: KubeObject): ObjectRef => ({ apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name });
const objectName = (object: KubeObject) => `${object.kind}/${object.metadata.name}`;

/** The objects of the runner that exist, made by DeployRunnerPool (its labels): a Secret the user brought is theirs. */
async function ownObjects(kube: KubeClient, options: RemoveOptions & { runnerName: string }): Promise<KubeObject[]> {
  const ours = poolLabels(options.runnerName);
  const found: KubeObject[] = [];
  for (const object of everyPoolObject({ ...options })) {
    const stored = await kube.get(refOf(object));
    const labels = stored?.metadata.labels ?? {};
    if (stored && labels['app.kubernetes.io/managed-by'] === ours['app.kubernetes.io/managed-by'] && labels['app.kubernetes.io/instance'] === options.runnerName) found.push(stored);
  }
  return found;
}

async function waitForNoPods(kube: KubeClient, namespace: string, selector: string, seconds: number, clock: Clock, what: string): Promise<void> {
  const deadline = clock.now() + seconds * 1000;
  for (;;) {
    const pods = await kube.list('v1', 'Pod', namespace, selector);
    if (pods.length === 0) return;
    if (clock.now() >= deadline) throw new Error(`${what} did not stop within ${seconds} s: ${pods.map((pod) => pod.metadata.name).join(', ')}.`);
    await clock.sleep(1000);
  }
}

/**
 * The runner `remove` is about. With no runnerName and no StatefulSet left (an earlier remove stopped half-way), it
 * is the one whose registrations are in the pool: named by default now (the pool and a tag), or before tags (the
 * pool's name alone), whose registrations carry no identity.
 */
async function runnerToRemove(kube: KubeClient, ado: AdoClient, poolId: number, options: RemoveOptions): Promise<RunnerIdentity> {
  const found = await findRunner(kube, options);
  if (options.runnerName !== undefined || found.statefulSet !== undefined) return found.identity;
  const beforeTags: RunnerIdentity = { runnerName: defaultRunnerName(options.poolName), namespace: options.namespace };
  const agents = await ado.listAgents(poolId);
  return ownAgents(found.identity, agents).length === 0 && ownAgents(beforeTags, agents).length > 0 ? beforeTags : found.identity;
}

export async function removeRunnerPool(options: RemoveOptions, services: RemoveServices): Promise<RemoveResult> {
  const { log, ado, clock } = services;
  const { namespace } = options;
  const kube = await services.connect();
  const pool = await ado.findPool(options.poolName);
  if (pool === undefined) throw new UnusableInput('poolName', `the agent pool '${options.poolName}' does not exist in ${options.organizationUrl}, or the token cannot see it.`);
  // Its registrations are those carrying its identity, and those its autoscaler recorded on its pods whatever their
  // sessions claim (remembered once the pods are gone): another cluster's agents of the pool stay, whatever their names.
  const identity = { ...(await runnerToRemove(kube, ado, pool.id, options)), granted: new Set<number>() };
  const { runnerName } = identity;
  const objects = await ownObjects(kube, { ...options, runnerName });
  const statefulSet = objects.find((object) => object.kind === 'StatefulSet');
  const look = async () => {
    await noteRecordedGrants(kube, statefulSet, identity.granted);
    const [agents, jobs] = await Promise.all([ado.listAgents(pool.id), ado.listUnfinishedJobs(pool.id)]);
    const { ours, busyOrdinals } = observePool(identity, agents, jobs);
    return { ours, busy: busyOrdinals.map((ordinal) => `${runnerName}-${ordinal}`) };
  };
  let seen = await look();
  if (objects.length === 0 && seen.ours.length === 0) {
    log.info(`Nothing to remove: no object of runner '${runnerName}' in namespace '${namespace}' and no registration of it in pool '${pool.name}'.`);
    return { runnerName, objects: [], agents: [] };
  }
  if (seen.busy.length > 0 && options.waitSeconds === 0) {
    throw new PoolBusyError(`${seen.busy.join(', ')} ${seen.busy.length === 1 ? 'runs a job' : 'run jobs'}; nothing was removed. Remove the pool once ${seen.busy.length === 1 ? 'it ends' : 'they end'}, or give waitSeconds to wait for ${seen.busy.length === 1 ? 'it' : 'them'}.`);
  }
  const deadline = clock.now() + options.waitSeconds * 1000;
  const removed: string[] = [];
  const remove = async (object: KubeObject) => {
    if (!(await kube.delete(refOf(object)))) return;
    removed.push(objectName(object));
    log.info(`Removed ${objectName(object)}.`);
  };

  // The autoscaler first: it would scale the pool up again, enable drained agents and register new pods.
  const autoscaler = objects.find((object) => object.kind === 'Deployment' && object.metadata.name === autoscalerName(runnerName));
  if (autoscaler) {
    await remove(autoscaler);
    await waitForNoPods(kube, namespace, `app.kubernetes.io/name=azure-devops-runner-autoscaler,app.kubernetes.io/instance=${runnerName}`, 60, clock, 'The autoscaler');
    // Its Lease, which it made itself (no manifest names it).
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', namespace, name: leaseName(runnerName) };
    if (await kube.delete(lease)) removed.push(`Lease/${lease.name}`);
    // Until it stopped it registered, enabled and retired agents: the drain goes by a look taken since.
    seen = await look();
  }
  // Drained: the service hands a disabled agent no new job. Then the jobs already running end in their pods.
  const enabled = seen.ours.filter((agent) => agent.enabled);
  for (const agent of enabled) await ado.setAgentEnabled(pool.id, agent.id, false);
  if (enabled.length > 0) log.info(`Disabled ${enabled.map((agent) => agent.name).join(', ')}: no new job starts on the pool.`);
  seen = await look();
  let waitingFor = '';
  while (seen.busy.length > 0) {
    if (clock.now() >= deadline) {
      throw new PoolBusyError(`${seen.busy.join(', ')} still ${seen.busy.length === 1 ? 'runs a job' : 'run jobs'} after ${options.waitSeconds} s. The pool is drained (no new job starts on it, its autoscaler is gone) but still there: remove it again once the ${seen.busy.length === 1 ? 'job ends' : 'jobs end'}.`);
    }
    if (seen.busy.join() !== waitingFor) log.info(`Waiting for the job${seen.busy.length === 1 ? '' : 's'} on ${seen.busy.join(', ')} to end (at most ${Math.ceil((deadline - clock.now()) / 1000)} s more).`);
    waitingFor = seen.busy.join();
    await clock.sleep(pollMs);
    seen = await look();
  }

  // No pod: scaled to none before the StatefulSet goes, so no deletion policy can leave one running.
  if (statefulSet) {
    await kube.scale(refOf(statefulSet), 0, scaleFieldManager);
    await waitForNoPods(kube, namespace, poolLabelSelector(runnerName), terminationGraceSeconds + 30, clock, 'The runner pods');
  }
  // The registrations once their pods are gone, as they are now: one that another cluster's runner took over while
  // they went is no longer this runner's. The service keeps one a job still holds (its pod died mid-job) until the
  // job's lock runs out.
  seen = await look();
  const agents: string[] = [];
  for (const agent of seen.ours) {
    const until = clock.now() + registrationLockSeconds * 1000;
    for (;;) {
      try {
        await ado.deleteAgent(pool.id, agent.id);
        break;
      } catch (error) {
        if (!(error instanceof AdoError && error.status === 400) || clock.now() >= until) throw error;
        await clock.sleep(pollMs);
      }
    }
    agents.push(agent.name);
  }
  if (agents.length > 0) log.info(`Removed the registrations ${agents.join(', ')} from pool '${pool.name}'.`);
  // Then every other object, in the reverse of the order DeployRunnerPool applied them.
  for (const object of [...objects].reverse()) if (object !== autoscaler) await remove(object);
  await ado.deleteSnapshot(`${namespace}.${runnerName}`);
  return { runnerName, objects: removed, agents };
}
