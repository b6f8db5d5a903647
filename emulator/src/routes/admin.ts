// Test controls under /_admin (no auth, not logged): pools, PATs, agent sessions, jobs, pipelines, the request log,
// faults, reset.
import { parseJsonBody, queryValue, reply, sendEmpty, VssError, type Ctx } from '../http.js';
import type { Route } from '../router.js';
import { jobSpecError } from '../containers.js';
import { formatServiceDemand } from '../demands.js';
import { agentJson } from '../serialize.js';
import type { Store } from '../store.js';
import type { Agent, Fault, Job, JobSpec, Pat, ServicePrincipal, TaskResult } from '../types.js';
import { TaskResult as taskResults } from '../wire.js';

const OPEN = { anonymous: true };

export interface AdminJob {
  requestId: number;
  jobId: string;
  name: string;
  poolId: number;
  demands: string[];
  state: 'queued' | 'assigned' | 'running' | 'finished';
  result?: string;
  agentId?: number;
  agentName?: string;
  queueTime: string;
  assignTime?: string;
  receiveTime?: string;
  finishTime?: string;
  /** The pipeline run that queued it (none for a job queued here). */
  owner?: { id: number; name: string };
  /** The project it runs in: its pipeline's (a job queued here has one of its own); the run's page is under it. */
  projectId: string;
  log: string[];
}

export function adminJob(job: Job): AdminJob {
  const state = job.result !== undefined ? 'finished' : job.receiveTime ? 'running' : job.assignTime ? 'assigned' : 'queued';
  return {
    requestId: job.requestId, jobId: job.jobId, name: job.jobName, poolId: job.poolId, demands: job.demands.map(formatServiceDemand), state, result: job.result,
    agentId: job.reservedAgentId, agentName: job.reservedAgentName, queueTime: job.queueTime, assignTime: job.assignTime,
    receiveTime: job.receiveTime, finishTime: job.finishTime, owner: job.owner, projectId: job.projectId, log: job.log,
  };
}

function job(store: Store, ctx: Ctx): Job {
  const found = store.jobs.get(Number(ctx.params.requestId));
  if (!found) throw new VssError(404, 'TaskAgentJobNotFoundException', `No job ${ctx.params.requestId}.`);
  return found;
}

function agent(store: Store, ctx: Ctx): Agent {
  const found = store.agents.get(Number(ctx.params.agentId));
  if (!found) throw new VssError(404, 'TaskAgentNotFoundException', `No agent ${ctx.params.agentId}.`);
  return found;
}

function poolId(store: Store, pool: string | number | undefined): number {
  const found = typeof pool === 'number' ? store.pools.get(pool) : store.poolByName(pool ?? '');
  if (!found) throw new VssError(404, 'TaskAgentPoolNotFoundException', `Agent pool ${String(pool)} could not be found.`);
  return found.id;
}

