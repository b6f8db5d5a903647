// distributedtask routes: pools, agents, user capabilities, job requests, sessions, messages, agent packages, plan logs.
import { randomUUID } from 'node:crypto';
import { flag, parseJsonBody, queryValue, reply, sendEmpty, VssError, type Ctx } from '../http.js';
import { parseServiceDemands, satisfiesAll } from '../demands.js';
import type { Route } from '../router.js';
import { agentJson, jobJson, poolJson } from '../serialize.js';
import type { Store } from '../store.js';
import type { Agent, Job, PublicKey } from '../types.js';
import { enumMember, TaskAgentPoolType, TaskResult } from '../wire.js';

const READ = { scopes: ['vso.agentpools'] };
const MANAGE = { scopes: ['vso.agentpools_manage'] };
const POOLS = '/{org}/_apis/distributedtask/pools';
/** The service caps `$top` on job requests. */
export const MAX_JOB_REQUESTS_TOP = 200;

/** The agent package the emulator serves (built by emulator/agent/package.ts). */
export interface AgentPackage {
  path: string;
  filename: string;
  version: string;
  sha256: string;
  platform: string;
}

function intParam(ctx: Ctx, name: string): number {
  const value = Number(ctx.params[name]);
  if (!Number.isInteger(value)) throw new VssError(400, 'ArgumentException', `The value '${ctx.params[name]}' is not valid for ${name}.`, 'System');
  return value;
}

/** The agent making an agent-token call may only touch its own pool (and its own jobs). */
function assertAgentPool(ctx: Ctx, poolId: number): void {
  if (ctx.principal?.kind === 'agent' && ctx.principal.poolId !== poolId) {
    throw new VssError(403, 'AccessDeniedException', `Access denied to pool ${poolId}.`);
  }
}

function jobOf(store: Store, poolId: number, requestId: number): Job {
  const job = store.jobs.get(requestId);
  if (!job || job.poolId !== poolId) {
    throw new VssError(404, 'TaskAgentJobNotFoundException', `No job request with ID ${requestId} was found in pool ${poolId}.`);
  }
  return job;
}

function session(store: Store, ctx: Ctx, poolId: number, sessionId: string | undefined) {
  const found = sessionId === undefined ? undefined : store.sessions.get(sessionId.toLowerCase());
  if (!found || found.poolId !== poolId) {
    throw new VssError(404, 'TaskAgentSessionExpiredException', `The session ${sessionId ?? ''} has expired or does not exist.`);
  }
  if (ctx.principal?.kind === 'agent' && ctx.principal.agentId !== found.agentId) throw new VssError(403, 'AccessDeniedException', 'Not your session.');
  if (!store.agents.has(found.agentId)) {
    throw new VssError(404, 'TaskAgentNotFoundException', `No agent found in pool ${poolId} with ID ${found.agentId}.`);
  }
  return found;
}

function includes(ctx: Ctx) {
  return {
    capabilities: flag(ctx.query, 'includeCapabilities'),
    assignedRequest: flag(ctx.query, 'includeAssignedRequest'),
    lastCompletedRequest: flag(ctx.query, 'includeLastCompletedRequest'),
  };
}

interface AgentBody {
  id?: number;
  name?: string;
  version?: string;
  osDescription?: string;
  enabled?: boolean;
  authorization?: { publicKey?: PublicKey };
  systemCapabilities?: Record<string, string>;
}

function requirePublicKey(body: AgentBody): PublicKey {
  const key = body.authorization?.publicKey;
  if (!key?.exponent || !key.modulus) {
    throw new VssError(400, 'ArgumentException', 'The agent authorization public key must be specified.', 'System');
  }
  return { exponent: key.exponent, modulus: key.modulus };
}

