// What the autoscaler's loop keeps of its runner pods' notices (./job-notice.ts): which agent ids wait for a look to
// show their job, which notices are used up, and when notices may bring the next look. Pure.
import type { AgentInfo } from './model.js';
import { hadJob } from './single-use.js';

/** The least time between two looks that notices bring, however many come: those in between make one look. */
export const noticeLookGapMs = 2000;
/** How many looks a noticed registration gets to show its job: the service may not show the assignment at once. */
export const looksPerNotice = 3;

/**
 * The notices the loop took, by agent id: pending until a look shows the registration busy or having had a job (its
 * notice is then used: more for that id change nothing), or until `looksPerNotice` looks showed it idle (forgotten: a
 * notice for an idle slot uses nothing up).
 */
export class NoticedAgents {
  /** Pending ids, with how many looks showed each idle so far. */
  private readonly pending = new Map<number, number>();
  private readonly used = new Set<number>();
  private lastBrought = Number.NEGATIVE_INFINITY;

  /** Takes a notice for an agent id of this runner; true when it is news (neither used nor pending already). */
  take(agentId: number): boolean {
    if (this.used.has(agentId) || this.pending.has(agentId)) return false;
    this.pending.set(agentId, 0);
    return true;
  }

  /** When notices may bring the next look: Infinity when none is pending. */
  due(): number {
    return this.pending.size === 0 ? Number.POSITIVE_INFINITY : this.lastBrought + noticeLookGapMs;
  }

  /** A look that notices brought before its time, started `at`. */
  brought(at: number): void {
    this.lastBrought = at;
  }

  /** What a look showed of the runner's agents (`ours`); `owned` says which ids are still this runner's. */
  looked(ours: readonly AgentInfo[], owned: (agentId: number) => boolean): void {
    for (const id of this.used) if (!owned(id)) this.used.delete(id);
    for (const [id, idleLooks] of this.pending) {
      const agent = ours.find((known) => known.id === id);
      this.pending.delete(id);
      if (agent !== undefined && hadJob(agent)) this.used.add(id);
      else if (owned(id) && idleLooks + 1 < looksPerNotice) this.pending.set(id, idleLooks + 1);
    }
  }
}
