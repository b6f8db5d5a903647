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

/**
 * The longest a published snapshot may go unrefreshed while its publisher runs: the hub's pod data is never older. Two
 * minutes: an unchanged snapshot says only that its publisher still runs, and at 30 s its PUTs were over a third of an
 * idle organization's TSTUs (`npm run bench -- scale-org`: 5.0 of 13.7 a minute, and the agents read as often 2.0).
 */
export const snapshotRefreshMs = 120_000;

/**
 * The least time between two snapshots that only tell of a change: the hub page reads them every 15 s
 * (RunnerPoolsPage's refresh), where the autoscaler's passes (every 5 s) changed the snapshot nearly every time while
 * jobs ran. A state that lasts is published at most 15 s and a pass after it began; one that lasts less (a pod
 * between its creation and its start, say) may never be.
 */
export const snapshotChangeGapMs = 15_000;

/** Which slots cannot start, and why in a word: what a person waits to see at once (not Kubernetes' changing words). */
const stuckKey = (snapshot: PoolSnapshot) => JSON.stringify((snapshot.stuckSlots ?? []).map(({ slot, reason }) => [slot, reason]));

/**
 * Whether to publish `next`: the first time; when the last one is 2 minutes old, or newer than the clock (gone back), changed
 * or not; when a slot stopped or began being unable to start, or for another reason, at once; when anything else but
 * its time changed, once the last one is 15 s old (a later pass publishes a change held back, if it still holds).
 */
export function snapshotDue(last: { snapshot: PoolSnapshot; at: number } | undefined, next: PoolSnapshot, now: number): boolean {
  // A clock gone back since the last (a node's time corrected) would hold every snapshot back until it caught up.
  if (last === undefined || now < last.at || now - last.at >= snapshotRefreshMs) return true;
  if (stuckKey(last.snapshot) !== stuckKey(next)) return true;
  const content = (snapshot: PoolSnapshot) => JSON.stringify({ ...snapshot, publishedAt: undefined });
  return now - last.at >= snapshotChangeGapMs && content(last.snapshot) !== content(next);
}
