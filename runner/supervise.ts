// `supervise -- <command…>`: runs the agent (run.sh --once) and passes a stop signal to its listener only. The
// listener cancels its job and stops the job's processes itself; signalled directly, they would die mid-step.
// It also passes the agent's output on, byte for byte, and on the listener's `Running job:` line (it took a job, and
// no step of it has run yet) tells the autoscaler at once (src/core/job-notice.ts), so that the registration is
// disabled while that job runs however short it is.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { constants } from 'node:os';
import { join } from 'node:path';
import { jobNoticeFile, readJobNoticeSettings, runningJobLine, type JobNoticeSettings } from '../src/core/index.js';
import { listenerOf } from './process-tree.js';
import { UsageError, type Log } from './settings.js';

export interface SuperviseOptions {
  log: Log;
  /** Where the process tree is read; a test points it at its own. */
  proc?: string;
  /** The agent root, where the handshake left the notice's settings; the working directory by default. */
  agentDir?: string;
}

/** How long the notice may take, tries again included: past this the autoscaler's next look sees the job anyway. */
const noticeDeadlineMs = 5000;
/**
 * Tries until then, each at most `noticeTryMs`, a pause of 250–750 ms apart (at random, so that pods cut at once do
 * not come back at once): other pods may hold the port's connections for a while.
 */
const noticeTryMs = 1500;
const noticePause = () => 250 + Math.random() * 500;
/** The longest line looked at for the listener's: more of a line is passed on, never kept. */
const longestLine = 4096;
/** How long the agent's last output may take to come through after it exited (something it left may hold the pipe). */
const drainMs = 1000;
/**
 * The listener's line once its session exists. A signal while it creates the session cancels the request after the
 * service took it: the session stays, unknown to the listener, and the agent shows online (a job would be handed to
 * it) until the service expires it. So a stop before that line waits for it, `sessionGraceMs` at most.
 */
const listeningLine = /Listening for Jobs/;
const sessionGraceMs = 1500;

/** The notice settings the handshake left, read before the agent starts: no job has run, so none has changed them. */
function noticeSettings(agentDir: string): JobNoticeSettings | undefined {
  try {
    return readJobNoticeSettings(readFileSync(join(agentDir, jobNoticeFile), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Sends the notice, trying again after a cut connection or no answer, within `noticeDeadlineMs`; a failure is said
 * once. Returns what to call once the agent ended: it stops trying (and says so, when a try had failed).
 */
function sendNotice(settings: JobNoticeSettings, log: Log): () => void {
  const deadline = Date.now() + noticeDeadlineMs;
  const body = JSON.stringify({ agentId: settings.agentId });
  let done = false;
  let lastFailure: string | undefined;
  let pause: NodeJS.Timeout | undefined;
  const failed = (why: string) => {
    if (done) return;
    done = true;
    clearTimeout(pause);
    log(`could not tell the autoscaler that agent ${settings.agentId} took a job (${why}); its next look sees it`);
  };
  const attempt = () => {
    const retry = (why: string) => {
      lastFailure = why;
      const wait = noticePause();
      if (Date.now() + wait < deadline) pause = setTimeout(attempt, wait);
      else failed(why);
    };
    try {
      const timeout = Math.min(noticeTryMs, deadline - Date.now());
      const req = request(settings.url, { method: 'POST', headers: { 'content-type': 'application/json' }, timeout }, (res) => {
        res.resume();
        if (res.statusCode === 202) done = true;
        else failed(`it answered ${res.statusCode}`);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeout / 1000} s`)));
      req.on('error', (error) => {
        if (!done) retry(error.message);
      });
      req.end(body);
    } catch (error) {
      failed((error as Error).message);
    }
  };
  attempt();
  return () => {
    if (lastFailure !== undefined) failed(lastFailure);
    done = true;
    clearTimeout(pause);
  };
}

/** Calls `onLine` once, on the first line that matches, from chunks of output. */
function firstLineWatcher(pattern: RegExp, onLine: () => void): (chunk: Buffer) => void {
  let partial = '';
  let seen = false;
  return (chunk) => {
    if (seen) return;
    const lines = (partial + chunk.toString('latin1')).split('\n');
    partial = lines.pop()!.slice(0, longestLine);
    if (lines.some((line) => pattern.test(line))) {
      seen = true;
      onLine();
    }
  };
}

/** Runs the command to its end; resolves to its exit code (128 + the signal's number when a signal ended it). */
export async function supervise(args: string[], options: SuperviseOptions): Promise<number> {
  const command = args[0] === '--' ? args.slice(1) : args;
  if (command.length === 0) throw new UsageError('supervise needs a command: supervise -- ./run.sh --once');
  const notice = noticeSettings(options.agentDir ?? process.cwd());
  let child: ReturnType<typeof spawn> | undefined;
  const signalled = new Set<number>();
  let recheck: NodeJS.Timeout | undefined;
  // The listener may not run yet: run.sh's child is then a passing subshell (`$(id -u)`, …), and with no child at all
  // there is nobody to tell (run.sh itself would die and leave the listener it is starting orphaned). So until the
  // agent ends, whatever is its listener gets the signal, each process once.
  let listening = false;
  let stopAsked: number | undefined;
  const stop = () => {
    if (child?.pid === undefined) return;
    stopAsked ??= Date.now();
    if (!listening && Date.now() - stopAsked < sessionGraceMs) {
      recheck ??= setInterval(stop, 100);
      return;
    }
    const targets = listenerOf(child.pid, options.proc).filter((pid) => !signalled.has(pid));
    if (targets.length > 0) options.log(`stopping the agent listener (pid ${targets.join(', ')})`);
    for (const pid of targets) {
      signalled.add(pid);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // It has ended meanwhile.
      }
    }
    recheck ??= setInterval(stop, 100);
  };
  // Before the child starts: a signal that comes early must not end this process and orphan the agent.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  let drained: Promise<void> = Promise.resolve();
  let stopNotice = () => {};
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child = spawn(command[0], command.slice(1), { stdio: ['inherit', 'pipe', 'inherit'] });
      child.on('error', reject);
      child.on('exit', (exitCode, signal) => resolve(exitCode ?? 128 + (signal === null ? 0 : constants.signals[signal])));
      const output = child.stdout!;
      output.pipe(process.stdout, { end: false });
      output.on('data', firstLineWatcher(listeningLine, () => {
        listening = true;
        if (stopAsked !== undefined) stop();
      }));
      if (notice !== undefined) output.on('data', firstLineWatcher(runningJobLine, () => (stopNotice = sendNotice(notice, options.log))));
      drained = new Promise((done) => output.once('end', done));
    });
    // Whatever the agent wrote last, unless a process it left behind keeps the pipe open.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise((done) => (timer = setTimeout(done, drainMs)))]);
    clearTimeout(timer);
    return code;
  } finally {
    stopNotice();
    clearInterval(recheck);
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
