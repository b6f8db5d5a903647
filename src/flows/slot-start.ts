// What the scaling pass and `status` read and write for slots that cannot start (src/core/slot-start.ts): the
// StatefulSet's events, read only when a slot has no pod, and the Warning Event that tells the stuck slots.
import type { Log } from '../core/ports/host.js';
import { KubeApiError, type KubeClient, type KubeObject } from '../core/ports/kube.js';
import { slotStartEvent, slotStartEventDue, slotsWithoutPod, statefulSetEventsSelector, stuckCause, type StuckSlot } from '../core/slot-start.js';

/** The last Event told: its cause and when. */
export interface StuckSlotsTold {
  cause: string;
  at: number;
}

/** What the last reads of the events left to remember: the failure last warned about, until a read succeeds. */
export interface EventReads {
  /** The failed read's status (0: no answer), warned once; undefined after a read that succeeded. */
  failedWith?: number;
}

/**
 * The StatefulSet's events when a slot below `replicas` has no pod (a refused create is the only thing that can say
 * why); none otherwise, at no cost. A Role without the right to read events (a deployer Role from before it was
 * needed: configs/deployer-rbac.yaml), or any failed read, gets a warning — once, not every pass, and again only
 * after a read succeeded or failed otherwise — and the look goes on without them.
 */
export async function startRefusals(kube: KubeClient, statefulSet: KubeObject, replicas: number, pods: KubeObject[], log: Log, reads: EventReads = {}): Promise<KubeObject[]> {
  const { name, namespace } = statefulSet.metadata;
  if (slotsWithoutPod(name, replicas, pods).length === 0) return [];
  try {
    const events = await kube.list('v1', 'Event', namespace!, undefined, statefulSetEventsSelector(name));
    reads.failedWith = undefined;
    return events;
  } catch (error) {
    // They only explain: a failed read (a Role without the right, an API server that is busy) never stops the scaling.
    const status = error instanceof KubeApiError ? error.status : 0;
    if (reads.failedWith !== status) {
      const grant = status === 403 ? ' (grant list on events: configs/deployer-rbac.yaml)' : '';
      log.warning(`Cannot read the events of StatefulSet ${name}, so a slot a quota refuses is not recognised${grant}. ${error instanceof Error ? error.message : String(error)}`);
    }
    reads.failedWith = status;
    return [];
  }
}

/**
 * Records the Warning Event SlotCannotStart on the StatefulSet when its cause is new, and again every few minutes
 * while it lasts (src/core/slot-start.ts slotStartEventDue); returns what the next pass compares with. The Event
 * only tells: failing to record it (a Role without the right, the API server away) ends nothing, it is warned about.
 */
export async function tellStuckSlots(
  kube: KubeClient,
  statefulSet: KubeObject,
  stuck: StuckSlot[],
  told: StuckSlotsTold | undefined,
  context: { now: number; reporter: string; fieldManager: string; log: Log },
): Promise<StuckSlotsTold | undefined> {
  // Nothing stuck: the next cause is told at once.
  if (stuck.length === 0) return undefined;
  if (!slotStartEventDue(told, stuck, context.now)) return told;
  try {
    await kube.create(slotStartEvent(statefulSet, stuck, context.now, context.reporter), context.fieldManager);
  } catch (error) {
    context.log.warning(`Could not record the event SlotCannotStart on StatefulSet ${statefulSet.metadata.name}: ${(error as Error).message}`);
  }
  return { cause: stuckCause(stuck), at: context.now };
}
