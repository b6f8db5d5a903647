// `run`: the agent's one run, once start.sh has cleaned the slate (and in all mode registered it with config.sh). It
// holds no credential, so it is typed: in run mode it takes the registration (the handshake with the in-cluster
// autoscaler, or the one register mode saved), asks the recycle sidecar whether the agent may start, runs the agent
// under supervise (supervise.ts) and, with the sidecar, hands the pod over to it and waits. Its exit code is the
// agent's, which start.sh maps: 78 (the container's in-place restart) becomes 1 once the agent ran, in the one process
// a job cannot trace, told by this one just before the agent starts (`agentStarting`).
// A stop signal (start.sh passes it on) ends whatever step runs before the agent, and the command, at once (143); once
// the agent runs, supervise passes it to the listener only; after the agent, it ends the wait for the sidecar.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { reason } from './clean-slate.js';
import { SettingError, StepError, type Log } from './settings.js';

/** How the agent is registered: config.sh made it (all mode), the autoscaler makes it, or register mode saved it. */
export const registrations = ['registered', 'autoscaler', 'saved'] as const;
export type Registration = (typeof registrations)[number];

/** The exit code of a run stopped by a signal (128 + SIGTERM, as bash's), whatever the signal. */
export const stoppedCode = 143;

export interface AgentRun {
  agentName: string;
  registration: Registration;
  /** The volume shared with the recycle sidecar, when there is one. */
  recycleDir?: string;
}

export interface AgentRunIo {
  /** The handshake with the autoscaler, a child of its own; resolves to its exit code. */
  handshake(): Promise<number>;
  /** The registration register mode saved, back into the agent root (a StepError when it can't be). */
  restore(): void;
  /** The request to the recycle sidecar, and the wait for its answer (a SettingError after a minute). */
  awaitStartAllowed(): Promise<void>;
  /** Tells start.sh that the agent starts now: from then on 78 is no exit code. */
  agentStarting(): void;
  /** Runs the agent under supervise; resolves to its exit code. */
  agent(): Promise<number>;
  /** The word to the recycle sidecar that the agent ran its job. */
  jobDone(): void;
  /** Calls `handler` on each stop signal, from now on. */
  onStop(handler: () => void): void;
  /** Ends the steps still running before the agent (the handshake), once a stop came. */
  endSteps(): void;
  log: Log;
}

/**
 * The run, to its exit code. Whatever fails before the agent starts (a step, the word to start.sh) throws a StepError
 * or SettingError: one line and exit code 78, as start.sh's own steps; never once the agent has started.
 */
export async function runAgent(run: AgentRun, io: AgentRunIo): Promise<number> {
  let stopping = false;
  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => (stopped = resolve));
  io.onStop(() => {
    stopping = true;
    stopped();
  });
  const setup = async () => {
    if (run.registration === 'autoscaler') {
      // The autoscaler registers this pod's agent with the key made here: no PAT ever reaches this pod.
      const code = await io.handshake();
      if (code !== 0 && !stopping) throw new StepError(`the registration handshake failed (exit code ${code})`);
    } else if (run.registration === 'saved') {
      io.restore();
    }
    // With the recycle sidecar (no container restart rules) a job that ends its agent would get this container
    // restarted in the same pod: if it ever starts again, the sidecar deletes the pod instead of answering.
    if (run.recycleDir !== undefined) await io.awaitStartAllowed();
  };
  // Nothing begun before the agent is worth finishing, and the agent never starts once told to stop: a pod on its way
  // out would take a job.
  try {
    await Promise.race([setup(), stop]);
    // A signal that came as the last step ended waits for the event loop, behind this promise chain: give it that
    // turn, so that it still keeps the agent from starting.
    if (!stopping) await new Promise((resolve) => setImmediate(resolve));
    if (stopping) {
      io.endSteps();
      return stoppedCode;
    }
    io.log(`running agent '${run.agentName}' for one job`);
    io.agentStarting();
  } catch (caught) {
    // An unexpected error too (EACCES in the sidecar's volume, ESRCH from start.sh's pid): a line, not a stack trace.
    throw caught instanceof StepError || caught instanceof SettingError ? caught : new StepError(`before the agent started: ${reason(caught)}`);
  }
  const code = await io.agent();
  io.log(`agent exited with code ${code}`);
  if (stopping) return stoppedCode;
  if (run.recycleDir === undefined || code !== 0) return code;
  // Exiting would restart the agent in this same pod: the sidecar deletes the pod instead.
  io.jobDone();
  io.log('job done: waiting for the recycle sidecar to replace this pod');
  // A pending promise alone would let Node exit: the timer keeps it waiting.
  const waiting = setInterval(() => {}, 60_000);
  await stop;
  clearInterval(waiting);
  return 0;
}

/** Steps run as children, each in a process group of its own, so that a stop ends each with all it started. */
export function childSteps(): { step(command: string[]): Promise<number>; end(): void } {
  const running = new Set<ChildProcess>();
  return {
    step: (command) => new Promise((resolve) => {
      const child = spawn(command[0], command.slice(1), { stdio: 'inherit', detached: true });
      running.add(child);
      // It could not start (127, as a shell's command not found).
      child.on('error', () => {
        running.delete(child);
        resolve(127);
      });
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
      });
    }),
    end: () => {
      for (const child of running) {
        try {
          process.kill(-child.pid!, 'SIGTERM');
        } catch {
          // It has ended meanwhile.
        }
      }
    },
  };
}
