// Time as the flows see it: injected, so a flow's waits and deadlines run instantly in component tests.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** A long-running flow's stop request: checked between steps (never in the middle of one), and it cuts a wait short. */
export interface StopSignal {
  readonly stopped: boolean;
  /** Waits `ms`, or less when the flow is asked to stop or `until` settles first. */
  wait(ms: number, until?: Promise<void>): Promise<void>;
}
