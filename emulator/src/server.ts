// The emulator's HTTP server: routing, authentication, api-version checks, fault injection and the served-request log.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forbiddenScope, patHasScope, patPrincipal, principalName, readCredential, unauthorized, type Credential } from './auth.js';
import { allowOrigin, answerPreflight, isPreflight, withholdOrigin } from './cors.js';
import { checkApiVersion, readBody, requestedApiVersion, sendJson, VssError, type Ctx } from './http.js';
import { newInstanceId, type DeploymentType } from './locations.js';
import { Router, type Route } from './router.js';
import { adminRoutes } from './routes/admin.js';
import { agentTokenRoute, coreRoutes } from './routes/core.js';
import { distributedTaskRoutes, packageRoutes, planLogRoutes, type AgentPackage } from './routes/distributedtask.js';
import { extensionDataRoutes } from './routes/extension-data.js';
import { pipelineRoutes } from './routes/pipelines.js';
import { RateLimiter, identityOf, tstuCost, type RateClock } from './rate-limit.js';
import { Store } from './store.js';
import type { Fault, Pat, Principal, ServedRequest, ServicePrincipal } from './types.js';
import { wireFormat } from './wire.js';

export interface EmulatorOptions {
  /** 0 (default) = a free port. */
  port?: number;
  /** Listen address; loopback by default. */
  host?: string;
  organization?: string;
  /**
   * What connectionData says the organisation is (default hosted, as Azure DevOps Services). Hosted, agents get their
   * tokens from a token host of its own (another port on the same address), not from the organisation's host.
   */
  deploymentType?: DeploymentType;
  pollTimeoutMs?: number;
  lockDurationMs?: number;
  sessionExpiryMs?: number;
  /** PATs accepted from the start; default: one full-access PAT `emulator-pat`. */
  pats?: Pat[];
  servicePrincipals?: ServicePrincipal[];
  /** Pools created at start (and again after an admin reset). */
  pools?: string[];
  agentPackage?: AgentPackage;
  /**
   * Enforce the service's global consumption limit per identity (`src/rate-limit.ts`: 200 TSTUs in a sliding five
   * minutes, X-RateLimit-* headers, delays, then 429). Off by default: most tests make calls at a pace no one would.
   */
  rateLimit?: boolean;
  /** The time the rate limit runs on (and its delays wait on); the real clock by default. */
  clock?: RateClock;
}

export interface RunningEmulator {
  /** Server origin, e.g. http://127.0.0.1:41234 (admin API lives under /_admin). */
  url: string;
  /** Organisation URL to give the agent and the tasks, e.g. http://127.0.0.1:41234/emulated-org. */
  orgUrl: string;
  /** The agents' token endpoint (their authorizationUrl): on the token host when hosted, else under the organisation URL. */
  authorizationUrl: string;
  port: number;
  store: Store;
  stop(): Promise<void>;
}

export const DEFAULT_PAT: Pat = { token: 'emulator-pat', user: 'tester@emulated.example', scopes: ['app_token'] };

function authKind(credential: Credential): ServedRequest['auth'] {
  return credential.kind;
}

function authenticate(store: Store, credential: Credential, orgUrl: string): Principal | undefined {
  if (credential.kind === 'none') return undefined;
  if (credential.kind === 'basic') {
    const pat = store.pats.get(credential.password);
    if (!pat) throw unauthorized(orgUrl, credential.user);
    return patPrincipal(pat);
  }
  if (credential.kind === 'bearer') {
    const entry = store.tokens.get(credential.token);
    if (!entry || entry.expires < Date.now()) throw unauthorized(orgUrl);
    return entry.principal;
  }
  throw unauthorized(orgUrl);
}

function authorize(route: Route, principal: Principal | undefined, orgUrl: string): void {
  const access = route.access;
  if (access.anonymous) return;
  if (!principal) throw unauthorized(orgUrl);
  const scopes = access.scopes;
  const allowed = principal.kind === 'pat' ? scopes !== undefined && (scopes.length === 0 || patHasScope(principal, scopes))
    : principal.kind === 'sp' ? scopes !== undefined
    : principal.kind === 'agent' ? access.agent === true
    : access.job === true;
  if (allowed) return;
  if (principal.kind === 'pat' && scopes) throw forbiddenScope(scopes);
  throw new VssError(403, 'AccessDeniedException', 'Access denied: this credential cannot use this resource.');
}

/** The service's answer to a blocked request (TF400733). */
function blocked(): VssError {
  return new VssError(429, 'RequestBlockedException',
    'TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource \'ATCPU\' in namespace \'User\'.',
    'Microsoft.TeamFoundation.Framework.Server');
}

