// Single-use registrations, emulated (autoscaling: inCluster). Azure DevOps has none: a registration's key works until
// someone re-keys it, and a job step can copy its agent's key (it runs as the agent's user). So the autoscaler makes
// every registration of a slot belong to one pod, and ends it with that pod:
//
// - A registration records the pod whose key it holds (its RUNNER_POD_UID capability: the pod's request sets it).
// - Once that pod's agent has run and ended (its container terminated, the pod finished or gone), the autoscaler
//   retires the registration: it deletes it, which ends every session and token of that agent id, and adds in its
//   place a disabled placeholder under the same name, with the same capabilities and a key nobody holds, so that
//   jobs still queue when the pool is at zero (a pool with no registration rejects them).
// - A busy registration is disabled while its job runs: the job goes on, but whatever outlives it holds a
//   registration the service gives no further job.
// - A slot is enabled only by a live pod's re-key (the handshake, which re-keys the placeholder); a scale pass never
//   enables a registration whose key no live pod holds.
import type { AgentInfo } from './model.js';
import type { KubeObject } from './ports/kube.js';
import type { AgentRegistration, PublicKey } from './registration.js';
import { identityVariables } from './manifests/pool-labels.js';
import { slotOrdinal } from './slots.js';

/** The pod whose key a registration holds; undefined for a placeholder (a key nobody holds). */
export function keyHolder(agent: AgentInfo): string | undefined {
  return agent.capabilities[identityVariables.podUid] || undefined;
}

interface PodShape {
  status?: { phase?: string; containerStatuses?: Array<{ name: string; state?: { terminated?: unknown } }> };
}

/** The runner's pods whose agent may still run: not finished, and the agent container not terminated. */
export function podsWithLiveAgents(pods: KubeObject[]): Set<string> {
  return new Set(pods.flatMap((pod) => {
    const { status } = pod as unknown as PodShape;
    const finished = status?.phase === 'Succeeded' || status?.phase === 'Failed';
    const terminated = status?.containerStatuses?.find((container) => container.name === 'agent')?.state?.terminated !== undefined;
    return pod.metadata.uid && !finished && !terminated ? [pod.metadata.uid] : [];
  }));
}

/** What the autoscaler does to keep every registration single-use, from one look at the agents and the pods. */
export interface SingleUsePlan {
  /** Registrations whose pod's agent has ended: replace each with a placeholder. */
  retire: AgentInfo[];
  /** Busy registrations still enabled: disable each, so that nothing gets a second job through it. */
  disable: AgentInfo[];
}

export function planSingleUse(runnerName: string, ours: AgentInfo[], livePods: Set<string>): SingleUsePlan {
  const slots = ours.filter((agent) => slotOrdinal(runnerName, agent.name) !== undefined);
  const retire = slots.filter((agent) => {
    const holder = keyHolder(agent);
    return holder !== undefined && !livePods.has(holder);
  });
  const disable = slots.filter((agent) => agent.enabled && agent.busyWith !== undefined && !retire.includes(agent));
  return { retire, disable };
}

/** Whether a scale pass may enable this registration: only while a live pod holds its key. */
export function mayEnable(agent: AgentInfo, livePods: Set<string>): boolean {
  const holder = keyHolder(agent);
  return holder !== undefined && livePods.has(holder);
}

/** The placeholder that takes a retired registration's name: disabled, a key nobody holds, no pod. */
export function placeholderRegistration(agent: AgentInfo, unheldKey: PublicKey): AgentRegistration {
  const capabilities = Object.fromEntries(Object.entries(agent.capabilities).filter(([name]) => name !== identityVariables.podUid));
  return { name: agent.name, publicKey: unheldKey, systemCapabilities: capabilities, enabled: false };
}
