// Whose agent is it (pure). One Azure DevOps pool can be served from several clusters (blue/green, a DR pair,
// on-premises and cloud) and from several namespaces of one, and an agent's name only says which slot it is. So each
// runner has an identity — its cluster's (recorded on its StatefulSet by the first deploy) and its namespace — that
// its pods put into their agents' capabilities, and every flow that changes agents touches only those carrying its
// own, whatever their names. Design note: docs/several-clusters.md.
import type { AgentInfo } from './model.js';
import type { KubeObject } from './ports/kube.js';
import { annotations, identityVariables } from './manifests/pool-labels.js';
import { defaultRunnerName, maxRunnerNameLength } from './deploy-options.js';
import { slotOrdinal } from './slots.js';
import { fnv1a } from './hash.js';

export interface RunnerIdentity {
  runnerName: string;
  namespace: string;
  /** Its cluster's identity; undefined for a runner deployed before identities, which owns only agents carrying none. */
  cluster?: string;
  /**
   * Agent ids its autoscaler granted its pods: its own under a slot's name whatever their capabilities claim (a session
   * started from a copied key reports any, another namespace among them).
   */
  granted?: Pick<ReadonlySet<number>, 'has'>;
}

/** The identity a runner's StatefulSet records. */
export function recordedIdentity(statefulSet: KubeObject): RunnerIdentity {
  const { name, namespace, annotations: recorded } = statefulSet.metadata;
  return { runnerName: name, namespace: namespace ?? '', cluster: recorded?.[annotations.cluster] };
}

/**
 * The slot of one of this runner's agents; undefined for any other agent of the pool. A registration from before
 * identities (no cluster capability) is adopted when its name is one of the runner's slots and it names no other
 * namespace: a single-cluster pool that upgrades keeps its registrations, and its pods' next registrations carry the
 * identity. One its autoscaler granted (`granted`) is its own whatever it claims.
 */
export function ownSlot(self: RunnerIdentity, agent: Pick<AgentInfo, 'name' | 'capabilities'> & { id?: number }): number | undefined {
  const ordinal = slotOrdinal(self.runnerName, agent.name);
  if (ordinal === undefined) return undefined;
  if (agent.id !== undefined && self.granted?.has(agent.id)) return ordinal;
  const cluster = agent.capabilities[identityVariables.cluster];
  const namespace = agent.capabilities[identityVariables.namespace];
  const ours = cluster === undefined ? namespace === undefined || namespace === self.namespace : cluster === self.cluster && namespace === self.namespace;
  return ours ? ordinal : undefined;
}

/**
 * The capabilities a registration records, with the runner's own identity whatever the pod's request said: the
 * request is the pod's word, and a pod (or what a job left running beside it) that named another cluster would take
 * its slot away from its own runner for good.
 */
export function withOwnIdentity(capabilities: Record<string, string>, self: RunnerIdentity): Record<string, string> {
  const own = Object.fromEntries(Object.entries(capabilities).filter(([name]) => name !== identityVariables.cluster && name !== identityVariables.namespace));
  return { ...own, [identityVariables.namespace]: self.namespace, ...(self.cluster !== undefined && { [identityVariables.cluster]: self.cluster }) };
}

export function ownAgents<A extends Pick<AgentInfo, 'name' | 'capabilities'> & { id?: number }>(self: RunnerIdentity, agents: A[]): A[] {
  return agents.filter((agent) => ownSlot(self, agent) !== undefined);
}

/** Whose an agent named as one of this runner's slots is, when it is another runner's: what a refusal names. */
export function otherOwner(self: RunnerIdentity, agent: Pick<AgentInfo, 'name' | 'capabilities'> & { id?: number }): string | undefined {
  if (slotOrdinal(self.runnerName, agent.name) === undefined || ownSlot(self, agent) !== undefined) return undefined;
  const cluster = agent.capabilities[identityVariables.cluster];
  return `the runner of namespace '${agent.capabilities[identityVariables.namespace]}' ${cluster === undefined ? '(registered before cluster identities)' : `in cluster ${cluster}`}`;
}

/** Five characters from the cluster and namespace (FNV-1a, base 36): stable, and different for each pair in practice. */
export function runnerTag(cluster: string, namespace: string): string {
  return fnv1a(`${cluster}/${namespace}`).toString(36).padStart(5, '0').slice(-5);
}

/**
 * The runner name DeployRunnerPool gives a new runner when none is given: the pool's name as a DNS label and the
 * tag of its cluster and namespace, so that the agents of two clusters (or namespaces) serving one pool never share
 * a name. An existing runner keeps the name it was deployed under (`defaultNamedRunner`).
 */
export function clusterRunnerName(poolName: string, cluster: string, namespace: string): string {
  const tag = runnerTag(cluster, namespace);
  return `${defaultRunnerName(poolName).slice(0, maxRunnerNameLength - tag.length - 1).replace(/-+$/, '')}-${tag}`;
}

/**
 * The runner of the pool that DeployRunnerPool named by default in this namespace, among its StatefulSets: one named
 * from the pool alone (deployed before identities: an upgrade keeps its name and its registrations), or from the pool
 * and the cluster identity it records.
 */
export function defaultNamedRunner(poolName: string, statefulSets: KubeObject[]): KubeObject | undefined {
  const ofPool = statefulSets.filter((statefulSet) => statefulSet.metadata.annotations?.[annotations.pool]?.toLowerCase() === poolName.toLowerCase());
  return ofPool.find((statefulSet) => statefulSet.metadata.name === defaultRunnerName(poolName)) ?? ofPool.find((statefulSet) => {
    const { cluster, namespace } = recordedIdentity(statefulSet);
    return cluster !== undefined && statefulSet.metadata.name === clusterRunnerName(poolName, cluster, namespace);
  });
}
