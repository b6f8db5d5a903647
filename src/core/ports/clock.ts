// Time as the flows see it: injected, so a flow's waits and deadlines run instantly in component tests.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}
