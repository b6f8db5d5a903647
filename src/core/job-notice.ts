// The runner pod's notice that its agent took a job (./single-use.ts, "the short-job window"). The moment the listener
// takes a job it prints its `Running job:` line, before the job's first step; the pod's supervisor (runner/supervise.ts),
// still trustworthy then, tells the autoscaler at once, and the autoscaler looks at once: the pass that follows sees
// the registration busy in Azure DevOps' own record and disables it while its job runs, whatever the poll interval.
// The notice is the pod's word and says only "look now": it disables nothing (while the loop backs off, when no look
// comes sooner, one from the very pod that holds the registration, by its IP, disables that one registration by its
// id: a pod's word about its own agent, which has a job then). Any pod may send one for any agent id it
// guesses, also long before that slot takes a job, so an id's notice is used up only once a look showed its
// registration busy or having had a job; three looks begun after it that show it idle forget it, and the slot's real
// notice starts the count over. What bounds a hostile pod's cost is time, not ids: notices bring a look at most every
// 2 s (those in between make one), and none sooner while the loop backs off (a failed pass, under three quarters of
// the shared rate budget left: ./poll-interval.ts); ./noticed-agents.ts keeps that. The port reads one request per
// connection, two connections per address.
// Its address reaches the pod inside the signed grant (./registration.ts). Pure: the wire shapes.
import { autoscalerNoticePort } from './autoscaler-options.js';

/** Where the autoscaler takes notices (POST, JSON). */
export const jobNoticePath = '/job-started';

/** The largest notice body the autoscaler reads: `{"agentId":…}` fits many times over. */
export const jobNoticeBodyLimit = 256;

/** The file in the agent root where the handshake leaves the notice's address and agent id for the supervisor. */
export const jobNoticeFile = '.job-notice';

/** What a notice says, and what the handshake leaves in `jobNoticeFile` (with the address to send it to). */
export interface JobNotice {
  agentId: number;
}

export interface JobNoticeSettings extends JobNotice {
  url: string;
}

/** The address of an autoscaler at `podIp` (IPv4 or IPv6). */
export function jobNoticeUrl(podIp: string): string {
  const host = podIp.includes(':') ? `[${podIp}]` : podIp;
  return `http://${host}:${autoscalerNoticePort}${jobNoticePath}`;
}

const isAgentId = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;

/** Why a notice body is not `{ agentId }` with a positive integer id (nothing else). */
export function jobNoticeProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'it is not a JSON object';
  const fields = Object.keys(body);
  if (fields.length !== 1 || !isAgentId((body as Partial<JobNotice>).agentId)) return 'it is not { "agentId": <positive integer> }';
  return undefined;
}

/** Why a grant's notice address is not one the supervisor may send to: plain HTTP to the autoscaler's pod. */
export function noticeUrlProblem(url: unknown): string | undefined {
  if (typeof url !== 'string' || url.length > 200) return 'its noticeUrl is not a URL';
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' && parsed.pathname === jobNoticePath ? undefined : `its noticeUrl is not http://…${jobNoticePath}`;
  } catch {
    return 'its noticeUrl is not a URL';
  }
}

/** The settings in `jobNoticeFile`, or undefined when they are not a notice address and an agent id. */
export function readJobNoticeSettings(text: string): JobNoticeSettings | undefined {
  try {
    const settings = JSON.parse(text) as Partial<JobNoticeSettings>;
    return isAgentId(settings.agentId) && noticeUrlProblem(settings.url) === undefined ? { url: settings.url!, agentId: settings.agentId } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The listener's line when it takes a job, before it starts the job's worker: `<UTC time, yyyy-MM-dd HH:mm:ssZ>:
 * Running job: <job name>` (the agent's RunningJob message, written to its stdout).
 */
export const runningJobLine = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z: Running job: /;
