// `supervise -- <command…>`: runs the agent (run.sh --once) and passes a stop signal to its listener only. The
// listener cancels its job and stops the job's processes itself; signalled directly, they would die mid-step.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { listenerOf } from './process-tree.js';
import { UsageError, type Log } from './settings.js';

export interface SuperviseOptions {
  log: Log;
  /** Where the process tree is read; a test points it at its own. */
  proc?: string;
}

/** Runs the command to its end; resolves to its exit code (128 + the signal's number when a signal ended it). */
export async function supervise(args: string[], options: SuperviseOptions): Promise<number> {
  const command = args[0] === '--' ? args.slice(1) : args;
  if (command.length === 0) throw new UsageError('supervise needs a command: supervise -- ./run.sh --once');
  let child: ReturnType<typeof spawn> | undefined;
  const signalled = new Set<number>();
  let recheck: NodeJS.Timeout | undefined;
  // The listener may not run yet: run.sh's child is then a passing subshell (`$(id -u)`, …), and with no child at all
  // there is nobody to tell (run.sh itself would die and leave the listener it is starting orphaned). So until the
  // agent ends, whatever is its listener gets the signal, each process once.
  const stop = () => {
    if (child?.pid === undefined) return;
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
  try {
    return await new Promise<number>((resolve, reject) => {
      child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal])));
    });
  } finally {
    clearInterval(recheck);
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
}
