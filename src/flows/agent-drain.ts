// Draining: a disabled agent gets no new job, so its pod can be removed without cutting one off.
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Log } from '../core/ports/host.js';
import type { AgentInfo } from '../core/model.js';

/**
 * Sets the agents' enabled flag. False, with a warning naming `purpose`, when the token may only read the pool
 * (draining needs Agent Pools: Read & manage).
 */
export async function setAgentsEnabled(ado: AdoClient, host: Log, poolId: number, agents: AgentInfo[], enabled: boolean, purpose: string): Promise<boolean> {
  try {
    for (const agent of agents) await ado.setAgentEnabled(poolId, agent.id, enabled);
    return true;
  } catch (error) {
    if (!(error instanceof AdoError) || error.status !== 403) throw error;
    host.warning(`${error.message}. Without it the task cannot drain ${purpose}: a job that starts on one just before it goes is cut off.`);
    return false;
  }
}

/**
 * Enables drained agents again, each on its own: one that fails is reported, the others are still enabled, and the
 * error that ended the drain (if any) is not hidden. A later DeployRunnerPool or ScaleRunnerPool run enables it.
 */
export async function enableAgain(ado: AdoClient, host: Log, poolId: number, agents: AgentInfo[]): Promise<void> {
  for (const agent of agents) {
    try {
      await ado.setAgentEnabled(poolId, agent.id, true);
    } catch (error) {
      host.warning(`Could not enable the agent ${agent.name} again: ${(error as Error).message}. The next DeployRunnerPool or ScaleRunnerPool run enables it.`);
    }
  }
}
