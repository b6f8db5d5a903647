// How long the autoscaler waits before its next look at the queue (pure): its poll interval, longer after failures
// (back off while Azure DevOps or the cluster is away) and when the rate limit runs low (slow down before throttling).
//
// The allowance (200 TSTUs in a sliding five minutes) belongs to the identity, the PAT's user, and every autoscaler of
// an organization usually shares one PAT: X-RateLimit-Remaining is the organization's budget, and each autoscaler reads
// the same figure. So each stretches its interval by the same steep curve of the share left, and together they settle
// where the calls they make fit, with room to spare, whatever their number: n autoscalers that would spend the
// allowance n-fold at full pace settle near 1 - 0.7 / n^(1/3) of it used (a bit over half to seven tenths for
// n = 2..10), and below half used (no headers) they come back to full pace by halves (BudgetPace; README "How many
// runners an organization can run"). The stretch may reach the whole window: capped at a minute, fifty autoscalers of
// a busy organization spent the allowance at that minute.

/**
 * Below this share of the TSTU allowance left, the autoscaler stretches its interval. The service's first headers
 * (half of it used) already stretch it 2.7-fold: at 0.5, fifty autoscalers settled with the busiest five minutes of
 * `npm run bench -- scale-org` at 92 % of the allowance, at 0.7 at 83 %.
 */
const stretchBelowShare = 0.7;
/** How steeply: the interval grows with the cube of how far the share left has fallen under `stretchBelowShare`. */
const steepness = 3;
/** The longest a failure's backoff makes the interval; a longer poll interval is kept as it is. */
const longestBackoffMs = 60_000;
/**
 * The longest the rate budget stretches it: the window itself, after which every charge of the last pass is gone. Only
 * while no key is at stake (PollState.keysAtStake); then a look comes within `longestBackoffMs`.
 */
const longestStretchMs = 300_000;

export interface RateLimitState {
  /** X-RateLimit-Remaining and -Limit of the last answer that carried them (none: the budget is not running low). */
  remaining: number;
  limit: number;
}

export interface PollState {
  failures: number;
  rateLimit?: RateLimitState;
  /**
   * A registration of the runner may take a job (enabled in the last look, or registered since), or a retirement was
   * left to the next pass: a key a job copied could take another job until a look retires it (src/core/single-use.ts).
   */
  keysAtStake?: boolean;
  /** A stretch the budget asked for earlier, as it stands now (BudgetPace): kept like the last answer's. */
  rememberedStretchMs?: number;
}

export function pollDelay(pollSeconds: number, state: PollState): number {
  const interval = pollSeconds * 1000;
  const delay = backedOff(interval, state.failures);
  const stretched = Math.max(budgetStretch(delay, state.rateLimit), state.rememberedStretchMs ?? 0);
  if (stretched > delay) {
    const longest = state.keysAtStake === true ? longestBackoffMs : longestStretchMs;
    return Math.round(Math.min(Math.max(longest, interval), stretched));
  }
  return Math.min(Math.max(longestBackoffMs, interval), Math.round(delay));
}

/** The interval, longer after failures. */
function backedOff(interval: number, failures: number): number {
  return failures > 0 ? Math.max(interval, Math.min(longestBackoffMs, 1000 * 2 ** (failures - 1))) : interval;
}

/** `delay` stretched by the budget the last answer announced (0: it announced none, or it is not running low). */
function budgetStretch(delay: number, rateLimit: RateLimitState | undefined): number {
  if (rateLimit === undefined || rateLimit.limit <= 0) return 0;
  const share = Math.max(0, rateLimit.remaining) / rateLimit.limit;
  return share < stretchBelowShare ? Math.min(longestStretchMs, delay * (stretchBelowShare / Math.max(share, 0.01)) ** steepness) : 0;
}

/**
 * How long a stretch is remembered: it halves every this many ms. Four to five halvings bring a stretch the service's
 * 429s or an empty budget asked for (a minute and more) back to a few seconds over ten minutes, two windows.
 */
const stretchHalfLifeMs = 150_000;

/**
 * The stretch the budget asked for, remembered (one per autoscaler). An answer without the headers says only that under
 * half the allowance is used, not how little: after a 429 storm (whose answers said none was left), fifty autoscalers
 * that went back to full pace on their first such answer spent the allowance within a minute, all at once, and those
 * calls weighed on the window for five more. Coming back by halves over minutes, like a sender leaving congestion,
 * spreads that return; a fresh answer that asks for more stretch counts at once. Only the budget's stretch of the
 * interval is remembered, never a failure's backoff (an outage says nothing about the budget), and it only sets the
 * interval: notices still bring a look (`backingOff` reads the last answer and the failures alone), and a key at stake
 * still caps it at a minute.
 */
export class BudgetPace {
  private last?: { stretchMs: number; at: number };

  /** pollDelay, with the stretch remembered at `now` (ms). */
  delay(pollSeconds: number, state: PollState, now: number): number {
    const remembered = this.remembered(now);
    const asked = budgetStretch(pollSeconds * 1000, state.rateLimit);
    if (asked >= remembered && asked > 0) this.last = { stretchMs: asked, at: now };
    return pollDelay(pollSeconds, { ...state, rememberedStretchMs: remembered });
  }

  private remembered(now: number): number {
    if (this.last === undefined) return 0;
    // A clock set back: the halving goes on from now, rather than holding the stretch until the clock catches up.
    if (now < this.last.at) this.last = { ...this.last, at: now };
    return this.last.stretchMs * 0.5 ** ((now - this.last.at) / stretchHalfLifeMs);
  }
}

/**
 * Below this share of the allowance left, notices bring no look sooner: each is a full read of the agents, paid from
 * the budget every autoscaler shares, so they stop well before the regular interval stretches (`stretchBelowShare`).
 */
const noticesBelowShare = 0.75;

/** Whether the loop backs off now (the last pass failed, the rate budget is no longer ample): nothing may bring a look sooner. */
export function backingOff(state: { failures: number; rateLimit?: RateLimitState }): boolean {
  const { rateLimit } = state;
  return state.failures > 0 || (rateLimit !== undefined && rateLimit.limit > 0 && rateLimit.remaining / rateLimit.limit < noticesBelowShare);
}
