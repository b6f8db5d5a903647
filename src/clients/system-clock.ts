// The Clock port over the system's time.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../core/ports/clock.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => sleep(ms),
};