function findFault(store: Store, method: string, path: string): Fault | undefined {
  const fault = store.faults.find((candidate) => candidate.remaining > 0 && (!candidate.method || candidate.method === method) && new RegExp(candidate.path, 'i').test(path));
  if (fault) fault.remaining--;
  return fault;
}

/** Applies a fault; returns true when it answered (or dropped) the request itself. */
async function applyFault(store: Store, fault: Fault, res: ServerResponse, req: IncomingMessage): Promise<boolean> {
  if (fault.kind === 'latency') {
    await store.holdAnswer(fault.delayMs ?? 1000);
    return false;
  }
  if (fault.kind === 'drop') {
    req.socket.destroy();
    return true;
  }
  if (fault.kind === 'rateLimit') {
    const retryAfter = fault.retryAfterSeconds ?? 10;
    sendJson(res, 429, blocked().toBody(), {
      'Retry-After': String(retryAfter), 'X-RateLimit-Resource': 'ATCPU', 'X-RateLimit-Delay': '0', 'X-RateLimit-Limit': '200',
      'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(Math.ceil(store.clock.now() / 1000) + retryAfter),
    });
    return true;
  }
  const status = fault.status ?? 503;
  sendJson(res, status, new VssError(status, 'ServiceUnavailableException', `Injected fault: HTTP ${status}.`, 'Microsoft.VisualStudio.Services.WebApi').toBody());
  return true;
}

/**
 * Charges the call to its identity under the consumption limit; false when the service blocks it (answered 429 here).
 * A delayed call waits, then goes on with the headers saying so.
 */
