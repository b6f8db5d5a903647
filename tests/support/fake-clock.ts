// A Clock whose time moves only when a flow sleeps: waits and deadlines take no real time, and what fakes schedule
// (a pod that stops after its grace period, one that becomes ready) happens at its moment on the way.
import type { Clock } from '../../src/core/ports/clock.js';

export class FakeClock implements Clock {
  private time: number;
  private readonly due: Array<{ at: number; seq: number; run: () => void }> = [];
  private seq = 0;
  /** Milliseconds slept so far, in the flows' own time. */
  slept = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Runs `run` once the time reaches `at` (at once when it already has). */
  at(at: number, run: () => void): void {
    if (at <= this.time) run();
    else this.due.push({ at, seq: this.seq++, run });
  }

  /** When the earliest thing scheduled falls due (undefined when nothing is). */
  nextDue(): number | undefined {
    return this.due.length === 0 ? undefined : Math.min(...this.due.map((entry) => entry.at));
  }

  async sleep(ms: number): Promise<void> {
    this.slept += ms;
    await this.advance(ms);
  }

  /** Moves the time on by `ms`, running what falls due in order, then lets pending I/O callbacks run. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      this.due.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.due[0];
      if (next === undefined || next.at > until) break;
      this.due.shift();
      this.time = next.at;
      next.run();
    }
    this.time = until;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
