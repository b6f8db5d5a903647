// The emulator's state and its behaviour: sessions, long polls, job queueing, assignment, locks, cancellation, expiry.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { newAccessToken, principalName } from './auth.js';
import { Capabilities, parseServiceDemands, satisfiesAll } from './demands.js';
import { sendEmpty, sendJson, VssError } from './http.js';
import { jobMessage } from './serialize.js';
import { pickAgent, queueRejection, type AgentView } from './scheduling.js';
import { RateLimiter, type RateClock } from './rate-limit.js';
import type {
  Agent, AgentWrite, Fault, Job, JobSpec, Message, Pat, PendingPoll, Pipeline, Pool, Principal, Project, Run, ServedRequest, ServicePrincipal,
  Session, TaskResult,
} from './types.js';

export interface StoreOptions {
  /** How long a message poll is held open before an empty answer (the service: about 50 s). */
  pollTimeoutMs: number;
  /** How far a job lock reaches after delivery or renewal (the service: about 5 minutes). */
  lockDurationMs: number;
  /** A session not polled for this long expires and its agent goes offline. */
  sessionExpiryMs: number;
}

export interface ExtensionDocument {
  id: string;
  __etag: number;
  [key: string]: unknown;
}

/**
 * When an agent's status changes (it goes online or offline): now, and always later than its last change, as the
 * service's own timestamps are: a client that kept what it read with the last date sees that it changed since.
 */
function statusChange(agent: Agent): string {
  return new Date(Math.max(Date.now(), Date.parse(agent.statusChangedOn) + 1)).toISOString();
}

export class Store {
  readonly pools = new Map<number, Pool>();
  readonly agents = new Map<number, Agent>();
  readonly sessions = new Map<string, Session>();
  readonly messages = new Map<string, Message[]>();
  readonly polls = new Set<PendingPoll>();
  readonly jobs = new Map<number, Job>();
  /** Bearer tokens → who they stand for and until when (ms epoch). */
  readonly tokens = new Map<string, { principal: Principal; expires: number }>();
  readonly pats = new Map<string, Pat>();
  readonly servicePrincipals = new Map<string, ServicePrincipal>();
  readonly projects = new Map<string, Project>();
  readonly pipelines = new Map<number, Pipeline>();
  readonly runs = new Map<number, Run>();
  readonly collections = new Map<string, Map<string, ExtensionDocument>>();
  readonly faults: Fault[] = [];
  /** Answers a latency fault holds back: clearing the faults lets them go at once. */
  private readonly held = new Set<() => void>();
  readonly served: ServedRequest[] = [];
  /** Every write clients made to agents, in order (GET /_admin/agents/writes): it outlives the agents it names. */
  readonly agentWrites: AgentWrite[] = [];
  /** The organisation URL clients reach us at (set once the server listens); job messages carry it. */
  orgUrl = '';
  /** The agents' token endpoint, their `authorizationUrl` and the audience of their client assertions (set with orgUrl). */
  authorizationUrl = '';
  /** The consumption limit per identity, when the emulator enforces it. */
  rateLimiter?: RateLimiter;
  /** Each agent's parsed capabilities: every job listing matches every job against every agent. */
  private readonly capabilityCache = new WeakMap<Agent, { system: Agent['systemCapabilities']; user: Agent['userCapabilities']; capabilities: Capabilities }>();
  /** Sessions by agent id: agent lists ask for every agent's session. */
  private readonly sessionByAgent = new Map<number, Session>();
  private nextId = { pool: 1, agent: 1, request: 1, message: 1, pipeline: 1, run: 1, fault: 1, served: 1, agentWrite: 1 };