async function admitted(store: Store, limiter: RateLimiter, principal: Principal, method: string, path: string, params: Record<string, string>, query: URLSearchParams, res: ServerResponse): Promise<boolean> {
  // What a pool's list answers would hold: the model charges lists by their rows (a read by name, by the one it returns).
  const poolId = Number(params.poolId);
  const rows = { agents: 0, jobRequests: 0 };
  if (Number.isInteger(poolId) && method === 'GET') {
    const name = query.get('agentName')?.toLowerCase();
    rows.agents = store.poolAgents(poolId).filter((agent) => name === undefined || agent.name.toLowerCase() === name).length;
    for (const job of store.jobs.values()) if (job.poolId === poolId && job.result === undefined) rows.jobRequests++;
  }
  // The call by its route: ids and names folded, so that the figures can say what spent the budget.
  const route = path.replace(/^.*?\/_apis\//, '').replace(/\/[^/]*\d[^/]*(?=\/|$)/g, '/{id}') + (query.has('agentName') ? '?agentName' : '');
  const verdict = limiter.admit(identityOf(principal), tstuCost(method, path, rows), `${method} ${route}`);
  if (verdict.kind === 'block') {
    sendJson(res, 429, blocked().toBody(), verdict.headers);
    return false;
  }
  if (verdict.delayMs > 0) await limiter.clock.sleep(verdict.delayMs);
  for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
  return true;
}

/** Calls `onBytes` with the size of every piece of the response body written (what a client pays to download). */
function countBodyBytes(res: ServerResponse, onBytes: (bytes: number) => void): void {
  const size = (chunk: unknown, encoding: unknown) =>
    typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
      : chunk instanceof Uint8Array ? chunk.byteLength : 0;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    onBytes(size(chunk, rest[0]));
    return write(chunk, ...rest);
  }) as ServerResponse['write'];
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (typeof chunk !== 'function') onBytes(size(chunk, rest[0]));
    return end(chunk, ...rest);
  }) as ServerResponse['end'];
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startEmulatorServer(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const organization = options.organization ?? 'emulated-org';
  const deploymentType = options.deploymentType ?? 'hosted';
  const store = new Store({
    pollTimeoutMs: options.pollTimeoutMs ?? 50_000,
    lockDurationMs: options.lockDurationMs ?? 5 * 60_000,
    sessionExpiryMs: options.sessionExpiryMs ?? 2 * 60_000,
  }, options.clock);
  if (options.rateLimit) store.rateLimiter = new RateLimiter(store.clock);
  const seed = () => {
    for (const pat of options.pats ?? [DEFAULT_PAT]) store.pats.set(pat.token, pat);
    for (const sp of options.servicePrincipals ?? []) store.servicePrincipals.set(sp.clientId, sp);
    for (const pool of options.pools ?? []) store.createPool(pool);
  };
  seed();
  const router = new Router();
  const instanceId = newInstanceId();
  const agentPackage = () => options.agentPackage;
  router.add(...adminRoutes(seed), ...coreRoutes(instanceId, deploymentType, agentPackage), ...distributedTaskRoutes, ...packageRoutes(agentPackage),
    ...planLogRoutes, ...extensionDataRoutes, ...pipelineRoutes);

  // Azure DevOps Services issues agent tokens on a host of its own (vstoken.dev.azure.com), one path per organisation.
  const tokenRouter = new Router();
  const tokenPath = `/_apis/oauth2/token/${instanceId}`;
  tokenRouter.add(agentTokenRoute(tokenPath));

  const server = createServer((req, res) => {
    void handle(req, res, router);
  });
  const tokenServer = deploymentType === 'hosted' ? createServer((req, res) => void handle(req, res, tokenRouter)) : undefined;

  async function handle(req: IncomingMessage, res: ServerResponse, routes: Router): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    const admin = path.toLowerCase().startsWith('/_admin/');
    const credential = readCredential(req);
    let principal: Principal | undefined;
    if (!admin) {
      const entry: ServedRequest = {
        seq: store.id('served'), time: new Date().toISOString(), method, path, query: Object.fromEntries(url.searchParams), status: 0,
        auth: authKind(credential), bytes: 0,
      };
      store.served.push(entry);
      countBodyBytes(res, (bytes) => (entry.bytes += bytes));
      res.on('close', () => {
        entry.status = res.headersSent ? res.statusCode : 0;
        entry.principal = principalName(principal);
      });
    }
    const origin = `http://${req.headers.host ?? 'localhost'}`;
    try {
      const body = await readBody(req);
      // Before faults and authentication: a preflight carries no credentials, and an injected fault stands for the API's answer.
      if (!admin && isPreflight(req)) return answerPreflight(req, res);
      if (!admin) allowOrigin(req, res);
      if (!admin) {
        const fault = findFault(store, method, path);
        if (fault && (await applyFault(store, fault, res, req))) return;
      }
      const found = routes.match(method, path);
      if (!('route' in found)) {
        if (found.methodMismatch) throw new VssError(405, 'HttpMethodNotAllowedException', `The requested resource does not support http method '${method}'.`, 'System.Web.Http');
        throw new VssError(404, 'NotFoundException', `The resource ${path} does not exist.`, 'Microsoft.VisualStudio.Services.WebApi');
      }
      const { route, params } = found;
      if (params.org !== undefined && params.org.toLowerCase() !== organization.toLowerCase()) {
        throw new VssError(404, 'OrganizationNotFoundException', `The organization ${params.org} does not exist.`, 'Microsoft.VisualStudio.Services.WebApi');
      }
      const orgUrl = `${origin}/${organization}`;
      principal = authenticate(store, credential, store.orgUrl);
      authorize(route, principal, orgUrl);
      if (route.version !== 'none') checkApiVersion(method, requestedApiVersion(req, url.searchParams), route.version);
      if (principal && store.rateLimiter && !(await admitted(store, store.rateLimiter, principal, method, path, params, url.searchParams, res))) return;
      const ctx: Ctx = { req, res, method, path, query: url.searchParams, params, principal, origin, orgUrl, body, format: wireFormat(req) };
      await route.handle(ctx, store);
    } catch (error) {
      if (res.headersSent) return;
      if (error instanceof VssError) {
        if (error.status === 401) withholdOrigin(res);
        sendJson(res, error.status, error.toBody(), error.headers);
        return;
      }
      sendJson(res, 500, new VssError(500, 'Exception', error instanceof Error ? error.message : String(error), 'System').toBody());
    }
  }

  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 0, host);
  const visibleHost = host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${visibleHost}:${port}`;
  store.orgUrl = `${url}/${organization}`;
  store.authorizationUrl = tokenServer ? `http://${visibleHost}:${await listen(tokenServer, 0, host)}${tokenPath}` : `${store.orgUrl}/_apis/oauth2/token`;
  const sweeper = setInterval(() => store.sweep(), 500);
  sweeper.unref();
  return {
    url,
    orgUrl: store.orgUrl,
    authorizationUrl: store.authorizationUrl,
    port,
    store,
    async stop() {
      clearInterval(sweeper);
      store.reset();
      await Promise.all([server, tokenServer].filter((listening) => listening !== undefined).map((listening) => new Promise<void>((resolve) => {
        listening.closeAllConnections();
        listening.close(() => resolve());
      })));
    },
  };
}
