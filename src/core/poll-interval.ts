// How long the autoscaler waits before its next look at the queue (pure): its poll interval, longer after failures
// (back off while Azure DevOps or the cluster is away) and when the rate limit runs low (slow down before throttling).

/** Below this share of the TSTU allowance left, the autoscaler stretches its interval. */
const lowRateLimitShare = 0.25;
const longestDelayMs = 60_000;

export function pollDelay(pollSeconds: number, state: { failures: number; rateLimit?: { remaining: number; limit: number } }): number {
  let delay = pollSeconds * 1000;
  if (state.failures > 0) delay = Math.max(delay, Math.min(longestDelayMs, 1000 * 2 ** (state.failures - 1)));
  const { rateLimit } = state;
  if (rateLimit !== undefined && rateLimit.limit > 0) {
    const share = rateLimit.remaining / rateLimit.limit;
    if (share < lowRateLimitShare) delay *= Math.min(12, lowRateLimitShare / Math.max(share, 0.01));
  }
  return Math.min(longestDelayMs, Math.round(delay));
}