/** The job-request list with the service's filters: agentId(s), completedRequestCount, and $top (which wins and drops matchedAgents). */
export function listJobRequests(store: Store, poolId: number, query: URLSearchParams): Record<string, unknown>[] {
  const agentIds = (queryValue(query, 'agentIds') ?? queryValue(query, 'agentId'))?.split(',').map(Number);
  let jobs = [...store.jobs.values()].filter((job) => job.poolId === poolId)
    .filter((job) => !agentIds || (job.reservedAgentId !== undefined && agentIds.includes(job.reservedAgentId)))
    .sort((a, b) => b.requestId - a.requestId);
  const topText = queryValue(query, '$top');
  const completedText = queryValue(query, 'completedRequestCount');
  if (topText !== undefined) {
    const top = Math.min(Math.max(Number(topText) || 0, 0), MAX_JOB_REQUESTS_TOP);
    return jobs.slice(0, top).map((job) => jobJson(store, job, { matchedAgents: false }));
  }
  if (completedText !== undefined) {
    const completed = jobs.filter((job) => job.result !== undefined).slice(0, Math.max(Number(completedText) || 0, 0));
    jobs = jobs.filter((job) => job.result === undefined || completed.includes(job));
  }
  return jobs.map((job) => jobJson(store, job, { matchedAgents: true }));
}