/** `seed` restores the configured PATs, service principals and pools after a reset. */
export function adminRoutes(seed: () => void): Route[] {
  const route = (method: string, path: string, handle: Route['handle']): Route => ({ method, pattern: `/_admin${path}`, access: OPEN, version: 'none', handle });
  return [
    route('POST', '/reset', (ctx, store) => {
      store.reset();
      seed();
      sendEmpty(ctx.res, 204);
    }),
    route('POST', '/pools', (ctx, store) => {
      const pool = store.createPool(parseJsonBody<{ name: string }>(ctx).name);
      reply(ctx, 200, { id: pool.id, name: pool.name });
    }),
    route('GET', '/pools/{pool}/agents', (ctx, store) => {
      const id = poolId(store, /^\d+$/.test(ctx.params.pool) ? Number(ctx.params.pool) : ctx.params.pool);
      reply(ctx, 200, store.poolAgents(id).map((agent) => agentJson(store, agent, { capabilities: true, assignedRequest: true })));
    }),
    route('POST', '/pats', (ctx, store) => {
      const pat = parseJsonBody<Partial<Pat> & { token: string }>(ctx);
      store.pats.set(pat.token, { token: pat.token, user: pat.user ?? 'tester@emulated.example', scopes: pat.scopes ?? ['app_token'] });
      sendEmpty(ctx.res, 204);
    }),
    // Revokes a PAT, as its owner does in the user settings: the next call with it is refused (401).
    route('POST', '/pats/revoke', (ctx, store) => {
      const { token } = parseJsonBody<{ token: string }>(ctx);
      if (typeof token !== 'string' || !store.pats.delete(token)) return reply(ctx, 404, { message: 'no such PAT' });
      sendEmpty(ctx.res, 204);
    }),
    // A Bearer token for a user with those scopes: the access token Azure DevOps hands an extension's page.
    route('POST', '/tokens', (ctx, store) => {
      // Typed as a caller should send it; checked, since a caller may not.
      const { token, user = 'tester@emulated.example', scopes = ['app_token'], expiresInSeconds = 3600 } = parseJsonBody<{ token: string; user?: string; scopes?: string[]; expiresInSeconds?: number }>(ctx);
      const malformed = typeof token !== 'string' || !/^\S+$/.test(token) ? 'token must be a string without spaces'
        : typeof user !== 'string' ? 'user must be a string'
        : !Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string') ? 'scopes must be a list of strings'
        : typeof expiresInSeconds !== 'number' || !(expiresInSeconds > 0) ? 'expiresInSeconds must be a positive number' : undefined;
      if (malformed) return reply(ctx, 400, { message: malformed });
      store.tokens.set(token, { principal: { kind: 'pat', user, scopes }, expires: Date.now() + expiresInSeconds * 1000 });
      sendEmpty(ctx.res, 204);
    }),
    route('POST', '/service-principals', (ctx, store) => {
      const sp = parseJsonBody<ServicePrincipal>(ctx);
      store.servicePrincipals.set(sp.clientId, sp);
      sendEmpty(ctx.res, 204);
    }),
    // The service's update message to one agent: { "targetVersion": "4.262.0" }. 409 when the agent has no session.
    route('POST', '/agents/{agentId}/refresh', (ctx, store) => {
      const { targetVersion } = parseJsonBody<{ targetVersion?: unknown }>(ctx);
      if (typeof targetVersion !== 'string' || !/^\d+(\.\d+)*$/.test(targetVersion)) {
        reply(ctx, 400, { message: 'targetVersion must be a dotted version such as 4.262.0' });
        return;
      }
      if (!store.sendAgentRefresh(Number(ctx.params.agentId), targetVersion)) {
        reply(ctx, 409, { message: `agent ${ctx.params.agentId} has no session` });
        return;
      }
      reply(ctx, 200, {});
    }),
    // The agent's listener opens its session (the agent is online) or ends it, without an agent process; 409 as the
    // service answers a second session, and when there is none to end.
    route('POST', '/agents/{agentId}/session', (ctx, store) => {
      const found = agent(store, ctx);
      reply(ctx, 200, { sessionId: store.createSession(found, found.name).sessionId });
    }),
    route('DELETE', '/agents/{agentId}/session', (ctx, store) => {
      const session = store.sessionOf(agent(store, ctx).id);
      if (!session) return reply(ctx, 409, { message: `agent ${ctx.params.agentId} has no session` });
      store.deleteSession(session.sessionId);
      sendEmpty(ctx.res, 204);
    }),
    route('POST', '/jobs', (ctx, store) => {
      const spec = parseJsonBody<JobSpec & { pool: string | number }>(ctx);
      const invalid = jobSpecError(spec);
      if (invalid) throw new VssError(400, 'ArgumentException', invalid, 'System');
      const queued = store.queueJob(poolId(store, spec.pool), spec);
      if ('rejected' in queued) return reply(ctx, 400, { rejected: queued.rejected });
      reply(ctx, 200, adminJob(queued));
    }),
    route('GET', '/jobs', (ctx, store) => {
      reply(ctx, 200, [...store.jobs.values()].map((found) => adminJob(found)));
    }),
    route('GET', '/jobs/{requestId}', (ctx, store) => reply(ctx, 200, adminJob(job(store, ctx)))),
    route('GET', '/jobs/{requestId}/log', (ctx, store) => {
      const text = job(store, ctx).log.map((line) => `${line}\n`).join('');
      ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      ctx.res.end(text);
    }),
    route('POST', '/jobs/{requestId}/cancel', (ctx, store) => {
      const found = job(store, ctx);
      store.cancelJob(found);
      reply(ctx, 200, adminJob(found));
    }),
    // The agent takes the job it was handed (it acknowledges the job's message): the job runs. 409 unless handed over.
    route('POST', '/jobs/{requestId}/start', (ctx, store) => {
      const found = job(store, ctx);
      const session = found.reservedAgentId === undefined ? undefined : store.sessionOf(found.reservedAgentId);
      const message = session && store.messages.get(session.sessionId)?.find((candidate) => candidate.requestId === found.requestId && candidate.messageType === 'PipelineAgentJobRequest');
      if (found.result !== undefined || !session || !message) return reply(ctx, 409, { message: `job ${found.requestId} is not waiting for its agent to take it` });
      store.deleteMessage(session.sessionId, message.messageId);
      reply(ctx, 200, adminJob(found));
    }),
    // The job ends with a result, as the agent or the service would end it: { "result": "failed" }. A result stands (409).
    route('POST', '/jobs/{requestId}/finish', (ctx, store) => {
      const result = parseJsonBody<{ result?: unknown } | null>(ctx)?.result;
      if (typeof result !== 'string' || !Object.hasOwn(taskResults, result)) {
        return reply(ctx, 400, { message: `result must be one of ${Object.keys(taskResults).join(', ')}` });
      }
      const found = job(store, ctx);
      if (found.result !== undefined) return reply(ctx, 409, { message: `job ${found.requestId} already ended: ${found.result}` });
      store.finishJob(found, result as TaskResult);
      reply(ctx, 200, adminJob(found));
    }),
    route('POST', '/pipelines', (ctx, store) => {
      const body = parseJsonBody<{ project: string; name: string; pool: string; demands?: string[]; script: string; env?: Record<string, string>; folder?: string }>(ctx);
      const project = store.ensureProject(body.project);
      const pipeline = {
        id: store.id('pipeline'), projectId: project.id, name: body.name, folder: body.folder ?? '\\', revision: 1, pool: body.pool,
        demands: body.demands ?? [], script: body.script, env: body.env ?? {},
      };
      store.pipelines.set(pipeline.id, pipeline);
      reply(ctx, 200, { id: pipeline.id, projectId: project.id, project: project.name });
    }),
    // What clients wrote to agents, and who: a test checks whose registrations a runner touched, even deleted ones.
    route('GET', '/agents/writes', (ctx, store) => {
      const since = Number(queryValue(ctx.query, 'since') ?? 0);
      reply(ctx, 200, store.agentWrites.filter((entry) => entry.seq > since));
    }),
    route('GET', '/requests', (ctx, store) => {
      const since = Number(queryValue(ctx.query, 'since') ?? 0);
      reply(ctx, 200, store.served.filter((entry) => entry.seq > since));
    }),
    route('DELETE', '/requests', (ctx, store) => {
      store.served.length = 0;
      sendEmpty(ctx.res, 204);
    }),
    route('POST', '/faults', (ctx, store) => {
      const body = parseJsonBody<Omit<Fault, 'id' | 'remaining'> & { count?: number }>(ctx);
      new RegExp(body.path);
      const fault: Fault = { ...body, method: body.method?.toUpperCase(), id: store.id('fault'), remaining: body.count ?? Number.POSITIVE_INFINITY };
      store.faults.push(fault);
      reply(ctx, 200, { id: fault.id });
    }),
    route('DELETE', '/faults', (ctx, store) => {
      store.clearFaults();
      sendEmpty(ctx.res, 204);
    }),
  ];
}
