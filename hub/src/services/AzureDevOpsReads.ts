// What the hub reads from Azure DevOps and how, apart from the SDK that wires it up in the browser (so the contract tests
// drive the same calls from Node): agents and job requests over REST, pool snapshots from the extension's data storage.
import type { IExtensionDataManager } from 'azure-devops-extension-api';
import { TaskAgentRestClient, TaskAgentStatus, TaskResult, type TaskAgent, type TaskAgentJobRequest, type TaskAgentPool } from 'azure-devops-extension-api/TaskAgent';
import { demandText, identityVariables, snapshotCollection, type HubAgent, type HubJobRequest, type JobLink, type PoolSnapshot } from '../../../src/core/index.js';
import { RunnerPoolError, type DataSource, type RunnerPoolData } from './RunnerPoolService.js';

// The client asks for enumsAsNumbers, msDateFormat and noArrayWrap, and hands the answer back as parsed: results are
// numbers, times are Dates (Util/Serialization.js), lists are arrays.
const resultNames: Record<TaskResult, string> = {
  [TaskResult.Succeeded]: 'succeeded', [TaskResult.SucceededWithIssues]: 'succeededWithIssues', [TaskResult.Failed]: 'failed',
  [TaskResult.Canceled]: 'canceled', [TaskResult.Skipped]: 'skipped', [TaskResult.Abandoned]: 'abandoned',
  [TaskResult.ManuallyQueued]: 'manuallyQueued', [TaskResult.DependentOnManualQueue]: 'dependentOnManualQueue',
};

/** How the page names a job request and where it links to. */
function jobName(request: TaskAgentJobRequest): { name: string; url?: string } {
  const name = [request.definition?.name, request.owner?.name].filter(Boolean).join(' · ') || request.jobName || `Request ${request.requestId}`;
  // Optional: which members excludeUrls=true strips is not documented (the emulator keeps _links; see emulator/README.md).
  type Links = { web?: { href?: unknown } } | undefined;
  const href = (request.owner?._links as Links)?.web?.href ?? (request.definition?._links as Links)?.web?.href;
  return { name, url: typeof href === 'string' ? href : undefined };
}

function jobLink(request: TaskAgentJobRequest | undefined, time: 'receiveTime' | 'finishTime'): JobLink | undefined {
  if (!request) return undefined;
  return {
    requestId: request.requestId,
    ...jobName(request),
    time: (request[time] ?? request.assignTime)?.toISOString(),
    result: request.result == null ? undefined : resultNames[request.result],
  };
}

export function toHubAgent(pool: { id: number; name: string }, agent: TaskAgent): HubAgent {
  return {
    id: agent.id,
    name: agent.name,
    status: agent.status === TaskAgentStatus.Online ? 'online' : 'offline',
    enabled: agent.enabled,
    busyWith: agent.assignedRequest?.requestId,
    capabilities: { ...agent.systemCapabilities, ...agent.userCapabilities },
    poolId: pool.id,
    poolName: pool.name,
    statusChangedOn: agent.statusChangedOn?.toISOString(),
    runningJob: jobLink(agent.assignedRequest, 'receiveTime'),
    lastJob: jobLink(agent.lastCompletedRequest, 'finishTime'),
  };
}

/** The client plus the one route it has no method for: a pool's unfinished job requests. */
export class RunnerTaskAgentClient extends TaskAgentRestClient {
  getUnfinishedRequests(poolId: number): Promise<TaskAgentJobRequest[]> {
    return this.beginRequest({
      apiVersion: '7.2-preview.1',
      routeTemplate: '_apis/distributedtask/pools/{poolId}/jobrequests',
      routeValues: { poolId },
      queryParams: { completedRequestCount: 0 },
    });
  }
}

async function reading<T>(source: DataSource, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const { status, message, name } = error as { status?: number; message?: string; name?: string };
    const text = message || String(error);
    throw new RunnerPoolError(source, name === 'NetworkException' || status === undefined ? undefined : status, text);
  }
}

/** One pool's runner agents: only those that carry the runner's identity capability (the server filters with a demand). */
function runnerAgents(client: RunnerTaskAgentClient, pool: TaskAgentPool): Promise<HubAgent[]> {
  return reading('agentPools', async () =>
    (await client.getAgents(pool.id, undefined, true, true, true, undefined, [identityVariables.runnerName])).map((agent) => toHubAgent(pool, agent)));
}

/** A pool's unfinished job requests, with what tells which runner counts a waiting one (src/core/assignment.ts). */
function jobRequests(client: RunnerTaskAgentClient, poolId: number): Promise<HubJobRequest[]> {
  return reading('agentPools', async () => (await client.getUnfinishedRequests(poolId)).filter((request) => request.result == null).map((request) => ({
    requestId: request.requestId,
    ...jobName(request),
    // Typed as the spec's objects; the service sends strings.
    demands: (request.demands ?? []).map((demand: TaskAgentJobRequest['demands'][number] | string) => demandText(demand)),
    reservedAgentName: request.reservedAgent?.name,
    assignTime: request.assignTime?.toISOString(),
    receiveTime: request.receiveTime?.toISOString(),
  })));
}

function snapshots(openDataManager: () => Promise<IExtensionDataManager>): Promise<PoolSnapshot[]> {
  return reading('extensionData', async () => {
    const manager = await openDataManager();
    try {
      return (await manager.getDocuments(snapshotCollection, { scopeType: 'Default', scopeValue: 'Current', defaultValue: [] })) as PoolSnapshot[];
    } catch (error) {
      // No task has published yet: the collection does not exist. Kept whatever the host's data service does with
      // defaultValue, which is not documented.
      if ((error as { status?: number }).status === 404) return [];
      throw error;
    }
  });
}

/**
 * Snapshots and pools are read at once, each pool's agents once the pools are listed. Queues are read only when all that
 * is in, and the load answers without them: they are by far the largest answers, and downloading and parsing them
 * alongside would hold back the slot tables.
 */
export async function loadRunnerPools(client: RunnerTaskAgentClient, openDataManager: () => Promise<IExtensionDataManager>): Promise<RunnerPoolData> {
  const snapshotsRead = snapshots(openDataManager);
  const poolsRead = reading('agentPools', async () => (await client.getAgentPools()).filter((pool) => !pool.isHosted));
  const [published, pools] = await Promise.all([snapshotsRead, poolsRead.then((all) => Promise.all(all.map(async (pool) => ({ pool, agents: await runnerAgents(client, pool) }))))]);
  // A snapshot may spell its pool in another case, or name a pool that no longer exists (nothing can queue there).
  const jobRequestsByPool: Record<string, Promise<HubJobRequest[]>> = Object.fromEntries(published.map((snapshot) => [snapshot.poolName, Promise.resolve([])]));
  for (const { pool, agents } of pools) {
    const named = published.filter((snapshot) => snapshot.poolName.toLowerCase() === pool.name.toLowerCase());
    if (agents.length === 0 && named.length === 0) continue;
    const jobs = jobRequests(client, pool.id);
    for (const name of [pool.name, ...named.map((snapshot) => snapshot.poolName)]) jobRequestsByPool[name] = jobs;
  }
  return { agents: pools.flatMap((pool) => pool.agents), jobRequestsByPool, snapshots: published };
}
