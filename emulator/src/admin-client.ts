// A typed client for the emulator's /_admin controls (README "Admin API"): what the tests, the trial (`npm start`) and
// the benches use to seed it and read what it saw, never its in-memory store.
import type { AdminJob } from './routes/admin.js';
import type { AgentWrite, Fault, JobSpec, Pat, ServedRequest, ServicePrincipal, TaskResult } from './types.js';

export interface FaultSpec extends Omit<Fault, 'id' | 'remaining'> {
  /** How many matching requests get the fault (default: all until cleared). */
  count?: number;
}

/** Thin client over /_admin; every call throws on an unexpected status. */
export class AdminClient {
  constructor(private readonly url: string) {}

  private async call<T>(method: string, path: string, body?: unknown, okStatuses = [200, 204]): Promise<{ status: number; json: T }> {
    const response = await fetch(`${this.url}/_admin${path}`, {
      method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!okStatuses.includes(response.status)) throw new Error(`${method} /_admin${path}: HTTP ${response.status} ${text}`);
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as T };
  }

  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  async createPool(name: string): Promise<{ id: number; name: string }> {
    return (await this.call<{ id: number; name: string }>('POST', '/pools', { name })).json;
  }

  async addPat(pat: Partial<Pat> & { token: string }): Promise<void> {
    await this.call('POST', '/pats', pat);
  }

  /** Revokes a PAT: calls with it are refused from now on. */
  async revokePat(token: string): Promise<void> {
    await this.call('POST', '/pats/revoke', { token });
  }

  /** Adds a Bearer token standing for a user with those scopes: the access token Azure DevOps hands an extension's page. */
  async addToken(token: { token: string; user?: string; scopes?: string[]; expiresInSeconds?: number }): Promise<void> {
    await this.call('POST', '/tokens', token);
  }

  async addServicePrincipal(sp: ServicePrincipal): Promise<void> {
    await this.call('POST', '/service-principals', sp);
  }

  /** Queues a job; resolves to the job, or to `{rejected}` when the pool can never satisfy its demands. */
  async queueJob(spec: JobSpec & { pool: string | number }): Promise<AdminJob | { rejected: string }> {
    const { json } = await this.call<AdminJob | { rejected: string }>('POST', '/jobs', spec, [200, 400]);
    return json;
  }

  async jobs(): Promise<AdminJob[]> {
    return (await this.call<{ value: AdminJob[] }>('GET', '/jobs')).json.value;
  }

  async job(requestId: number): Promise<AdminJob> {
    return (await this.call<AdminJob>('GET', `/jobs/${requestId}`)).json;
  }

  async cancelJob(requestId: number): Promise<AdminJob> {
    return (await this.call<AdminJob>('POST', `/jobs/${requestId}/cancel`)).json;
  }

  /** The agent that was handed the job takes it: the job runs. */
  async startJob(requestId: number): Promise<AdminJob> {
    return (await this.call<AdminJob>('POST', `/jobs/${requestId}/start`)).json;
  }

  /** Ends a job with that result (a job's result, once given, stands). */
  async finishJob(requestId: number, result: TaskResult): Promise<AdminJob> {
    return (await this.call<AdminJob>('POST', `/jobs/${requestId}/finish`, { result })).json;
  }

  async jobLog(requestId: number): Promise<string> {
    const response = await fetch(`${this.url}/_admin/jobs/${requestId}/log`);
    return response.text();
  }

  /** Polls until the job has a result (or the timeout passes, which throws). */
  async waitForJob(requestId: number, timeoutMs = 30_000): Promise<AdminJob> {
    return this.waitFor(() => this.job(requestId), (job) => job.state === 'finished', timeoutMs, `job ${requestId} to finish`);
  }

  /** Brings a registered agent online: a session, as its listener opens one (no agent process runs). */
  async openSession(agentId: number): Promise<void> {
    await this.call('POST', `/agents/${agentId}/session`);
  }

  /** Takes an agent offline: its session ends, and a job handed to it and not yet taken goes back to the queue. */
  async endSession(agentId: number): Promise<void> {
    await this.call('DELETE', `/agents/${agentId}/session`);
  }

  /** Sends the service's update message (AgentRefresh) to an agent with a session. */
  async sendAgentRefresh(agentId: number, targetVersion: string): Promise<void> {
    await this.call('POST', `/agents/${agentId}/refresh`, { targetVersion });
  }

  async agents(pool: string | number): Promise<Record<string, unknown>[]> {
    return (await this.call<{ value: Record<string, unknown>[] }>('GET', `/pools/${encodeURIComponent(String(pool))}/agents`)).json.value;
  }

  async createPipeline(spec: { project: string; name: string; pool: string; demands?: string[]; script: string; env?: Record<string, string> }): Promise<{ id: number; projectId: string }> {
    return (await this.call<{ id: number; projectId: string }>('POST', '/pipelines', spec)).json;
  }

  /** The writes clients made to agents after `since` (a write's seq), oldest first, whoever sent them. */
  async agentWrites(since = 0): Promise<AgentWrite[]> {
    return (await this.call<{ value: AgentWrite[] }>('GET', `/agents/writes?since=${since}`)).json.value;
  }

  async requests(since = 0): Promise<ServedRequest[]> {
    return (await this.call<{ value: ServedRequest[] }>('GET', `/requests?since=${since}`)).json.value;
  }

  async clearRequests(): Promise<void> {
    await this.call('DELETE', '/requests');
  }

  async addFault(fault: FaultSpec): Promise<number> {
    return (await this.call<{ id: number }>('POST', '/faults', fault)).json.id;
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  /** Re-reads `get` every 100 ms until `done` holds. */
  async waitFor<T>(get: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await get();
      if (done(value)) return value;
      if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
