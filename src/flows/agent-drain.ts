// Draining: a disabled agent gets no new job, so its pod can be removed without cutting one off.
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Log } from '../core/ports/host.js';
import type { AgentInfo, PoolSnapshot } from '../core/model.js';

/**
 * Sets one agent's enabled flag. An agent whose registration went meanwhile (404: its pod ended and another run
 * removed it) takes no job either way: reported, not a failure. False then.
 */
export async function setAgentEnabled(ado: AdoClient, host: Log, poolId: number, agent: AgentInfo, enabled: boolean): Promise<boolean> {
  try {
    await ado.setAgentEnabled(poolId, agent.id, enabled);
    return true;
  } catch (error) {
    if (!(error instanceof AdoError) || error.status !== 404) throw error;
    host.info(`The agent ${agent.name} is no longer registered; there is nothing to ${enabled ? 'enable' : 'drain'}.`);
    return false;
  }
}

/**
 * Sets the agents' enabled flag; the refusal when Azure DevOps refuses it (403: the token may only read the pool, or
 * lost a permission). It is this call's answer only: the next call tries again.
 */
export async function trySetAgentsEnabled(ado: AdoClient, host: Log, poolId: number, agents: AgentInfo[], enabled: boolean): Promise<AdoError | undefined> {
  try {
    for (const agent of agents) await setAgentEnabled(ado, host, poolId, agent, enabled);
    return undefined;
  } catch (error) {
    if (!(error instanceof AdoError) || error.status !== 403) throw error;
    return error;
  }
}

/** What a task warns when it may not drain `purpose` (draining needs Agent Pools: Read & manage). */
export function drainRefused(refusal: AdoError, purpose: string): string {
  return `${refusal.message}. Without it the task cannot drain ${purpose}: a job that starts on one just before it goes is cut off.`;
}

/** Sets the agents' enabled flag. False, with a warning naming `purpose`, when Azure DevOps refuses it (403). */
export async function setAgentsEnabled(ado: AdoClient, host: Log, poolId: number, agents: AgentInfo[], enabled: boolean, purpose: string): Promise<boolean> {
  const refusal = await trySetAgentsEnabled(ado, host, poolId, agents, enabled);
  if (refusal !== undefined) host.warning(drainRefused(refusal, purpose));
  return refusal === undefined;
}

/**
 * Enables drained agents again, each on its own: one that fails is reported, the others are still enabled, and the
 * error that ended the drain (if any) is not hidden. A later DeployRunnerPool or ScaleRunnerPool run enables it.
 */
export async function enableAgain(ado: AdoClient, host: Log, poolId: number, agents: AgentInfo[]): Promise<void> {
  for (const agent of agents) {
    try {
      await setAgentEnabled(ado, host, poolId, agent, true);
    } catch (error) {
      host.warning(`Could not enable the agent ${agent.name} again: ${(error as Error).message}. The next DeployRunnerPool or ScaleRunnerPool run enables it.`);
    }
  }
}

/** Publishes the hub's snapshot. A 404 (the extension is not installed in this organization) costs the hub, not the run. */
export async function publishForHub(ado: AdoClient, host: Log, snapshot: PoolSnapshot): Promise<void> {
  try {
    await ado.publishSnapshot(snapshot);
  } catch (error) {
    if (!(error instanceof AdoError) || error.status !== 404) throw error;
    host.warning(`The Runner pools hub cannot show this pool: ${error.message}. Is the extension installed in this organization?`);
  }
}
