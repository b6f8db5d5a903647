// AdoClient over Azure DevOps REST with a PAT: honours Retry-After and X-RateLimit-*, retries no answer, 429 and 5xx
// with back-off within one time budget per call.
import { snapshotCollection, type AgentInfo, type PoolSnapshot } from '../core/model.js';
import { demandText } from '../core/demands.js';
import { AdoError, type AdoClient, type AgentListIncludes, type JobRequest, type RegisteredAgent } from '../core/ports/ado.js';
import type { AgentRegistration, DeploymentType } from '../core/registration.js';

export interface RestClientOptions {
  organizationUrl: string;
  /** The PAT; a function when it can change under a running client (the autoscaler's Secret, rotated in place). */
  token: string | (() => string);
  /** The installed extension whose data storage holds the pool snapshots. */
  extension?: { publisher: string; id: string };
  /** Waits; injectable so tests need not sleep. */
  sleep(ms: number): Promise<void>;
  log(message: string): void;
  /** How long one call may take, retries included (callBudgetMs by default). */
  budgetMs?: number;
  /** The clock the budget is measured on; injectable with `sleep`. */
  now?: () => number;
  /** How a request is sent (global fetch by default); a simulation injects one that follows every call. */
  fetch?: typeof fetch;
}

// What each call needs, for the error a 403 turns into.
const scopes = { read: 'Agent Pools (Read)', manage: 'Agent Pools (Read & manage)', extensionData: 'Extension Data (Read & write)' } as const;

/** Extension data is served from the organization's extension-management host. */
export function extensionManagementUrl(organizationUrl: string): string {
  const url = new URL(organizationUrl);
  if (url.hostname === 'dev.azure.com') url.hostname = 'extmgmt.dev.azure.com';
  else if (url.hostname.endsWith('.visualstudio.com')) url.hostname = url.hostname.replace(/\.visualstudio\.com$/, '.extmgmt.visualstudio.com');
  return url.toString().replace(/\/+$/, '');
}

interface WireAgent {
  id: number;
  name: string;
  status: string;
  enabled: boolean;
  systemCapabilities?: Record<string, string>;
  userCapabilities?: Record<string, string> | null;
  assignedRequest?: { requestId: number } | null;
  lastCompletedRequest?: { requestId: number } | null;
  statusChangedOn?: string;
}

/** The single-use rule needs the request an agent runs and the one it last finished (src/core/single-use.ts). */
const agentIncludes = (capabilities: boolean) => ({ includeCapabilities: String(capabilities), includeAssignedRequest: 'true', includeLastCompletedRequest: 'true' });

function agentInfo(a: WireAgent): AgentInfo {
  return {
    id: a.id,
    name: a.name,
    status: a.status === 'online' ? 'online' : 'offline',
    enabled: a.enabled,
    busyWith: a.assignedRequest?.requestId,
    lastCompletedRequestId: a.lastCompletedRequest?.requestId,
    capabilities: { ...a.systemCapabilities, ...a.userCapabilities },
    ...(a.statusChangedOn && { statusChangedOn: a.statusChangedOn }),
  };
}

interface WireJobRequest {
  requestId: number;
  demands?: Array<string | { name: string; value?: string }>;
  reservedAgent?: { name: string } | null;
  definition?: { name?: string } | null;
  owner?: { name?: string } | null;
  queueTime?: string;
  assignTime?: string;
  receiveTime?: string;
  result?: string | null;
}

/**
 * The longest one call may take, its retries included: a scaling pass waits on it, and a watching run's next pass
 * tries again (as a Kubernetes call that gets no answer fails at once with status 0).
 */
export const callBudgetMs = 60_000;
/** One attempt's longest wait for the whole answer (the job requests of a large pool are a large answer). */
const attemptTimeoutMs = 30_000;

/** fetch says only "fetch failed"; the reason (ECONNREFUSED, a TLS error, the timeout) is in its cause. */
export function describeFetchError(error: unknown): string {
  const { message, cause } = error as Error & { cause?: unknown };
  return cause instanceof Error ? `${message} (${cause.message})` : message;
}

/** How long after a call's start a refused connection is tried again: three attempts, at 0, 1 and 3 s. */
const refusedRetryMs = 4_000;

