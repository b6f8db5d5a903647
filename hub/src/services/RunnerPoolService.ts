// The page's only door to data: what it reads about runner pools, and how a failed read is told to the user.
import type { HubAgent } from '../../../tasks/common/src/hub-model.js';
import type { PoolSnapshot } from '../../../tasks/common/src/model.js';

/** Everything one refresh of the page reads. */
export interface RunnerPoolData {
  /** Runner agents (those with a RUNNER_NAME capability) of every self-hosted pool, with their current and last job. */
  agents: HubAgent[];
  /** Jobs waiting for an agent, by Azure DevOps pool name, for the pools that hold runners or snapshots. */
  queuedJobsByPool: Record<string, number>;
  /** The PoolSnapshot documents the tasks published. */
  snapshots: PoolSnapshot[];
}

export interface RunnerPoolService {
  load(): Promise<RunnerPoolData>;
}

/** What the page was reading when a load failed: each needs its own permission. */
export type DataSource = 'agentPools' | 'extensionData';

export class RunnerPoolError extends Error {
  constructor(
    readonly source: DataSource,
    /** HTTP status, or undefined when the server could not be reached at all. */
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'RunnerPoolError';
  }
}

const permissionNames: Record<DataSource, string> = {
  agentPools: 'Agent Pools (read)',
  extensionData: 'Extension Data (read)',
};

/** A failed load as the page tells it: a title and what to do next. */
export function describeLoadError(error: unknown): { title: string; detail: string } {
  if (error instanceof RunnerPoolError) {
    const permission = permissionNames[error.source];
    if (error.status === 401 || error.status === 403) {
      return {
        title: `This page needs ${permission}`,
        detail: `Azure DevOps refused the request (HTTP ${error.status}): ${error.message} Ask an administrator to grant you ` +
          `${permission} on the organisation's agent pools, or to accept the extension's updated scopes.`,
      };
    }
    if (error.status === undefined) {
      return {
        title: 'Cannot reach Azure DevOps',
        detail: `The connection failed while reading ${error.source === 'agentPools' ? 'agent pools' : 'pool snapshots'}: ${error.message} ` +
          'Check your network connection; the page tries again on its own.',
      };
    }
    return {
      title: `Azure DevOps answered HTTP ${error.status}`,
      detail: `${error.message} The page tries again on its own.`,
    };
  }
  return { title: 'The runner pools could not be loaded', detail: error instanceof Error ? error.message : String(error) };
}
