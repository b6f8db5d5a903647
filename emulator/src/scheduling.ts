// Pure job-assignment rules: which agents could ever run a job, and which one gets it now.
import { formatServiceDemand, satisfiesAll, type Capabilities, type ServiceDemand } from './demands.js';

export interface AgentView {
  id: number;
  enabled: boolean;
  online: boolean;
  busy: boolean;
  capabilities: Capabilities;
}

/** Agents (online or not, enabled or not) whose capabilities satisfy the demands: the job's "matched agents". */
export function matchingAgents<T extends AgentView>(agents: T[], demands: ServiceDemand[]): T[] {
  return agents.filter((agent) => satisfiesAll(agent.capabilities, demands));
}

/** The agent that gets the job now: online, enabled, idle and matching; lowest id first. Undefined = the job waits. */
export function pickAgent<T extends AgentView>(agents: T[], demands: ServiceDemand[]): T | undefined {
  return matchingAgents(agents, demands)
    .filter((agent) => agent.online && agent.enabled && !agent.busy)
    .sort((a, b) => a.id - b.id)[0];
}

/** The service's refusal when no registered agent in the pool could ever satisfy the demands; undefined = accept. */
export function queueRejection(poolName: string, agents: AgentView[], demands: ServiceDemand[]): string | undefined {
  if (agents.length === 0) return `No agents were found in pool ${poolName}. Configure an agent for the pool and try again.`;
  if (matchingAgents(agents, demands).length > 0) return undefined;
  return `No agent found in pool ${poolName} which satisfies the specified demands: ${demands.map(formatServiceDemand).join(', ')}`;
}