/**
 * How long after a call's start a failure to connect is still worth another attempt (the budget caps it). Never:
 * - a port fetch will not use ("bad port", the Fetch standard's blocked ports): no attempt is ever sent;
 * - a name that does not exist (ENOTFOUND is NXDOMAIN; a resolver that did not answer says EAI_AGAIN, retried): the
 *   answer is cached for longer than a call lasts;
 * - a certificate the client refuses: the server will not present another within seconds.
 * A refused connection (ECONNREFUSED) is an answer from a host that is up with nothing listening: a wrong port, for
 * ever, or a server restarting behind its address, back within seconds. So it gets seconds, not the whole budget;
 * the autoscaler's and a watching run's next pass try again anyway. Anything else (no answer, a reset) may pass.
 */
function retryWindowMs(error: unknown): number {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : '';
  if (cause?.message === 'bad port' || code === 'ENOTFOUND') return 0;
  if (/^(CERT_|UNABLE_TO_)|^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)$/.test(code)) return 0;
  return code === 'ECONNREFUSED' ? refusedRetryMs : Infinity;
}

export class RestAdoClient implements AdoClient {
  throttledSeconds = 0;
  calls = 0;
  rateLimit?: { remaining: number; limit: number };
  private readonly base: string;
  private readonly now: () => number;
  // Retry-After may come on a successful answer too: the next call waits until then.
  private notBefore = 0;
  private deployment?: Promise<DeploymentType | undefined>;

  constructor(private readonly options: RestClientOptions) {
    this.base = options.organizationUrl.replace(/\/+$/, '');
    this.now = options.now ?? (() => Date.now());
  }

  private authorization(): string {
    const token = typeof this.options.token === 'string' ? this.options.token : this.options.token();
    return `Basic ${Buffer.from(`:${token}`).toString('base64')}`;
  }

  private async wait(ms: number, throttled: boolean): Promise<void> {
    if (ms <= 0) return;
    if (throttled) this.throttledSeconds += ms / 1000;
    await this.options.sleep(ms);
  }

  /**
   * One call, retried on no answer, 429 and 5xx while its time budget lasts, then failing with that status (which a
   * watch retries next pass). A 404 is an absent object for a GET (undefined) and an error for any other verb.
   */
  private async call<T>(method: string, path: string, query: Record<string, string>, scope: keyof typeof scopes, payload?: object, base = this.base): Promise<T | undefined> {
    const url = `${base}/_apis/${path}?${new URLSearchParams(query)}`;
    const started = this.now();
    const deadline = started + (this.options.budgetMs ?? callBudgetMs);
    const giveUp = (status: number, why: string, attempts: number) =>
      new AdoError(status, `${why} (gave up after ${attempts} attempt(s) in ${Math.round((this.now() - started) / 1000)} s)`);
    for (let attempt = 1; ; attempt++) {
      const throttle = this.notBefore - this.now();
      if (throttle > deadline - this.now()) throw giveUp(429, `Azure DevOps asks to wait ${Math.ceil(throttle / 1000)} s before ${method} ${path}, longer than a call may take`, attempt - 1);
      await this.wait(throttle, true);
      let response: Response | undefined;
      let body = '';
      let failure: string;
      let giveUpAt = deadline;
      try {
        // A connection that stalls or drops, before or during the answer, counts as no answer.
        this.calls++;
        response = await (this.options.fetch ?? fetch)(url, {
          method,
          headers: { authorization: this.authorization(), accept: 'application/json', ...(payload && { 'content-type': 'application/json' }) },
          body: payload && JSON.stringify(payload),
          signal: AbortSignal.timeout(Math.max(1, Math.min(attemptTimeoutMs, deadline - this.now()))),
        });
        body = await response.text();
        failure = '';
      } catch (error) {
        response = undefined;
        failure = `Cannot reach Azure DevOps at ${this.base}: ${describeFetchError(error)}`;
        giveUpAt = Math.min(deadline, started + retryWindowMs(error));
      }
      let delay: number;
      if (response === undefined) {
        delay = 1000 * 2 ** (attempt - 1);
      } else {
        const retryAfter = Number(response.headers.get('retry-after'));
        if (retryAfter > 0) this.notBefore = this.now() + Math.min(retryAfter, 300) * 1000;
        const remaining = response.headers.get('x-ratelimit-remaining');
        // The service sends the headers only while the identity's budget runs low: an answer without them means it no
        // longer does, and an autoscaler that kept the last figure would go on polling slowly for good.
        this.rateLimit = remaining === null ? undefined : { remaining: Number(remaining), limit: Number(response.headers.get('x-ratelimit-limit') ?? 200) };
        if (remaining !== null && Number(remaining) < Number(response.headers.get('x-ratelimit-limit') ?? 200) / 10) {
          this.options.log(`Azure DevOps rate limit nearly used: ${remaining} left (${response.headers.get('x-ratelimit-resource') ?? 'unknown resource'}).`);
        }
        if (response.ok) return body === '' ? undefined : (JSON.parse(body) as T);
        const detail = (() => {
          try {
            return (JSON.parse(body) as { message?: string }).message ?? body;
          } catch {
            return body;
          }
        })();
        if (response.status === 401) {
          throw new AdoError(401, `Azure DevOps rejected the personal access token (401): it is wrong, expired or revoked.`);
        }
        if (response.status === 403) {
          throw new AdoError(403, `The personal access token lacks the scope ${scopes[scope]} (403 on ${method} ${path}): ${detail}`);
        }
        if (response.status === 404 && method === 'GET') return undefined;
        failure = `Azure DevOps answered ${response.status} to ${method} ${path}: ${detail}`;
        if (response.status !== 429 && response.status < 500) throw new AdoError(response.status, failure);
        if (response.status === 429) this.options.log(`Azure DevOps is throttling (429); waiting ${retryAfter > 0 ? retryAfter : 2 ** attempt} s as it asks.`);
        // A 429 with Retry-After waits through notBefore at the top of the loop.
        delay = response.status === 429 ? (retryAfter > 0 ? 0 : 1000 * 2 ** attempt) : Math.max(0, 1000 * 2 ** (attempt - 1) - Math.max(0, this.notBefore - this.now()));
      }
      const status = response?.status ?? 0;
      if (this.now() + delay >= giveUpAt) throw giveUp(status, failure, attempt);
      await this.wait(delay, status === 429);
    }
  }

