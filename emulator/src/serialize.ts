// The emulator's objects as the service writes them on the wire (camelCase, optional members left out); dates and enums
// are Date and WireEnum values, written in the client's format by sendWire.
import { containerMessage } from './containers.js';
import { formatServiceDemand } from './demands.js';
import type { Store } from './store.js';
import type { Agent, Job, Pool } from './types.js';
import { TaskAgentPoolOptions, TaskAgentPoolType, TaskAgentStatus, TaskResult, wireDate, wireEnum } from './wire.js';

const EMULATOR_USER = { displayName: 'Emulated Administrator', id: '6f1f7f37-86f1-4a64-8c5c-4c1e0a000001', uniqueName: 'admin@emulated.example', descriptor: 'aad.emulated-admin' };

export function poolJson(store: Store, pool: Pool): Record<string, unknown> {
  return {
    createdOn: wireDate(pool.createdOn), autoProvision: false, autoUpdate: true, autoSize: true, targetSize: null, agentCloudId: null,
    createdBy: EMULATOR_USER, owner: EMULATOR_USER,
    id: pool.id, scope: pool.scope, name: pool.name, isHosted: false, poolType: wireEnum(TaskAgentPoolType, 'automation'),
    size: store.poolAgents(pool.id).length, isLegacy: false, options: wireEnum(TaskAgentPoolOptions, 'none'),
  };
}

export function agentReference(store: Store, agent: Agent): Record<string, unknown> {
  const href = `${store.orgUrl}/_apis/distributedtask/pools/${agent.poolId}/agents/${agent.id}`;
  return {
    _links: { self: { href }, web: { href: `${store.orgUrl}/_settings/agentpools?poolId=${agent.poolId}&agentId=${agent.id}` } },
    id: agent.id, name: agent.name, version: agent.version, osDescription: agent.osDescription, enabled: agent.enabled,
    status: wireEnum(TaskAgentStatus, store.isOnline(agent) ? 'online' : 'offline'), provisioningState: 'Provisioned', accessPoint: 'CodexAccessMapping',
  };
}

export interface AgentIncludes {
  capabilities?: boolean;
  assignedRequest?: boolean;
  lastCompletedRequest?: boolean;
  authorization?: boolean;
}

export function agentJson(store: Store, agent: Agent, include: AgentIncludes = {}): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...(include.capabilities ? { systemCapabilities: agent.systemCapabilities, userCapabilities: agent.userCapabilities } : {}),
    maxParallelism: 1, createdOn: wireDate(agent.createdOn), statusChangedOn: wireDate(agent.statusChangedOn),
    authorization: include.authorization
      ? { authorizationUrl: store.authorizationUrl, clientId: agent.clientId, publicKey: agent.publicKey }
      : { clientId: agent.clientId, publicKey: agent.publicKey },
    ...agentReference(store, agent),
  };
  const assigned = agent.assignedRequestId === undefined ? undefined : store.jobs.get(agent.assignedRequestId);
  if (include.assignedRequest && assigned) json.assignedRequest = jobJson(store, assigned, { matchedAgents: false });
  const last = agent.lastCompletedRequestId === undefined ? undefined : store.jobs.get(agent.lastCompletedRequestId);
  if (include.lastCompletedRequest && last) json.lastCompletedRequest = jobJson(store, last, { matchedAgents: false });
  return json;
}

