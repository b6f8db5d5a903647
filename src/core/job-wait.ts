// How long jobs wait for an agent, per pipeline: from the job's queueTime to the moment one of this runner's agents
// received it (receiveTime). Read from the job requests every look already reads, so it costs no call.
// - A job is counted once, at the first look that sees it received; a look reads unfinished requests only, so a job
//   that starts and ends between two looks (shorter than a poll) is not seen.
// - The counted ids kept are those still unfinished: a finished request never comes back.
// - What was counted lives in the process. A new process (a restart, or another autoscaler taking the lease over)
//   counts at its first look only the jobs received within the last firstLookMs: the others a predecessor counted.
// - A pass hands the new history to its caller, which keeps it once the pass has been reported: a pass that fails
//   after its look counts nothing, and the next one counts those jobs.
// - The recent waits (for the hub's median and p95 over the last day) live in the process: a restart starts them again.
import type { AgentInfo } from './model.js';
import type { JobRequest } from './ports/ado.js';
import { median, percentile } from './statistics.js';

export interface JobStart {
  requestId: number;
  /** The pipeline (build or release definition) the job belongs to; "unknown" when the service does not say. */
  pipeline: string;
  waitSeconds: number;
  /** receiveTime, in ms since the epoch. */
  startedAt: number;
}

export interface WaitHistory {
  /** Started jobs already counted: those of the last look. */
  counted: ReadonlySet<number>;
  /** Waits of jobs started within the last day, oldest first. */
  recent: readonly { at: number; seconds: number }[];
}

export interface WaitSummary {
  jobs: number;
  medianSeconds: number;
  p95Seconds: number;
}

export const waitWindowMs = 24 * 3600_000;
/** At a process's first look: jobs received this recently are its to count (a restart or hand-over takes about this). */
export const firstLookMs = 30_000;
/** The recent waits kept at most: a day of a very busy runner; beyond it the oldest go first. */
export const maxRecentWaits = 20_000;

/** Jobs received by one of `ours` (this runner's agents), with how long each waited. */
export function jobStarts(ours: readonly AgentInfo[], jobs: readonly JobRequest[]): JobStart[] {
  const names = new Set(ours.map((agent) => agent.name));
  return jobs.flatMap((job) => {
    if (job.reservedAgentName === undefined || !names.has(job.reservedAgentName)) return [];
    const queued = Date.parse(job.queueTime ?? '');
    const received = Date.parse(job.receiveTime ?? '');
    if (Number.isNaN(queued) || Number.isNaN(received)) return [];
    return [{ requestId: job.requestId, pipeline: job.pipeline ?? 'unknown', waitSeconds: Math.max(0, (received - queued) / 1000), startedAt: received }];
  });
}

/**
 * The starts not counted before, and the history with them: counted once each, the last day kept. `unfinished`: the
 * request ids of every unfinished job the look read (a job whose agent a look did not show stays counted).
 */
export function recordStarts(history: WaitHistory | undefined, starts: readonly JobStart[], unfinished: readonly number[], now: number): { history: WaitHistory; fresh: JobStart[] } {
  const fresh = history === undefined ? starts.filter((start) => start.startedAt >= now - firstLookMs) : starts.filter((start) => !history.counted.has(start.requestId));
  const still = new Set(unfinished);
  const counted = new Set([...(history?.counted ?? [])].filter((id) => still.has(id)));
  for (const start of starts) counted.add(start.requestId);
  const recent = [...(history?.recent ?? []), ...fresh.map((start) => ({ at: start.startedAt, seconds: start.waitSeconds }))]
    .filter((wait) => wait.at > now - waitWindowMs)
    .sort((a, b) => a.at - b.at)
    .slice(-maxRecentWaits);
  return { history: { counted, recent }, fresh };
}

/** Median and 95th percentile (nearest rank) of the waits; undefined when no job started within the window. */
export function summarizeWaits(history: WaitHistory | undefined, now: number): WaitSummary | undefined {
  const seconds = (history?.recent ?? []).filter((wait) => wait.at > now - waitWindowMs).map((wait) => wait.seconds);
  if (seconds.length === 0) return undefined;
  return { jobs: seconds.length, medianSeconds: median(seconds), p95Seconds: percentile(seconds, 0.95) };
}
