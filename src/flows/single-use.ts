// Keeps every registration of an autoscaled runner single-use (the rules and why: src/core/single-use.ts): retires the
// registrations that ran their job or whose pod's agent has ended, ending first the pod that still holds such a key,
// and disables busy ones for the rest of their job.
import { AdoError, type AdoClient } from '../core/ports/ado.js';
import type { Log } from '../core/ports/host.js';
import { KubeApiError, type KubeClient } from '../core/ports/kube.js';
import type { AgentInfo } from '../core/model.js';
import type { PublicKey } from '../core/registration.js';
import type { RunnerIdentity } from '../core/runner-identity.js';
import { endGraceSeconds, placeholderRegistration, type PodRef, type SingleUsePlan, type TrustedCapabilities } from '../core/single-use.js';
import { setAgentEnabled } from './agent-drain.js';

export interface SingleUseServices {
  ado: AdoClient;
  kube: KubeClient;
  /** The runner's namespace: where its pods are. */
  namespace: string;
  /** The runner's identity, which every placeholder carries. */
  self: RunnerIdentity;
  /** The capabilities a placeholder may carry (src/core/single-use.ts). */
  trusted: TrustedCapabilities;
  log: Log;
  /** A public key whose private half nobody keeps. */
  unheldKey: () => PublicKey;
  /** Before each registration's writes: throws once they may no longer be made (the autoscaler's lease was lost). */
  beforeWrite?: () => Promise<void>;
}

/** Carries out the plan; true when it changed any registration (the agents read before are stale then). */
export async function keepSingleUse(plan: SingleUsePlan, poolId: number, services: SingleUseServices): Promise<boolean> {
  for (const agent of plan.disable) {
    await services.beforeWrite?.();
    await setAgentEnabled(services.ado, services.log, poolId, agent, false);
    services.log.info(`Disabled ${agent.name} while its job runs: its registration takes no further job.`);
  }
  for (const { agent, pod } of plan.retire) {
    await services.beforeWrite?.();
    if (pod !== undefined) await endPod(pod, agent, services);
    await retire(agent, poolId, services);
  }
  return plan.disable.length + plan.retire.length > 0;
}

/**
 * Deletes the pod that holds a retired registration's key, that incarnation only. A refusal (the Role lost `delete`,
 * the API server away) is told and the retirement goes on: the key must stop working whatever happens to the pod.
 */
async function endPod(pod: PodRef, agent: AgentInfo, { kube, namespace, log }: SingleUseServices): Promise<void> {
  try {
    if (await kube.delete({ apiVersion: 'v1', kind: 'Pod', namespace, name: pod.name }, pod.uid, endGraceSeconds)) {
      log.info(`Ended the pod ${pod.name}, which holds the key of ${agent.name}'s registration being retired.`);
    }
  } catch (error) {
    if (!(error instanceof KubeApiError)) throw error;
    log.warning(`Could not end the pod ${pod.name}, which holds the key of ${agent.name}'s registration: ${error.message}. The registration is retired all the same.`);
  }
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
async function retire(agent: AgentInfo, poolId: number, { ado, log, unheldKey, self, trusted }: SingleUseServices): Promise<void> {
  const placeholder = placeholderRegistration(agent, unheldKey(), self, trusted);
  const outcome = await deleteRegistration(ado, poolId, agent);
  if (outcome === 'holdsJob') {
    await ado.registerAgent(poolId, placeholder, agent.id);
    await setAgentEnabled(ado, log, poolId, agent, false);
    log.info(`Retired ${agent.name}'s registration: it still holds a job; re-keyed to a key nobody holds and disabled.`);
    return;
  }
  await ado.registerAgent(poolId, placeholder);
  log.info(`Retired ${agent.name}'s registration${outcome === 'gone' ? ' (already gone)' : ''}: ${agent.lastCompletedRequestId === undefined ? 'its pod\'s agent ended' : 'it ran its job'}; a disabled placeholder with a key nobody holds keeps the slot.`);
}