/** A TaskAgentJobRequest; demands as plain strings (what the live service returns, unlike the spec's objects). */
export function jobJson(store: Store, job: Job, options: { matchedAgents: boolean }): Record<string, unknown> {
  const reserved = job.reservedAgentId === undefined ? undefined : store.agents.get(job.reservedAgentId);
  const owner = job.owner ?? { id: job.requestId, name: job.jobName };
  const definition = job.definition ?? { id: 1, name: 'emulated' };
  const links = (id: number) => ({ _links: { web: { href: `${store.orgUrl}/${job.projectId}/_build/results?buildId=${id}` }, self: { href: `${store.orgUrl}/${job.projectId}/_apis/build/Builds/${id}` } } });
  const matched = store.matchedAgents(job);
  return {
    requestId: job.requestId,
    queueTime: wireDate(job.queueTime),
    ...(job.assignTime ? { assignTime: wireDate(job.assignTime) } : {}),
    ...(job.receiveTime ? { receiveTime: wireDate(job.receiveTime) } : {}),
    ...(job.lockedUntil ? { lockedUntil: wireDate(job.lockedUntil) } : {}),
    ...(job.finishTime ? { finishTime: wireDate(job.finishTime) } : {}),
    ...(job.result ? { result: wireEnum(TaskResult, job.result) } : {}),
    serviceOwner: '00025394-6065-48ca-87d9-7f5672854ef7',
    hostId: '2e1ba3c4-5b0c-4d9e-8e0b-000000000001',
    scopeId: job.projectId,
    planType: 'Build',
    planId: job.planId,
    jobId: job.jobId,
    demands: job.demands.map(formatServiceDemand),
    ...(reserved ? { reservedAgent: agentReference(store, reserved) } : {}),
    ...(options.matchedAgents ? { matchedAgents: matched.map((agent) => agentReference(store, agent)) } : {}),
    definition: { ...links(definition.id), id: definition.id, name: definition.name },
    owner: { ...links(owner.id), id: owner.id, name: owner.name },
    data: { ParallelismTag: 'Private', IsScheduledKey: 'False' },
    poolId: job.poolId,
    orchestrationId: `${job.planId}.${job.jobName.replace(/\W/g, '_').toLowerCase()}.__default`,
    matchesAllAgentsInPool: matched.length === store.poolAgents(job.poolId).length,
    priority: 0,
    jobName: job.jobName,
  };
}

/** Job variable names the agent turns into environment variables (upper case, '.' → '_') map back 1:1 here. */
export function jobMessage(job: Job, orgUrl: string): Record<string, unknown> {
  const containers = containerMessage(job);
  const variables: Record<string, { value: string; isSecret: boolean }> = {
    'system.jobId': { value: job.jobId, isSecret: false },
    'system.teamProjectId': { value: job.projectId, isSecret: false },
    'build.buildId': { value: String(job.owner?.id ?? job.requestId), isSecret: false },
  };
  for (const [name, value] of Object.entries(job.env)) variables[name] = { value, isSecret: false };
  return {
    messageType: 'PipelineAgentJobRequest',
    plan: { scopeIdentifier: job.projectId, planType: 'Build', version: 7, planId: job.planId, planGroup: 'Build:1', artifactUri: '', artifactLocation: null },
    timeline: { id: job.timelineId, changeId: 1, location: null },
    jobId: job.jobId,
    jobDisplayName: job.jobName,
    jobName: job.jobName.replace(/\W/g, '_'),
    ...(containers.jobContainer ? { jobContainer: containers.jobContainer } : {}),
    jobSidecarContainers: containers.jobSidecarContainers,
    requestId: job.requestId,
    lockedUntil: job.lockedUntil ?? '0001-01-01T00:00:00',
    resources: {
      endpoints: [{
        id: '00000000-0000-0000-0000-000000000000', name: 'SystemVssConnection', type: 'ExternalTfs', url: `${orgUrl}/`,
        authorization: { scheme: 'OAuth', parameters: { AccessToken: job.accessToken } }, isShared: false, isReady: true,
        data: { ServerId: '2e1ba3c4-5b0c-4d9e-8e0b-000000000001', ServerName: 'emulated-org' },
      }, ...containers.endpoints],
      repositories: [],
      containers: containers.containers,
    },
    workspace: {},
    variables,
    steps: job.steps.map((step) => ({
      type: 'task', id: step.id, name: 'CmdLine', displayName: step.displayName ?? 'Script',
      reference: { id: 'd9bafed4-0b18-4f58-968d-86655b4d2ce9', name: 'CmdLine', version: '2.250.1' },
      inputs: { script: step.script },
      ...(step.target === undefined ? {} : { target: { target: step.target } }),
    })),
  };
}
