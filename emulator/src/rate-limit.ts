// The service's global consumption limit, per identity: 200 TSTUs in any sliding five minutes, announced by the
// X-RateLimit-* headers before it bites, then delays of up to 30 s (still a 200, with Retry-After), then 429 TF400733.
// Source: azure-devops-docs `docs/integrate/concepts/rate-limits.md` ("Global consumption limit", "API client
// experience"). What a call costs in TSTUs is not published ("You can't calculate usage in TSTUs for an action with a
// formula"): `tstuCost` below is a MODEL, and so are the thresholds marked as guesses.
import type { Principal } from './types.js';

/** The documented allowance: TSTUs per identity within any sliding window of `windowMs`. */
export const tstuLimit = 200;
export const windowMs = 5 * 60_000;
/** The documented longest delay of one request. */
const longestDelayMs = 30_000;
/** Guess: the headers show up once half the allowance is used ("sent before requests start getting delayed"). */
const announceShare = 0.5;
/** Guess: past 1.5 times the allowance, requests are blocked (429) rather than delayed. */
const blockShare = 1.5;
/** The resource the headers and the 429 name (the service's text varies; clients must not parse it). */
const resource = 'ATCPU';

/**
 * The TSTU cost MODEL of one call (a guess, for the organization-scale simulation; the service publishes none). TSTUs
 * mostly measure database load, so: a light call 0.01 (a typical user's five minutes, 1 TSTU, is a hundred or so of
 * them), a write 0.05, and a list 0.002 per agent it returns (capabilities are rows of their own) or 0.001 per job
 * request. `rows` is what the answer lists. A blocked (429) call costs nothing.
 */
export function tstuCost(method: string, path: string, rows: { agents: number; jobRequests: number }): number {
  if (method !== 'GET') return 0.05;
  if (/\/pools\/[^/]+\/agents\/?$/i.test(path)) return 0.01 + 0.002 * rows.agents;
  if (/\/pools\/[^/]+\/jobrequests\/?$/i.test(path)) return 0.01 + 0.001 * rows.jobRequests;
  return 0.01;
}

/** Who is charged: a PAT's user, a service principal, an agent, a job (each an identity of its own). */
export function identityOf(principal: Principal): string {
  switch (principal.kind) {
    case 'pat': return `user:${principal.user}`;
    case 'sp': return `sp:${principal.clientId}`;
    case 'agent': return `agent:${principal.agentId}`;
    case 'job': return `job:${principal.requestId}`;
  }
}

export interface RateClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** What the service does with one request: answer it (maybe after a delay) or block it, and the headers it sends. */
export type RateVerdict = { kind: 'pass'; delayMs: number; headers: Record<string, string> } | { kind: 'block'; retryAfterSeconds: number; headers: Record<string, string> };

export class RateLimiter {
  /** Charges within the window, per identity, oldest first. */
  private readonly charges = new Map<string, Array<{ at: number; tstus: number }>>();
  /** Every charge ever made, with the call it paid for (method and route), for the simulation's figures. */
  readonly log: Array<{ at: number; identity: string; tstus: number; call: string }> = [];

  constructor(readonly clock: RateClock) {}

  /** TSTUs `identity` used in the window ending now. */
  usage(identity: string): number {
    const now = this.clock.now();
    const list = (this.charges.get(identity) ?? []).filter((charge) => now - charge.at < windowMs);
    this.charges.set(identity, list);
    return list.reduce((sum, charge) => sum + charge.tstus, 0);
  }

  /** Decides one request of `identity` costing `tstus`, and charges it unless blocked. */
  admit(identity: string, tstus: number, call = 'other'): RateVerdict {
    const now = this.clock.now();
    const used = this.usage(identity);
    const list = this.charges.get(identity)!;
    // Usage returns to 0 once the newest charge leaves the window (X-RateLimit-Reset, epoch seconds).
    const resetAt = (last: number) => String(Math.ceil((last + windowMs) / 1000));
    // When enough of the window's oldest charges have left it for usage to fall under `level`.
    const secondsUntilUnder = (level: number) => {
      let left = used;
      for (const charge of list) {
        if (left < level) break;
        left -= charge.tstus;
        if (left < level) return Math.max(1, Math.ceil((charge.at + windowMs - now) / 1000));
      }
      return 1;
    };
    if (used >= blockShare * tstuLimit) {
      const retryAfterSeconds = secondsUntilUnder(tstuLimit);
      return { kind: 'block', retryAfterSeconds, headers: { ...this.headers(0, resetAt(list.at(-1)!.at)), 'Retry-After': String(retryAfterSeconds) } };
    }
    list.push({ at: now, tstus });
    this.log.push({ at: now, identity, tstus, call });
    if (used >= tstuLimit) {
      // "Delays range from a few milliseconds per request up to 30 seconds", by the sustained level of consumption.
      const delayMs = Math.min(longestDelayMs, Math.max(5, Math.round(longestDelayMs * (used - tstuLimit) / ((blockShare - 1) * tstuLimit))));
      return {
        kind: 'pass', delayMs,
        headers: { ...this.headers(0, resetAt(now)), 'X-RateLimit-Delay': (delayMs / 1000).toFixed(3), 'Retry-After': String(secondsUntilUnder(tstuLimit)) },
      };
    }
    const after = used + tstus;
    return { kind: 'pass', delayMs: 0, headers: after >= announceShare * tstuLimit ? this.headers(Math.max(0, tstuLimit - after), resetAt(now)) : {} };
  }

  private headers(remaining: number, reset: string): Record<string, string> {
    return { 'X-RateLimit-Resource': resource, 'X-RateLimit-Limit': String(tstuLimit), 'X-RateLimit-Remaining': String(Math.floor(remaining)), 'X-RateLimit-Reset': reset };
  }
}