export const distributedTaskRoutes: Route[] = [
  {
    method: 'GET', pattern: POOLS, access: { ...READ, agent: true }, version: '7.1',
    handle(ctx, store) {
      const name = queryValue(ctx.query, 'poolName');
      const ids = queryValue(ctx.query, 'poolIds')?.split(',').map(Number);
      const typeText = queryValue(ctx.query, 'poolType');
      // The service binds an enum from its name or its number (the Node client sends poolType=1).
      const type = typeText === undefined ? undefined : enumMember(TaskAgentPoolType, typeText);
      if (typeText !== undefined && type === undefined) throw new VssError(400, 'ArgumentException', `The value '${typeText}' is not valid for poolType.`, 'System');
      // Every emulated pool is an automation pool.
      const pools = [...store.pools.values()]
        .filter((pool) => name === undefined || pool.name.toLowerCase() === name.toLowerCase())
        .filter((pool) => !ids || ids.includes(pool.id))
        .filter(() => type === undefined || type === 'automation');
      reply(ctx, 200, pools.map((pool) => poolJson(store, pool)));
    },
  },
  {
    method: 'POST', pattern: POOLS, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const body = parseJsonBody<{ name?: string }>(ctx);
      if (!body.name) throw new VssError(400, 'ArgumentException', 'The pool name must be specified.', 'System');
      reply(ctx, 200, poolJson(store, store.createPool(body.name)));
    },
  },
  {
    method: 'GET', pattern: `${POOLS}/{poolId}`, access: { ...READ, agent: true }, version: '7.1',
    handle(ctx, store) {
      reply(ctx, 200, poolJson(store, store.pool(intParam(ctx, 'poolId'))));
    },
  },
  {
    method: 'DELETE', pattern: `${POOLS}/{poolId}`, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const pool = store.pool(intParam(ctx, 'poolId'));
      for (const agent of store.poolAgents(pool.id)) {
        store.deleteAgent(agent);
        store.noteAgentWrite(agent, 'deleted', ctx.principal);
      }
      store.pools.delete(pool.id);
      sendEmpty(ctx.res, 204);
    },
  },
  {
    method: 'GET', pattern: `${POOLS}/{poolId}/agents`, access: { ...READ, agent: true }, version: '7.1',
    handle(ctx, store) {
      const pool = store.pool(intParam(ctx, 'poolId'));
      const name = queryValue(ctx.query, 'agentName');
      const demands = parseServiceDemands(queryValue(ctx.query, 'demands')?.split(',').map((demand) => demand.trim()).filter((demand) => demand !== '') ?? []);
      if ('invalid' in demands) throw new VssError(400, 'ArgumentException', `The demand '${demands.invalid}' is not valid.`, 'System');
      const agents = store.poolAgents(pool.id)
        .filter((agent) => name === undefined || agent.name.toLowerCase() === name.toLowerCase())
        .filter((agent) => satisfiesAll(store.capabilities(agent), demands.demands))
        .sort((a, b) => a.id - b.id);
      reply(ctx, 200, agents.map((agent) => agentJson(store, agent, includes(ctx))));
    },
  },
  {
    method: 'POST', pattern: `${POOLS}/{poolId}/agents`, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const pool = store.pool(intParam(ctx, 'poolId'));
      const body = parseJsonBody<AgentBody>(ctx);
      if (!body.name) throw new VssError(400, 'ArgumentException', 'The agent name must be specified.', 'System');
      if (store.poolAgents(pool.id).some((agent) => agent.name.toLowerCase() === body.name!.toLowerCase())) {
        throw new VssError(409, 'TaskAgentExistsException', `Pool ${pool.name} already contains an agent with name ${body.name}.`);
      }
      const now = new Date().toISOString();
      const agent: Agent = {
        id: store.id('agent'), poolId: pool.id, name: body.name, version: body.version ?? '', osDescription: body.osDescription ?? '',
        enabled: body.enabled ?? true, createdOn: now, statusChangedOn: now, systemCapabilities: body.systemCapabilities ?? {},
        userCapabilities: {}, publicKey: requirePublicKey(body), clientId: randomUUID(),
      };
      store.agents.set(agent.id, agent);
      store.noteAgentWrite(agent, 'registered', ctx.principal, { systemCapabilities: { ...agent.systemCapabilities }, enabled: agent.enabled });
      store.schedule();
      reply(ctx, 200, agentJson(store, agent, { capabilities: true, authorization: true }));
    },
  },
  {
    method: 'GET', pattern: `${POOLS}/{poolId}/agents/{agentId}`, access: { ...READ, agent: true }, version: '7.1',
    handle(ctx, store) {
      const agent = store.agent(intParam(ctx, 'poolId'), intParam(ctx, 'agentId'));
      if (flag(ctx.query, 'isCheckPermissions')) return reply(ctx, 200, true);
      reply(ctx, 200, agentJson(store, agent, includes(ctx)));
    },
  },
  {
    method: 'PUT', pattern: `${POOLS}/{poolId}/agents/{agentId}`, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const agent = store.agent(intParam(ctx, 'poolId'), intParam(ctx, 'agentId'));
      const body = parseJsonBody<AgentBody>(ctx);
      // Replacing hands the registration to a new key: the old process's session and tokens stop working.
      agent.publicKey = requirePublicKey(body);
      agent.clientId = randomUUID();
      store.revokeAgentTokens(agent.id);
      const existing = store.sessionOf(agent.id);
      if (existing) store.deleteSession(existing.sessionId);
      if (agent.assignedRequestId !== undefined) {
        const job = store.jobs.get(agent.assignedRequestId);
        if (job) store.finishJob(job, 'abandoned');
      }
      agent.name = body.name ?? agent.name;
      agent.version = body.version ?? agent.version;
      agent.osDescription = body.osDescription ?? agent.osDescription;
      agent.systemCapabilities = body.systemCapabilities ?? agent.systemCapabilities;
      store.noteAgentWrite(agent, 'replaced', ctx.principal, { systemCapabilities: { ...agent.systemCapabilities } });
      store.schedule();
      reply(ctx, 200, agentJson(store, agent, { capabilities: true, authorization: true }));
    },
  },
  {
    method: 'PATCH', pattern: `${POOLS}/{poolId}/agents/{agentId}`, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const agent = store.agent(intParam(ctx, 'poolId'), intParam(ctx, 'agentId'));
      const body = parseJsonBody<AgentBody>(ctx);
      if (typeof body.enabled === 'boolean') agent.enabled = body.enabled;
      store.noteAgentWrite(agent, 'updated', ctx.principal, { enabled: agent.enabled });
      store.schedule();
      reply(ctx, 200, agentJson(store, agent));
    },
  },
  {
    method: 'DELETE', pattern: `${POOLS}/{poolId}/agents/{agentId}`, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const agent = store.agent(intParam(ctx, 'poolId'), intParam(ctx, 'agentId'));
      // An agent holding a job request is not removed, even when it went offline mid-job (its lock has not run out yet).
      if (agent.assignedRequestId !== undefined) {
        throw new VssError(400, 'TaskAgentJobStillRunningException', `Agent "${agent.name}" is running a job for pool "${store.pool(agent.poolId).name}"`);
      }
      store.deleteAgent(agent);
      store.noteAgentWrite(agent, 'deleted', ctx.principal);
      sendEmpty(ctx.res, 204);
    },
  },
  {
    method: 'PUT', pattern: `${POOLS}/{poolId}/agents/{agentId}/usercapabilities`, access: MANAGE, version: '7.1',
    handle(ctx, store) {
      const agent = store.agent(intParam(ctx, 'poolId'), intParam(ctx, 'agentId'));
      const body = parseJsonBody<Record<string, unknown>>(ctx);
      agent.userCapabilities = Object.fromEntries(Object.entries(body).map(([key, value]) => [key, String(value ?? '')]));
      store.noteAgentWrite(agent, 'userCapabilities', ctx.principal);
      store.schedule();
      reply(ctx, 200, agentJson(store, agent, { capabilities: true }));
    },
  },
  {
    method: 'GET', pattern: `${POOLS}/{poolId}/jobrequests`, access: READ, version: undefined,
    handle(ctx, store) {
      const pool = store.pool(intParam(ctx, 'poolId'));
      reply(ctx, 200, listJobRequests(store, pool.id, ctx.query));
    },
  },
  {
    method: 'GET', pattern: `${POOLS}/{poolId}/jobrequests/{requestId}`, access: { ...READ, agent: true }, version: undefined,
    handle(ctx, store) {
      const poolId = intParam(ctx, 'poolId');
      assertAgentPool(ctx, poolId);
      reply(ctx, 200, jobJson(store, jobOf(store, poolId, intParam(ctx, 'requestId')), { matchedAgents: true }));
    },
  },
  {
    // Lock renewal ({requestId}) and finish ({requestId, finishTime, result}) share this route, as in the agent's client.
    method: 'PATCH', pattern: `${POOLS}/{poolId}/jobrequests/{requestId}`, access: { ...MANAGE, agent: true }, version: undefined,
    handle(ctx, store) {
      const poolId = intParam(ctx, 'poolId');
      assertAgentPool(ctx, poolId);
      const job = jobOf(store, poolId, intParam(ctx, 'requestId'));
      if (ctx.principal?.kind === 'agent' && job.reservedAgentId !== ctx.principal.agentId) {
        throw new VssError(404, 'TaskAgentJobNotFoundException', `No job request with ID ${job.requestId} is assigned to this agent.`);
      }
      const body = parseJsonBody<{ result?: string | number | null; finishTime?: string }>(ctx);
      const result = body.result == null ? undefined : enumMember(TaskResult, body.result);
      if (body.result != null && result === undefined) throw new VssError(400, 'ArgumentException', `The value '${body.result}' is not valid for result.`, 'System');
      if (job.result !== undefined && result === undefined) {
        throw new VssError(404, 'TaskAgentJobTokenExpiredException', `The job request ${job.requestId} has already finished.`);
      }
      if (result !== undefined || body.finishTime !== undefined) store.finishJob(job, result ?? 'succeeded');
      else {
        job.receiveTime ??= new Date().toISOString();
        job.lockedUntil = new Date(Date.now() + store.options.lockDurationMs).toISOString();
      }
      reply(ctx, 200, jobJson(store, job, { matchedAgents: false }));
    },
  },
  {
    method: 'POST', pattern: `${POOLS}/{poolId}/sessions`, access: { ...MANAGE, agent: true }, version: undefined,
    handle(ctx, store) {
      const poolId = intParam(ctx, 'poolId');
      store.pool(poolId);
      assertAgentPool(ctx, poolId);
      const body = parseJsonBody<{ ownerName?: string; agent?: { id?: number }; systemCapabilities?: Record<string, string> }>(ctx);
      const agent = store.agent(poolId, Number(body.agent?.id));
      if (ctx.principal?.kind === 'agent' && ctx.principal.agentId !== agent.id) throw new VssError(403, 'AccessDeniedException', 'Not your agent.');
      const created = store.createSession(agent, body.ownerName ?? '', body.systemCapabilities);
      reply(ctx, 201, {
        sessionId: created.sessionId, ownerName: created.ownerName,
        agent: { id: agent.id, name: agent.name, version: agent.version, osDescription: agent.osDescription, enabled: agent.enabled, status: 'online', provisioningState: 'Provisioned' },
      });
    },
  },
  {
    method: 'DELETE', pattern: `${POOLS}/{poolId}/sessions/{sessionId}`, access: { ...MANAGE, agent: true }, version: undefined,
    handle(ctx, store) {
      const poolId = intParam(ctx, 'poolId');
      store.deleteSession(session(store, ctx, poolId, ctx.params.sessionId).sessionId);
      sendEmpty(ctx.res, 204);
    },
  },
  {
    method: 'GET', pattern: `${POOLS}/{poolId}/messages`, access: { ...MANAGE, agent: true }, version: undefined,
    handle(ctx, store) {
      const poolId = intParam(ctx, 'poolId');
      const found = session(store, ctx, poolId, queryValue(ctx.query, 'sessionId'));
      store.poll(found, Number(queryValue(ctx.query, 'lastMessageId') ?? 0) || 0, ctx.res);
    },
  },
  {
    method: 'DELETE', pattern: `${POOLS}/{poolId}/messages/{messageId}`, access: { ...MANAGE, agent: true }, version: undefined,
    handle(ctx, store) {
      const poolId = intParam(ctx, 'poolId');
      const found = session(store, ctx, poolId, queryValue(ctx.query, 'sessionId'));
      store.deleteMessage(found.sessionId, intParam(ctx, 'messageId'));
      sendEmpty(ctx.res, 204);
    },
  },
];

