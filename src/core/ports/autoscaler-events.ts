// What the autoscaler's loop reports as it goes; its entry turns the reports into metrics and the health check.
import type { ScaleDecision } from '../model.js';
import type { PoolLook } from '../scale-decision.js';
import type { JobStart } from '../job-wait.js';
import type { StuckSlot } from '../slot-start.js';

export interface AutoscalerEvents {
  /** The loop begins a turn (a look for the pool, at the lease, a pass): liveness is that turns keep coming. */
  turning(): void;
  /** `jobsStarted`: the jobs this runner's agents received since the last pass, each once; `stuck`: the slots that cannot start now. */
  passed(report: { decision: ScaleDecision; look: PoolLook; durationMs: number; jobsStarted: JobStart[]; stuck: StuckSlot[] }): void;
  passFailed(error: Error, transient: boolean): void;
  registered(pod: string): void;
  registrationFailed(pod: string, error: Error): void;
  /** Another autoscaler holds the runner's lease: this one's loop runs, and waits (src/core/lease.ts). */
  waiting(): void;
}
