// Reads runner pools inside Azure DevOps: agents and job requests over REST with the user's token (the SDK resolves the
// organisation's URL through the host's location service), pool snapshots from the extension's data storage.
import * as SDK from 'azure-devops-extension-sdk';
import { getClient, type IExtensionDataService } from 'azure-devops-extension-api';
import { TaskAgentRestClient, type TaskAgent, type TaskAgentJobRequest, type TaskAgentPool } from 'azure-devops-extension-api/TaskAgent';
import { identityVariables } from '../../../src/core/index.js';
import { snapshotCollection, type PoolSnapshot } from '../../../src/core/index.js';
import type { HubAgent, JobLink } from '../../../src/core/index.js';
import { RunnerPoolError, type DataSource, type RunnerPoolData, type RunnerPoolService } from './RunnerPoolService.js';

// The service writes enums as numbers and wraps nothing when asked (the client asks), but older servers and proxies
// answer with names and {count, value}: accept both.
const results = ['succeeded', 'succeededWithIssues', 'failed', 'canceled', 'skipped', 'abandoned'];

function asList<T>(value: T[] | { value: T[] } | null | undefined): T[] {
  if (!value) return [];
  return Array.isArray(value) ? value : value.value ?? [];
}

function isoTime(value: Date | string | undefined | null): string | undefined {
  if (!value) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function resultName(result: unknown): string | undefined {
  if (typeof result === 'number') return results[result] ?? String(result);
  return typeof result === 'string' ? result : undefined;
}

function jobLink(request: TaskAgentJobRequest | undefined, time: 'receiveTime' | 'finishTime'): JobLink | undefined {
  if (!request) return undefined;
  const name = [request.definition?.name, request.owner?.name].filter(Boolean).join(' · ') || request.jobName || `Request ${request.requestId}`;
  const href: unknown = request.owner?._links?.web?.href ?? request.definition?._links?.web?.href;
  return {
    requestId: request.requestId,
    name,
    url: typeof href === 'string' ? href : undefined,
    time: isoTime(request[time] ?? request.assignTime),
    result: resultName(request.result),
  };
}

export function toHubAgent(pool: { id: number; name: string }, agent: TaskAgent): HubAgent {
  const status: unknown = agent.status;
  return {
    id: agent.id,
    name: agent.name,
    status: status === 2 || status === 'online' ? 'online' : 'offline',
    enabled: agent.enabled !== false,
    busyWith: agent.assignedRequest?.requestId,
    capabilities: { ...agent.systemCapabilities, ...agent.userCapabilities },
    poolId: pool.id,
    poolName: pool.name,
    statusChangedOn: isoTime(agent.statusChangedOn),
    runningJob: jobLink(agent.assignedRequest, 'receiveTime'),
    lastJob: jobLink(agent.lastCompletedRequest, 'finishTime'),
  };
}

/** The client plus the one route it has no method for: a pool's unfinished job requests. */
class RunnerTaskAgentClient extends TaskAgentRestClient {
  getUnfinishedRequests(poolId: number): Promise<TaskAgentJobRequest[] | { value: TaskAgentJobRequest[] }> {
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

export class AzureDevOpsRunnerPoolService implements RunnerPoolService {
  private readonly client = getClient(RunnerTaskAgentClient);

  async load(): Promise<RunnerPoolData> {
    // Snapshots and pools are read at once, each pool's agents once the pools are listed. Queues are read only when all
    // that is in, and the load answers without them: they are by far the largest answers, and downloading and parsing
    // them alongside would hold back the slot tables.
    const snapshotsRead = this.snapshots();
    const poolsRead = reading('agentPools', async () => asList(await this.client.getAgentPools()).filter((pool: TaskAgentPool) => !pool.isHosted));
    const [snapshots, pools] = await Promise.all([snapshotsRead, poolsRead.then((all) => Promise.all(all.map(async (pool) => ({ pool, agents: await this.agents(pool) }))))]);
    // A snapshot may spell its pool in another case, or name a pool that no longer exists (nothing can queue there).
    const queuedJobsByPool: Record<string, Promise<number>> = Object.fromEntries(snapshots.map((snapshot) => [snapshot.poolName, Promise.resolve(0)]));
    for (const { pool, agents } of pools) {
      const named = snapshots.filter((snapshot) => snapshot.poolName.toLowerCase() === pool.name.toLowerCase());
      if (agents.length === 0 && named.length === 0) continue;
      const queued = this.queued(pool.id);
      for (const name of [pool.name, ...named.map((snapshot) => snapshot.poolName)]) queuedJobsByPool[name] = queued;
    }
    return { agents: pools.flatMap((pool) => pool.agents), queuedJobsByPool, snapshots };
  }

  /** One pool's runner agents: only those that carry the runner's identity capability (the server filters with a demand). */
  private agents(pool: TaskAgentPool): Promise<HubAgent[]> {
    return reading('agentPools', async () =>
      asList(await this.client.getAgents(pool.id, undefined, true, true, true, undefined, [identityVariables.runnerName])).map((agent) => toHubAgent(pool, agent)));
  }

  /** Jobs waiting for an agent: unfinished requests not yet assigned. */
  private queued(poolId: number): Promise<number> {
    return reading('agentPools', async () =>
      asList(await this.client.getUnfinishedRequests(poolId)).filter((request) => request.result == null && !request.assignTime).length);
  }

  private snapshots(): Promise<PoolSnapshot[]> {
    return reading('extensionData', async () => {
      const dataService = await SDK.getService<IExtensionDataService>('ms.vss-features.extension-data-service');
      const manager = await dataService.getExtensionDataManager(SDK.getExtensionContext().id, await SDK.getAccessToken());
      try {
        return (await manager.getDocuments(snapshotCollection, { scopeType: 'Default', scopeValue: 'Current', defaultValue: [] })) as PoolSnapshot[];
      } catch (error) {
        // No task has published yet: the collection does not exist.
        if ((error as { status?: number }).status === 404) return [];
        throw error;
      }
    });
  }
}