  constructor(
    readonly options: StoreOptions,
    /** The time the consumption limit runs on. */
    readonly clock: RateClock = { now: Date.now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
  ) {}

  /** Forgets everything (tests call it between cases); pending polls are closed first. */
  reset(): void {
    for (const poll of this.polls) this.answerPoll(poll, undefined);
    for (const map of [this.pools, this.agents, this.sessions, this.messages, this.jobs, this.tokens, this.pats, this.servicePrincipals,
      this.projects, this.pipelines, this.runs, this.collections, this.sessionByAgent]) map.clear();
    this.clearFaults();
    this.served.length = 0;
    this.agentWrites.length = 0;
    if (this.rateLimiter) this.rateLimiter = new RateLimiter(this.clock);
    this.nextId = { pool: 1, agent: 1, request: 1, message: 1, pipeline: 1, run: 1, fault: 1, served: 1, agentWrite: 1 };
  }

  /** Ends every fault, and lets the answers a latency fault holds go now. */
  clearFaults(): void {
    this.faults.length = 0;
    for (const release of this.held) release();
    this.held.clear();
  }

  /** Waits `ms`, or until the faults are cleared: a test holds an answer back for as long as it needs. */
  holdAnswer(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.held.delete(release);
        resolve();
      };
      const timer = setTimeout(release, ms);
      this.held.add(release);
    });
  }

  id(kind: keyof Store['nextId']): number {
    return this.nextId[kind]++;
  }

  createPool(name: string): Pool {
    if ([...this.pools.values()].some((pool) => pool.name.toLowerCase() === name.toLowerCase())) {
      throw new VssError(409, 'TaskAgentPoolExistsException', `Agent pool ${name} already exists.`);
    }
    const pool = { id: this.id('pool'), name, scope: randomUUID(), createdOn: new Date().toISOString() };
    this.pools.set(pool.id, pool);
    return pool;
  }

  pool(poolId: number): Pool {
    const pool = this.pools.get(poolId);
    if (!pool) throw new VssError(404, 'TaskAgentPoolNotFoundException', `Agent pool ${poolId} could not be found.`);
    return pool;
  }

  poolByName(name: string): Pool | undefined {
    return [...this.pools.values()].find((pool) => pool.name.toLowerCase() === name.toLowerCase());
  }

  agent(poolId: number, agentId: number): Agent {
    const agent = this.agents.get(agentId);
    if (!agent || agent.poolId !== poolId) {
      throw new VssError(404, 'TaskAgentNotFoundException', `No agent found in pool ${poolId} with ID ${agentId}.`);
    }
    return agent;
  }

  poolAgents(poolId: number): Agent[] {
    return [...this.agents.values()].filter((agent) => agent.poolId === poolId);
  }

  sessionOf(agentId: number): Session | undefined {
    return this.sessionByAgent.get(agentId);
  }

  isOnline(agent: Agent): boolean {
    return this.sessionOf(agent.id) !== undefined;
  }

  /** One dictionary of system and user capabilities, names compared ignoring case; user capabilities win (guess). */
  capabilities(agent: Agent): Capabilities {
    // Kept while the agent keeps the same capability objects: a registration or an update replaces them, and nothing
    // may change them in place (a test that did would match demands against the old ones).
    const known = this.capabilityCache.get(agent);
    if (known && known.system === agent.systemCapabilities && known.user === agent.userCapabilities) return known.capabilities;
    const capabilities = new Capabilities(agent.systemCapabilities, agent.userCapabilities);
    this.capabilityCache.set(agent, { system: agent.systemCapabilities, user: agent.userCapabilities, capabilities });
    return capabilities;
  }

  private views(poolId: number): (AgentView & { agent: Agent })[] {
    return this.poolAgents(poolId).map((agent) => ({
      id: agent.id, enabled: agent.enabled, online: this.isOnline(agent), busy: agent.assignedRequestId !== undefined,
      capabilities: this.capabilities(agent), agent,
    }));
  }

  /** Agents whose capabilities satisfy a job's demands (the request's matchedAgents). */
  matchedAgents(job: Job): Agent[] {
    // Capabilities only: online and busy state do not matter here, and are costly to compute for every agent of every job.
    return this.poolAgents(job.poolId).filter((agent) => satisfiesAll(this.capabilities(agent), job.demands));
  }

  /** Queues a job like the service: rejected at once when no registered agent could ever satisfy it, else it waits or runs. */
  queueJob(poolId: number, spec: JobSpec, extra: Pick<Job, 'owner' | 'definition'> & { projectId?: string } = {}): Job | { rejected: string } {
    const pool = this.pool(poolId);
    const parsed = parseServiceDemands(spec.demands ?? []);
    if ('invalid' in parsed) return { rejected: `The demand "${parsed.invalid}" is not valid: write a capability name, optionally followed by -equals or -gtVersion and a value.` };
    const demands = parsed.demands;
    const rejected = queueRejection(pool.name, this.views(poolId), demands);
    if (rejected) return { rejected };
    const requestId = this.id('request');
    const timelineId = randomUUID();
    const job: Job = {
      requestId, jobId: randomUUID(), planId: randomUUID(), timelineId, jobName: spec.name ?? `Job ${requestId}`, poolId,
      demands, steps: (spec.steps ?? [{ script: spec.script ?? '' }]).map((step, index) => ({ ...step, id: index === 0 ? timelineId : randomUUID() })),
      containers: Object.fromEntries(Object.entries(spec.containers ?? {}).map(([alias, container]) => [alias, { ...container, endpointId: container.registry ? randomUUID() : undefined }])),
      container: spec.container, services: spec.services ?? {}, env: spec.env ?? {}, cancelTimeoutSeconds: spec.cancelTimeoutSeconds ?? 60,
      queueTime: new Date().toISOString(), accessToken: newAccessToken(), log: [], cancelRequested: false,
      owner: extra.owner, definition: extra.definition, projectId: extra.projectId ?? randomUUID(),
    };
    this.jobs.set(requestId, job);
    this.tokens.set(job.accessToken, { principal: { kind: 'job', requestId }, expires: Number.MAX_SAFE_INTEGER });
    this.schedule();
    return job;
  }

  /** Hands every waiting job, oldest first, to an online, enabled, idle, matching agent. */
  schedule(): void {
    // Each pool's agents are looked at once a round, and pools with no online, enabled, idle agent are skipped whole:
    // thousands of waiting jobs stay cheap.
    const pools = new Map<number, (AgentView & { agent: Agent })[]>();
    const full = new Set<number>();
    for (const job of [...this.jobs.values()].sort((a, b) => a.requestId - b.requestId)) {
      if (job.result !== undefined || job.reservedAgentId !== undefined || full.has(job.poolId)) continue;
      const views = pools.get(job.poolId) ?? this.views(job.poolId);
      pools.set(job.poolId, views);
      if (!views.some((view) => view.online && view.enabled && !view.busy)) {
        full.add(job.poolId);
        continue;
      }
      const chosen = pickAgent(views, job.demands);
      if (!chosen) continue;
      const session = this.sessionOf(chosen.id);
      if (!session) continue;
      job.assignTime = new Date().toISOString();
      job.reservedAgentId = chosen.id;
      job.reservedAgentName = chosen.agent.name;
      chosen.agent.assignedRequestId = job.requestId;
      chosen.busy = true;
      this.enqueue(session.sessionId, { messageId: this.id('message'), messageType: 'PipelineAgentJobRequest', body: '', requestId: job.requestId });
    }
  }

  /**
   * The service's update message (AgentRefreshMessage: agentId, targetVersion, timeout), as it sends one to an agent
   * older than the pool's newest package. False when the agent has no session to send it to.
   */
  sendAgentRefresh(agentId: number, targetVersion: string): boolean {
    const session = this.sessionOf(agentId);
    if (!session) return false;
    this.enqueue(session.sessionId, {
      messageId: this.id('message'), messageType: 'AgentRefresh',
      body: JSON.stringify({ agentId, targetVersion, timeout: '00:30:00' }),
    });
    return true;
  }

  private enqueue(sessionId: string, message: Message): void {
    const queue = this.messages.get(sessionId) ?? [];
    queue.push(message);
    this.messages.set(sessionId, queue);
    for (const poll of this.polls) if (poll.sessionId === sessionId) this.answerPoll(poll, message);
  }

  /** A long poll: the oldest undeleted message after `lastMessageId`, now or when one arrives, else empty after the timeout. */
  poll(session: Session, lastMessageId: number, response: ServerResponse): void {
    session.lastPoll = Date.now();
    const ready = (this.messages.get(session.sessionId) ?? []).find((message) => message.messageId > lastMessageId);
    const pending: PendingPoll = {
      sessionId: session.sessionId, response, lastMessageId,
      timer: setTimeout(() => this.answerPoll(pending, undefined), this.options.pollTimeoutMs),
    };
    if (ready) {
      this.answerPoll(pending, ready);
      return;
    }
    this.polls.add(pending);
    response.on('close', () => {
      clearTimeout(pending.timer);
      this.polls.delete(pending);
    });
  }

  private answerPoll(poll: PendingPoll, message: Message | undefined): void {
    clearTimeout(poll.timer);
    this.polls.delete(poll);
    if (poll.response.writableEnded || poll.response.destroyed) return;
    const session = this.sessions.get(poll.sessionId);
    if (session) session.lastPoll = Date.now();
    if (!message) {
      sendEmpty(poll.response, 202);
      return;
    }
    const job = message.requestId === undefined ? undefined : this.jobs.get(message.requestId);
    // Delivered is not yet received: an agent may leave a job message undeleted (a --once agent after its job),
    // and then the job goes back to the queue when its session ends. Receiving is the agent's ack (deleteMessage).
    if (job && message.messageType === 'PipelineAgentJobRequest') {
      job.lockedUntil = new Date(Date.now() + this.options.lockDurationMs).toISOString();
    }
    const body = message.messageType === 'PipelineAgentJobRequest' && job ? JSON.stringify(jobMessage(job, this.orgUrl)) : message.body;
    sendJson(poll.response, 200, { messageId: message.messageId, messageType: message.messageType, body });
  }

  deleteMessage(sessionId: string, messageId: number): void {
    const queue = this.messages.get(sessionId) ?? [];
    const acked = queue.find((message) => message.messageId === messageId);
    const job = acked?.messageType === 'PipelineAgentJobRequest' && acked.requestId !== undefined ? this.jobs.get(acked.requestId) : undefined;
    if (job) job.receiveTime ??= new Date().toISOString();
    this.messages.set(sessionId, queue.filter((message) => message.messageId !== messageId));
  }

  /** The capabilities an agent reports with its session are its own from then on; a session refused changes nothing. */
  createSession(agent: Agent, ownerName: string, systemCapabilities?: Record<string, string>): Session {
    const existing = this.sessionOf(agent.id);
    if (existing) {
      throw new VssError(409, 'TaskAgentSessionConflictException', `A session for agent ${agent.name} already exists.`);
    }
    if (systemCapabilities) agent.systemCapabilities = systemCapabilities;
    const session = { sessionId: randomUUID(), agentId: agent.id, poolId: agent.poolId, ownerName, lastPoll: Date.now() };
    this.sessions.set(session.sessionId, session);
    this.sessionByAgent.set(agent.id, session);
    this.messages.set(session.sessionId, []);
    agent.statusChangedOn = statusChange(agent);
    this.schedule();
    return session;
  }

  /** Ends a session: pending polls close, and a job handed over but never picked up goes back to the queue. */
  deleteSession(sessionId: string): void {
    const session = this.sessions.get(sessionId);
    if (!session) return;
    this.sessions.delete(sessionId);
    this.sessionByAgent.delete(session.agentId);
    this.messages.delete(sessionId);
    for (const poll of this.polls) if (poll.sessionId === sessionId) this.answerPoll(poll, undefined);
    const agent = this.agents.get(session.agentId);
    if (agent) {
      agent.statusChangedOn = statusChange(agent);
      const job = agent.assignedRequestId === undefined ? undefined : this.jobs.get(agent.assignedRequestId);
      if (job && job.receiveTime === undefined) {
        job.assignTime = undefined;
        job.lockedUntil = undefined;
        job.reservedAgentId = undefined;
        job.reservedAgentName = undefined;
        agent.assignedRequestId = undefined;
      }
    }
    this.schedule();
  }

  /** Removes an agent (unregistration or replacement of its key revokes its tokens). */
  revokeAgentTokens(agentId: number): void {
    for (const [token, entry] of this.tokens) {
      if (entry.principal.kind === 'agent' && entry.principal.agentId === agentId) this.tokens.delete(token);
    }
  }

  /** Notes a write `by` made to `agent`, once made; `detail` is what it set that the history keeps. */
  noteAgentWrite(agent: Agent, action: AgentWrite['action'], by: Principal | undefined, detail: Pick<AgentWrite, 'systemCapabilities' | 'enabled'> = {}): void {
    this.agentWrites.push({
      seq: this.id('agentWrite'), time: new Date().toISOString(), action, agentId: agent.id, poolId: agent.poolId, name: agent.name,
      principal: principalName(by), ...detail,
    });
  }

  deleteAgent(agent: Agent): void {
    const session = this.sessionOf(agent.id);
    if (session) this.deleteSession(session.sessionId);
    if (agent.assignedRequestId !== undefined) {
      const job = this.jobs.get(agent.assignedRequestId);
      if (job) this.finishJob(job, 'abandoned');
    }
    this.revokeAgentTokens(agent.id);
    this.agents.delete(agent.id);
  }

  finishJob(job: Job, result: TaskResult): void {
    if (job.result !== undefined) return;
    job.result = result;
    job.finishTime = new Date().toISOString();
    job.lockedUntil = undefined;
    const agent = job.reservedAgentId === undefined ? undefined : this.agents.get(job.reservedAgentId);
    if (agent && agent.assignedRequestId === job.requestId) {
      agent.assignedRequestId = undefined;
      agent.lastCompletedRequestId = job.requestId;
    }
    for (const [sessionId, queue] of this.messages) {
      this.messages.set(sessionId, queue.filter((message) => message.requestId !== job.requestId || message.messageType !== 'PipelineAgentJobRequest'));
    }
    const token = this.tokens.get(job.accessToken);
    if (token) token.expires = Date.now() + 10 * 60_000;
    const run = [...this.runs.values()].find((candidate) => candidate.requestId === job.requestId);
    if (run) run.finishedDate = job.finishTime;
    this.schedule();
  }

  /** Cancels like the service: a waiting or undelivered job ends at once; a running one gets a JobCancellation message. */
  cancelJob(job: Job): void {
    if (job.result !== undefined) return;
    job.cancelRequested = true;
    const session = job.reservedAgentId === undefined ? undefined : this.sessionOf(job.reservedAgentId);
    if (job.receiveTime === undefined || !session) {
      this.finishJob(job, 'canceled');
      return;
    }
    const timeout = new Date(job.cancelTimeoutSeconds * 1000).toISOString().slice(11, 19);
    this.enqueue(session.sessionId, {
      messageId: this.id('message'), messageType: 'JobCancellation', requestId: job.requestId,
      body: JSON.stringify({ jobId: job.jobId, timeout }),
    });
  }

  /** Expires sessions that stopped polling and jobs whose lock ran out (abandoned), as the service's background jobs do. */
  sweep(now = Date.now()): void {
    for (const session of [...this.sessions.values()]) {
      const polling = [...this.polls].some((poll) => poll.sessionId === session.sessionId);
      if (!polling && now - session.lastPoll > this.options.sessionExpiryMs) this.deleteSession(session.sessionId);
    }
    for (const job of this.jobs.values()) {
      if (job.result === undefined && job.lockedUntil !== undefined && Date.parse(job.lockedUntil) < now) this.finishJob(job, 'abandoned');
    }
    for (const [token, entry] of this.tokens) if (entry.expires < now) this.tokens.delete(token);
  }

  projectByNameOrId(nameOrId: string): Project | undefined {
    const wanted = nameOrId.toLowerCase();
    return [...this.projects.values()].find((project) => project.id === wanted || project.name.toLowerCase() === wanted);
  }

  ensureProject(name: string): Project {
    const existing = this.projectByNameOrId(name);
    if (existing) return existing;
    const project = { id: randomUUID(), name };
    this.projects.set(project.id, project);
    return project;
  }
}