/** Agent package discovery (`packages/agent?platform=…&$top=1`) and the anonymous download it points at. */
export function packageRoutes(agentPackage: () => AgentPackage | undefined): Route[] {
  const metadata = (ctx: Ctx, pkg: AgentPackage) => {
    const [major, minor, patch] = pkg.version.split('.').map(Number);
    const downloadUrl = `${ctx.origin}/_download/agent/${pkg.version}/${pkg.filename}`;
    return { type: 'agent', platform: pkg.platform, createdOn: new Date(0).toISOString(), version: { major, minor, patch }, downloadUrl, hashValue: pkg.sha256, infoUrl: `${ctx.origin}/_download/agent`, filename: pkg.filename };
  };
  const answer = (ctx: Ctx, platform: string | undefined) => {
    const pkg = agentPackage();
    const packages = pkg && (platform === undefined || platform.toLowerCase() === pkg.platform) ? [metadata(ctx, pkg)] : [];
    reply(ctx, 200, packages);
  };
  return [
    { method: 'GET', pattern: '/{org}/_apis/distributedtask/packages/{packageType}', access: READ, version: undefined,
      handle: (ctx) => answer(ctx, queryValue(ctx.query, 'platform')) },
    { method: 'GET', pattern: '/{org}/_apis/distributedtask/packages/{packageType}/{platform}', access: READ, version: undefined,
      handle: (ctx) => answer(ctx, ctx.params.platform) },
  ];
}

