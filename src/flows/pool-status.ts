// The command line's status: a runner pool as the Runner pools hub shows it (slots, agents, jobs, pods), read live from
// the cluster and Azure DevOps — from a terminal that reaches a private cluster the browser cannot.
import type { PoolRef } from '../core/cli-options.js';
import type { ReplicasOwner } from '../core/model.js';
import type { AdoClient, JobRequest } from '../core/ports/ado.js';
import type { Clock } from '../core/ports/clock.js';
import type { KubeClient } from '../core/ports/kube.js';
import type { Log } from '../core/ports/host.js';
import { buildPoolViews, type HubAgent, type JobLink, type PoolView } from '../core/hub-model.js';
import { buildSnapshot } from '../core/snapshot.js';
import { summarizePod } from '../core/pod-status.js';
import { keyHolder } from '../core/single-use.js';
import { stuckSlots } from '../core/slot-start.js';
import { autoscalerName, poolLabelSelector } from '../core/manifests/index.js';
import { replicasOwner } from '../core/pass-plan.js';
import { findStatefulSet } from './runner-identity.js';
import { startRefusals } from './slot-start.js';
import { UnusableInput } from '../core/inputs.js';

export interface PoolStatusServices {
  ado: AdoClient;
  connect(): Promise<KubeClient>;
  clock: Clock;
  /** Where a look that cannot be complete says so (e.g. a Role that may not read events). */
  log: Log;
}

export interface PoolStatus {
  view: PoolView;
  /** Who sets the replica count; undefined: DeployRunnerPool's `replicas`. */
  replicasOwner?: ReplicasOwner;
  /** The pool's in-cluster autoscaler, when it has one. */
  autoscaler?: { name: string; ready: boolean };
}

/** A job as the hub names it; the service may leave the pipeline's name out. */
const jobName = (requestId: number, job: JobRequest | undefined) => job?.name ?? `Request ${requestId}`;

function jobLink(requestId: number, job: JobRequest | undefined): JobLink {
  return { requestId, name: jobName(requestId, job), time: job?.receiveTime ?? job?.assignTime };
}

export async function readPoolStatus(options: PoolRef, services: PoolStatusServices): Promise<PoolStatus> {
  const { namespace, poolName } = options;
  const kube = await services.connect();
  const statefulSet = await findStatefulSet(kube, options);
  if (statefulSet === undefined) {
    throw new UnusableInput('runnerName', `there is no runner pool ${options.runnerName === undefined ? `of '${poolName}' named by default` : `'${options.runnerName}'`} in namespace '${namespace}'.`);
  }
  const runnerName = statefulSet.metadata.name;
  const [pods, deployment] = await Promise.all([
    kube.list('v1', 'Pod', namespace, poolLabelSelector(runnerName)),
    kube.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: autoscalerName(runnerName) }),
  ]);
  const pool = await services.ado.findPool(poolName);
  if (pool === undefined) throw new UnusableInput('poolName', `the agent pool '${poolName}' does not exist in ${options.organizationUrl}, or the token cannot see it.`);
  const [agents, jobs] = await Promise.all([services.ado.listAgents(pool.id), services.ado.listUnfinishedJobs(pool.id)]);
  const jobsById = new Map(jobs.map((job) => [job.requestId, job]));
  const hubAgents: HubAgent[] = agents.map((agent) => ({
    ...agent,
    poolId: pool.id,
    poolName: pool.name,
    ...(agent.busyWith !== undefined && { runningJob: jobLink(agent.busyWith, jobsById.get(agent.busyWith)) }),
  }));
  const replicas = (statefulSet.spec as { replicas?: number }).replicas ?? 1;
  const now = new Date(services.clock.now());
  const stuck = stuckSlots({
    runnerName, replicas, statefulSetUid: statefulSet.metadata.uid, pods, events: await startRefusals(kube, statefulSet, replicas, pods, services.log),
    registeredPods: new Set(agents.flatMap((agent) => keyHolder(agent) ?? [])), now: now.getTime(),
  });
  // What the hub reads from a published snapshot, taken from the cluster itself this moment (and published nowhere).
  const live = buildSnapshot({ ...options, runnerName, replicas }, pods.map(summarizePod), 'DeployRunnerPool', now, { stuck });
  const requests = jobs.map((job) => ({ ...job, name: jobName(job.requestId, job) }));
  const view = buildPoolViews(hubAgents, { [pool.name]: requests, [poolName]: requests }, [live], now).find((candidate) => candidate.key === live.id)!;
  const status = deployment?.status as { readyReplicas?: number } | undefined;
  return {
    view,
    replicasOwner: replicasOwner(statefulSet),
    ...(deployment && { autoscaler: { name: deployment.metadata.name, ready: (status?.readyReplicas ?? 0) > 0 } }),
  };
}
