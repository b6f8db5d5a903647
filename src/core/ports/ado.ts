// The Azure DevOps client as the core sees it: the few agent-pool calls the tasks make. A read of something missing
// answers undefined (or nothing); a write to something missing fails with AdoError 404.
import type { AgentInfo, PoolSnapshot } from '../model.js';
import type { AgentRegistration, DeploymentType } from '../registration.js';

export interface JobRequest {
  requestId: number;
  /** The pipeline and the job as the hub names them, e.g. "CI · Build", when the service says. */
  name?: string;
  demands: string[];
  /** Set once the service has picked an agent for the job. */
  reservedAgentName?: string;
  /** The pipeline (definition) the job belongs to, when the service says. */
  pipeline?: string;
  queueTime?: string;
  assignTime?: string;
  receiveTime?: string;
  result?: string;
}

/** What a list of agents leaves out: capabilities are most of its bytes (issue #30). */
export interface AgentListIncludes {
  /** Default true; false: every agent's `capabilities` is empty. */
  capabilities: boolean;
}

/** The service's answer to a registration. */
export interface RegisteredAgent {
  id: number;
  name: string;
  clientId: string;
  authorizationUrl: string;
  /** The registration as the answer shows it, when it shows the capabilities and their status date. */
  written?: { capabilities: Record<string, string>; statusChangedOn: string };
}

export interface AdoClient {
  findPool(name: string): Promise<{ id: number; name: string } | undefined>;
  /**
   * Every agent of the pool, with capabilities (unless `include` leaves them out) and the request it runs. One call
   * whatever the pool size. With `name`, only the agent of that name (the service filters): a list of a large pool is
   * a heavy read.
   */
  listAgents(poolId: number, name?: string, include?: AgentListIncludes): Promise<AgentInfo[]>;
  /** One agent by id, with its capabilities and the requests it runs and last finished; undefined when gone. */
  getAgent(poolId: number, agentId: number): Promise<AgentInfo | undefined>;
  /** The pool's queued and running job requests (unfinished only), in one call whatever their number. */
  listUnfinishedJobs(poolId: number): Promise<JobRequest[]>;
  /** False when the agent was already gone. */
  deleteAgent(poolId: number, agentId: number): Promise<boolean>;
  /**
   * Registers an agent with its public key: adds it, or with `agentId` re-keys that registration (as `config.sh
   * --replace` does: the old key stops working). Returns what the agent needs to get its tokens, and the registration
   * as written when the answer shows its capabilities and status date.
   */
  registerAgent(poolId: number, agent: AgentRegistration, agentId?: number): Promise<RegisteredAgent>;
  /**
   * What connectionData says the server is; undefined when it does not say. Read once per client: it decides where
   * registered agents get their tokens (tokenEndpointUrl).
   */
  deploymentType(): Promise<DeploymentType | undefined>;
  /** A disabled agent stays registered but the service hands it no new job. An AdoError 404: no such agent. */
  setAgentEnabled(poolId: number, agentId: number, enabled: boolean): Promise<void>;
  /** Stores the pool's snapshot in the extension's data storage (last write wins), for the hub. AdoError 404: no such extension. */
  publishSnapshot(snapshot: PoolSnapshot): Promise<void>;
  /** Removes a runner's snapshot (`<namespace>.<runnerName>`), once the runner is gone; none there is no error. */
  deleteSnapshot(id: string): Promise<void>;
  /** Seconds spent waiting on throttling (429, Retry-After) so far. */
  readonly throttledSeconds: number;
  /** Calls sent so far (each attempt counts). */
  readonly calls: number;
  /** X-RateLimit-Remaining and -Limit of the last answer, if it carried them (the service sends them as the budget runs low). */
  readonly rateLimit?: { remaining: number; limit: number };
  /**
   * A client that may take a pool's lists from another autoscaler's look (src/flows/shared-job-requests.ts): whether the
   * last look's came from there, and from now on only lists read now.
   */
  readonly lastLookShared?: boolean;
  lookAfresh?(): void;
}

/** Passes every call on to `inner`: a base for a client that changes a few calls (the autoscaler's, a test's). */
export class DelegatingAdoClient implements AdoClient {
  constructor(protected readonly inner: AdoClient) {}

  get throttledSeconds(): number {
    return this.inner.throttledSeconds;
  }

  get calls(): number {
    return this.inner.calls;
  }

  get rateLimit() {
    return this.inner.rateLimit;
  }

  get lastLookShared() {
    return this.inner.lastLookShared;
  }

  lookAfresh() {
    this.inner.lookAfresh?.();
  }

  findPool(name: string) {
    return this.inner.findPool(name);
  }

  listAgents(poolId: number, name?: string, include?: AgentListIncludes) {
    return this.inner.listAgents(poolId, name, include);
  }

  getAgent(poolId: number, agentId: number) {
    return this.inner.getAgent(poolId, agentId);
  }

  listUnfinishedJobs(poolId: number) {
    return this.inner.listUnfinishedJobs(poolId);
  }

  deleteAgent(poolId: number, agentId: number) {
    return this.inner.deleteAgent(poolId, agentId);
  }

  registerAgent(...args: Parameters<AdoClient['registerAgent']>) {
    return this.inner.registerAgent(...args);
  }

  deploymentType() {
    return this.inner.deploymentType();
  }

  setAgentEnabled(poolId: number, agentId: number, enabled: boolean) {
    return this.inner.setAgentEnabled(poolId, agentId, enabled);
  }

  publishSnapshot(snapshot: PoolSnapshot) {
    return this.inner.publishSnapshot(snapshot);
  }

  deleteSnapshot(id: string) {
    return this.inner.deleteSnapshot(id);
  }
}

/** The agent packages an organization offers (`distributedtask/packages/agent`), which BuildRunnerImage asks once. */
export interface AgentPackages {
  /** The newest agent version offered for a platform such as linux-x64; undefined when none is. Throws when it cannot ask. */
  newestAgentVersion(platform: string): Promise<string | undefined>;
}

/** Azure DevOps refused or failed a call, with a message a person can act on. */
export class AdoError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdoError';
  }
}