  async findPool(name: string): Promise<{ id: number; name: string } | undefined> {
    const pools = await this.call<{ value: Array<{ id: number; name: string }> }>('GET', 'distributedtask/pools', { poolName: name, 'api-version': '7.1' }, 'read');
    return pools?.value.find((p) => p.name.toLowerCase() === name.toLowerCase());
  }

  async listAgents(poolId: number, name?: string, include: AgentListIncludes = { capabilities: true }): Promise<AgentInfo[]> {
    const agents = await this.call<{ value: WireAgent[] }>(
      'GET',
      `distributedtask/pools/${poolId}/agents`,
      { ...(name !== undefined && { agentName: name }), ...agentIncludes(include.capabilities), 'api-version': '7.1' },
      'read',
    );
    return (agents?.value ?? []).map(agentInfo);
  }

  async getAgent(poolId: number, agentId: number): Promise<AgentInfo | undefined> {
    const agent = await this.call<WireAgent>('GET', `distributedtask/pools/${poolId}/agents/${agentId}`, { ...agentIncludes(true), 'api-version': '7.1' }, 'read');
    return agent && agentInfo(agent);
  }

  async listUnfinishedJobs(poolId: number): Promise<JobRequest[]> {
    // completedRequestCount=0 returns only pending and running requests, with no 200-item ceiling ($top would add one).
    const jobs = await this.call<{ value: WireJobRequest[] }>(
      'GET',
      `distributedtask/pools/${poolId}/jobrequests`,
      { completedRequestCount: '0', 'api-version': '7.2-preview.1' },
      'read',
    );
    return (jobs?.value ?? [])
      .filter((j) => j.result == null)
      .map((j) => ({
        requestId: j.requestId,
        // Named as the hub names a job: the pipeline, then the run.
        ...(j.definition?.name || j.owner?.name ? { name: [j.definition?.name, j.owner?.name].filter(Boolean).join(' · ') } : {}),
        demands: (j.demands ?? []).map(demandText),
        reservedAgentName: j.reservedAgent?.name,
        ...(j.definition?.name && { pipeline: j.definition.name }),
        queueTime: j.queueTime,
        assignTime: j.assignTime,
        receiveTime: j.receiveTime,
      }));
  }

  /** The snapshots' collection in the extension's data storage; none when not running from a packaged extension. */
  private snapshotDocuments(): string | undefined {
    const extension = this.options.extension;
    return extension && `ExtensionManagement/InstalledExtensions/${extension.publisher}/${extension.id}/Data/Scopes/Default/Current/Collections/${snapshotCollection}/Documents`;
  }

