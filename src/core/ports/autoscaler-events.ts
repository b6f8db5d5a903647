// What the autoscaler's loop reports as it goes; its entry turns the reports into metrics and the health check.
import type { ScaleDecision } from '../model.js';
import type { PoolLook } from '../scale-decision.js';

export interface AutoscalerEvents {
  passed(report: { decision: ScaleDecision; look: PoolLook; durationMs: number }): void;
  passFailed(error: Error, transient: boolean): void;
  registered(pod: string): void;
  registrationFailed(pod: string, error: Error): void;
  /** Another autoscaler holds the runner's lease: this one's loop runs, and waits (src/core/lease.ts). */
  waiting(): void;
}
