// The pool snapshot the tasks publish for the hub: what only the cluster knows, with the time it was taken.
import type { PodSummary, PoolSnapshot, ScaleDecision } from './model.js';
import type { WaitSummary } from './job-wait.js';
import type { StuckSlot } from './slot-start.js';

/** What a snapshot tells besides the pods, when its publisher knows it. */
export interface SnapshotExtras {
  lastDecision?: ScaleDecision;
  jobWait?: WaitSummary;
  /** Slots whose pod cannot start (src/core/slot-start.ts); an empty list is left out. */
  stuck?: StuckSlot[];
}

export function buildSnapshot(
  pool: { runnerName: string; namespace: string; poolName: string; organizationUrl: string; replicas: number },
  pods: PodSummary[],
  publishedBy: PoolSnapshot['publishedBy'],
  now: Date,
  { lastDecision, jobWait, stuck }: SnapshotExtras = {},
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
    ...(jobWait && { jobWait }),
    ...(stuck !== undefined && stuck.length > 0 && { stuckSlots: stuck }),
  };
}

/** The longest a published snapshot may go unrefreshed while its publisher runs: the hub's pod data is never older. */
export const snapshotRefreshMs = 30_000;

/** Whether to publish `next`: first time, when anything but its time changed, or when the last one is 30 s old. */
export function snapshotDue(last: { snapshot: PoolSnapshot; at: number } | undefined, next: PoolSnapshot, now: number): boolean {
  if (last === undefined || now - last.at >= snapshotRefreshMs) return true;
  const content = (snapshot: PoolSnapshot) => JSON.stringify({ ...snapshot, publishedAt: undefined });
  return content(last.snapshot) !== content(next);
}
