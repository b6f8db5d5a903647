// The page's only door to data: what it reads about runner pools, and how a failed read is told to the user.
import type { HubAgent, HubJobRequest, PoolSnapshot } from '../../../src/core/index.js';

/** Everything one refresh of the page reads. */
export interface RunnerPoolData {
  /** Runner agents (those with a RUNNER_NAME capability) of every self-hosted pool, with their current and last job. */
  agents: HubAgent[];
  /**
   * The unfinished job requests (waiting and running), by pool name as agents and snapshots spell it, for every pool
   * that holds runners or snapshots. Still on their way when the rest has arrived: a pool's job requests carry every
   * unfinished job with all the agents that could take it, many megabytes for a large pool, and only feed the queue.
   */
  jobRequestsByPool: Record<string, Promise<HubJobRequest[]>>;
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

const permissions: Record<DataSource, { name: string; grant: string }> = {
  agentPools: { name: 'Agent Pools (read)', grant: 'the Reader role on the organisation\'s agent pools (Organization settings → Agent pools → Security)' },
  extensionData: { name: 'Extension Data (read)', grant: 'access to this extension\'s data (an administrator accepts its scopes when installing or updating it)' },
};

/** A failed load as the page tells it: a title and what to do next. */
export function describeLoadError(error: unknown): { title: string; detail: string } {
  if (error instanceof RunnerPoolError) {
    if (error.status === 401) {
      return {
        title: 'Azure DevOps did not accept your sign-in',
        detail: `The request was refused (HTTP 401): ${error.message} Reload the page to sign in again.`,
      };
    }
    if (error.status === 403) {
      const permission = permissions[error.source];
      return {
        title: `This page needs ${permission.name}`,
        detail: `Azure DevOps refused the request (HTTP 403): ${error.message} Ask an administrator for ${permission.grant}.`,
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
