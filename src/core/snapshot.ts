// The pool snapshot the tasks publish for the hub: what only the cluster knows, with the time it was taken.
import type { PodSummary, PoolSnapshot, ScaleDecision } from './model.js';

export function buildSnapshot(
  pool: { runnerName: string; namespace: string; poolName: string; organizationUrl: string; replicas: number },
  pods: PodSummary[],
  publishedBy: PoolSnapshot['publishedBy'],
  now: Date,
  lastDecision?: ScaleDecision,
): PoolSnapshot {
  return {
    id: `${pool.namespace}.${pool.runnerName}`,
    runnerName: pool.runnerName,
    namespace: pool.namespace,
    poolName: pool.poolName,
    organizationUrl: pool.organizationUrl,
    publishedAt: now.toISOString(),
    publishedBy,
    replicas: pool.replicas,
    pods,
    ...(lastDecision && { lastDecision }),
  };
}