  async publishSnapshot(snapshot: PoolSnapshot): Promise<void> {
    const path = this.snapshotDocuments();
    if (path === undefined) return; // Not running from a packaged extension: there is no data storage to write to.
    await this.call('PUT', path, { 'api-version': '7.1-preview.1' }, 'extensionData', { ...snapshot, __etag: -1 }, extensionManagementUrl(this.base));
  }

  async deleteSnapshot(id: string): Promise<void> {
    const path = this.snapshotDocuments();
    if (path === undefined) return;
    await this.call('DELETE', `${path}/${encodeURIComponent(id)}`, { 'api-version': '7.1-preview.1' }, 'extensionData', undefined, extensionManagementUrl(this.base));
  }

  async setAgentEnabled(poolId: number, agentId: number, enabled: boolean): Promise<void> {
    await this.call('PATCH', `distributedtask/pools/${poolId}/agents/${agentId}`, { 'api-version': '7.1' }, 'manage', { id: agentId, enabled });
  }

  async registerAgent(poolId: number, agent: AgentRegistration, agentId?: number): Promise<RegisteredAgent> {
    // The body config.sh sends: the new key only (no client id), one job at a time, the capabilities it scanned.
    const body = {
      ...(agentId !== undefined && { id: agentId }),
      name: agent.name,
      version: agent.version,
      osDescription: agent.osDescription,
      maxParallelism: 1,
      provisioningState: 'Provisioned',
      authorization: { publicKey: agent.publicKey },
      systemCapabilities: agent.systemCapabilities,
      ...(agent.enabled !== undefined && { enabled: agent.enabled }),
    };
    const path = `distributedtask/pools/${poolId}/agents${agentId === undefined ? '' : `/${agentId}`}`;
    const registered = await this.call<WireAgent & { authorization?: { clientId?: string; authorizationUrl?: string } }>(
      agentId === undefined ? 'POST' : 'PUT', path, { 'api-version': '7.1' }, 'manage', body);
    const clientId = registered?.authorization?.clientId;
    const authorizationUrl = registered?.authorization?.authorizationUrl;
    if (registered === undefined || !clientId || !authorizationUrl) {
      throw new AdoError(0, `Azure DevOps did not return the OAuth client of the agent ${agent.name} it registered.`);
    }
    const { capabilities, statusChangedOn } = agentInfo(registered);
    // A re-key keeps a person's user capabilities: kept only when the answer shows them too.
    const shown = registered.systemCapabilities !== undefined && (agentId === undefined || registered.userCapabilities !== undefined);
    const written = shown && statusChangedOn !== undefined ? { capabilities, statusChangedOn } : undefined;
    return { id: registered.id, name: registered.name, clientId, authorizationUrl, ...(written && { written }) };
  }

  deploymentType(): Promise<DeploymentType | undefined> {
    // The server's kind does not change: one read serves the client's life; a failed one is tried again next time.
    this.deployment ??= this.readDeploymentType().catch((error: unknown) => {
      this.deployment = undefined;
      throw error;
    });
    return this.deployment;
  }

  private async readDeploymentType(): Promise<DeploymentType | undefined> {
    // DeploymentFlags, by name (camelCase) or number: None 0, Hosted 1, OnPremises 2.
    const data = await this.call<{ deploymentType?: string | number | null }>('GET', 'connectionData', {}, 'read');
    const type = String(data?.deploymentType ?? 'none').toLowerCase();
    if (type === 'none' || type === '0') return undefined;
    if (type === 'hosted' || type === '1') return 'hosted';
    if (type === 'onpremises' || type === '2') return 'onPremises';
    throw new AdoError(0, `Azure DevOps says its deployment type is '${String(data?.deploymentType)}', neither hosted nor on-premises.`);
  }

  async deleteAgent(poolId: number, agentId: number): Promise<boolean> {
    try {
      await this.call('DELETE', `distributedtask/pools/${poolId}/agents/${agentId}`, { 'api-version': '7.1' }, 'manage');
      return true;
    } catch (error) {
      // Already deleted (by another run, or by hand): what this call was for.
      if (error instanceof AdoError && error.status === 404) return false;
      throw error;
    }
  }
}