/** The worker's plan-log routes, approximated: create a log, then append its text. */
export const planLogRoutes: Route[] = [
  {
    method: 'POST', pattern: '/{org}/{project}/_apis/distributedtask/hubs/{hub}/plans/{planId}/logs', access: { job: true }, version: undefined,
    handle(ctx, store) {
      const job = jobForPlan(ctx, store);
      reply(ctx, 200, { id: 1, path: 'logs\\1', lineCount: job.log.length, createdOn: job.queueTime, location: `${ctx.orgUrl}/${job.projectId}/_apis/distributedtask/hubs/build/plans/${job.planId}/logs/1` });
    },
  },
  {
    method: 'POST', pattern: '/{org}/{project}/_apis/distributedtask/hubs/{hub}/plans/{planId}/logs/{logId}', access: { job: true }, version: undefined,
    handle(ctx, store) {
      const job = jobForPlan(ctx, store);
      const text = ctx.body.toString('utf8');
      job.log.push(...text.split('\n').filter((line, index, lines) => index < lines.length - 1 || line !== ''));
      reply(ctx, 200, { id: 1, path: 'logs\\1', lineCount: job.log.length });
    },
  },
];

function jobForPlan(ctx: Ctx, store: Store): Job {
  const principal = ctx.principal;
  const job = principal?.kind === 'job' ? store.jobs.get(principal.requestId) : undefined;
  if (!job || job.planId !== ctx.params.planId.toLowerCase()) throw new VssError(404, 'TaskOrchestrationPlanNotFoundException', `Plan ${ctx.params.planId} not found.`);
  return job;
}
