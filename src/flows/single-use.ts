// Keeps every registration of an autoscaled runner single-use (the rules and why: src/core/single-use.ts): retires the
// registrations whose pod's agent has ended, and disables busy ones for the rest of their job.
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Log } from '../core/ports/host.js';
import type { AgentInfo } from '../core/model.js';
import type { PublicKey } from '../core/registration.js';
import { placeholderRegistration, type SingleUsePlan } from '../core/single-use.js';
import { setAgentEnabled } from './agent-drain.js';

export interface SingleUseServices {
  ado: AdoClient;
  log: Log;
  /** A public key whose private half nobody keeps. */
  unheldKey(): PublicKey;
}

/** Carries out the plan; true when it changed any registration (the agents read before are stale then). */
export async function keepSingleUse(plan: SingleUsePlan, poolId: number, services: SingleUseServices): Promise<boolean> {
  for (const agent of plan.disable) {
    await setAgentEnabled(services.ado, services.log, poolId, agent, false);
    services.log.info(`Disabled ${agent.name} while its job runs: its registration takes no further job.`);
  }
  for (const agent of plan.retire) await retire(agent, poolId, services);
  return plan.disable.length + plan.retire.length > 0;
}

/**
 * Deletes a registration, which ends every session and token of its agent id: `gone` when it already was, `holdsJob`
 * when the service keeps it because it still holds a job (its agent died mid-job and the job's lock has not run out).
 */
export async function deleteRegistration(ado: AdoClient, poolId: number, agent: AgentInfo): Promise<'deleted' | 'gone' | 'holdsJob'> {
  try {
    return (await ado.deleteAgent(poolId, agent.id)) ? 'deleted' : 'gone';
  } catch (error) {
    if (error instanceof AdoError && error.status === 400) return 'holdsJob';
    throw error;
  }
}

/**
 * A new agent id under the same name. A registration the service will not delete yet is re-keyed instead (the old key
 * stops working, and the service abandons the job) and disabled.
 */
async function retire(agent: AgentInfo, poolId: number, { ado, log, unheldKey }: SingleUseServices): Promise<void> {
  const placeholder = placeholderRegistration(agent, unheldKey());
  const outcome = await deleteRegistration(ado, poolId, agent);
  if (outcome === 'holdsJob') {
    await ado.registerAgent(poolId, placeholder, agent.id);
    await setAgentEnabled(ado, log, poolId, agent, false);
    log.info(`Retired ${agent.name}'s registration: its pod's agent ended mid-job; re-keyed to a key nobody holds and disabled.`);
    return;
  }
  await ado.registerAgent(poolId, placeholder);
  log.info(`Retired ${agent.name}'s registration${outcome === 'gone' ? ' (already gone)' : ''}: its pod's agent ended; a disabled placeholder with a key nobody holds keeps the slot.`);
}
