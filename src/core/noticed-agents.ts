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
 * notice is then used: more for that id change nothing), or until `looksPerNotice` looks that started after the notice
 * showed it idle (forgotten: a notice for an idle slot uses nothing up). A look already under way when a notice came
 * does not count for it; a new notice for a pending id starts its count over, so an early one cannot spend the real
 * one's looks.
 */
export class NoticedAgents {
  /** Pending ids: when each was (last) noticed, and how many looks since showed it idle. */
  private readonly pending = new Map<number, { takenAt: number; idleLooks: number }>();
  private readonly used = new Set<number>();
  private lastBrought = Number.NEGATIVE_INFINITY;

  /** Takes a notice for an agent id of this runner, `at`; true when it is news (neither used nor pending already). */
  take(agentId: number, at: number): boolean {
    if (this.used.has(agentId)) return false;
    const news = !this.pending.has(agentId);
    this.pending.set(agentId, { takenAt: at, idleLooks: 0 });
    return news;
  }

  /** When notices may bring the next look: Infinity when none is pending. */
  due(): number {
    return this.pending.size === 0 ? Number.POSITIVE_INFINITY : this.lastBrought + noticeLookGapMs;
  }

  /** A look that notices brought before its time, started `at`. */
  brought(at: number): void {
    this.lastBrought = at;
  }

  /**
   * What a look that started `startedAt` showed of the runner's agents (`ours`); `owned` says which ids are still this
   * runner's.
   */
  looked(ours: readonly AgentInfo[], owned: (agentId: number) => boolean, startedAt: number): void {
    for (const id of this.used) if (!owned(id)) this.used.delete(id);
    for (const [id, notice] of [...this.pending]) {
      const agent = ours.find((known) => known.id === id);
      if (agent !== undefined && hadJob(agent)) {
        this.pending.delete(id);
        this.used.add(id);
      } else if (!owned(id)) this.pending.delete(id);
      else if (startedAt > notice.takenAt && ++notice.idleLooks >= looksPerNotice) this.pending.delete(id);
    }
  }
}
