// The command line's remove: retires a runner pool and leaves nothing of it behind — its autoscaler, its pods, its
// agents' registrations, every object DeployRunnerPool made for it and its hub snapshot — without cutting off a job:
// its agents are drained first, and running jobs end before any pod goes.
import type { RemoveOptions } from '../core/cli-options.js';
import type { Log } from '../core/ports/host.js';
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { KubeClient, KubeObject, ObjectRef } from '../core/ports/kube.js';
import { everyPoolObject, poolLabelSelector, poolLabels, terminationGraceSeconds } from '../core/manifests/index.js';
import { planRemove, registrationsToDelete, removeStep, type RemoveLook } from '../core/remove-plan.js';
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

/** One look, then the plan (src/core/remove-plan.ts): the autoscaler, a drain and a wait on fresh looks, the pods, the registrations, the rest. */
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
  const look = async (): Promise<RemoveLook> => {
    await noteRecordedGrants(kube, statefulSet, identity.granted);
    const [agents, jobs] = await Promise.all([ado.listAgents(pool.id), ado.listUnfinishedJobs(pool.id)]);
    return { agents, jobs };
  };
  let seen = await look();
  const plan = planRemove({ self: identity, poolName: pool.name, objects, look: seen, waitSeconds: options.waitSeconds });
  if (plan.refusal !== undefined) throw new PoolBusyError(plan.refusal);
  if (plan.nothing !== undefined) {
    log.info(plan.nothing);
    return { runnerName, objects: [], agents: [] };
  }
  const deadline = clock.now() + options.waitSeconds * 1000;
  const removed: string[] = [];
  const remove = async (object: KubeObject) => {
    if (!(await kube.delete(refOf(object)))) return;
    removed.push(objectName(object));
    log.info(`Removed ${objectName(object)}.`);
  };

  if (plan.autoscaler !== undefined) {
    await remove(plan.autoscaler.deployment);
    await waitForNoPods(kube, namespace, `app.kubernetes.io/name=azure-devops-runner-autoscaler,app.kubernetes.io/instance=${runnerName}`, 60, clock, 'The autoscaler');
    if (await kube.delete(plan.autoscaler.lease)) removed.push(`Lease/${plan.autoscaler.lease.name}`);
    // Until it stopped it registered, enabled and retired agents: the drain goes by a look taken since.
    seen = await look();
  }
  // Drained: the service hands a disabled agent no new job. Then the jobs already running end in their pods. Each step
  // goes by a fresh look: an agent registered since the last one is drained too before any pod goes.
  // An agent drained since the last sleep is not drained again before the next one, and the time counts whatever the
  // step: something that keeps enabling an agent makes remove give up after waitSeconds, not spin.
  let waitingFor = '';
  const drained = { ever: new Set<number>(), sinceSleep: new Set<number>() };
  const next = () => removeStep(identity, seen, deadline - clock.now(), options.waitSeconds, drained);
  for (let step = next(); step.kind !== 'pods-go'; step = next()) {
    if (step.kind === 'give-up') throw new PoolBusyError(step.message);
    if (step.kind === 'drain') {
      for (const agent of step.agents) {
        await ado.setAgentEnabled(pool.id, agent.id, false);
        drained.ever.add(agent.id);
        drained.sinceSleep.add(agent.id);
      }
      log.info(step.message);
    } else {
      const waitingNow = `${step.busy.join()}/${step.enabledAgain.join()}`;
      if (waitingNow !== waitingFor) log.info(step.message);
      waitingFor = waitingNow;
      await clock.sleep(pollMs);
      drained.sinceSleep.clear();
    }
    seen = await look();
  }

  if (plan.scaleToNone !== undefined) {
    await kube.scale(refOf(plan.scaleToNone), 0, scaleFieldManager);
    await waitForNoPods(kube, namespace, poolLabelSelector(runnerName), terminationGraceSeconds + 30, clock, 'The runner pods');
  }
  // The service keeps a registration a job still holds (its pod died mid-job) until the job's lock runs out.
  const agents: string[] = [];
  for (const agent of registrationsToDelete(identity, await look())) {
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
  for (const object of plan.objects) await remove(object);
  await ado.deleteSnapshot(plan.snapshot);
  return { runnerName, objects: removed, agents };
}
