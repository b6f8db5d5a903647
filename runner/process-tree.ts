// The processes below a pid, read from /proc: which process is the agent listener that a stop signal is meant for.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The parent pid in a /proc/<pid>/stat line; the command name in parentheses may itself hold spaces and ')'. */
export function parentOf(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process has gone since the listing
  }
}

export function childrenOf(pid: number, proc = '/proc'): number[] {
  return readdirSync(proc)
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      const stat = readOrUndefined(join(proc, entry, 'stat'));
      return stat !== undefined && parentOf(stat) === pid;
    })
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * The agent listener: run.sh's child (the real run.sh forks it), or the process itself once run.sh has exec'd the
 * listener (the agent double does). Empty when the process has gone, or while run.sh has no child yet.
 */
export function listenerOf(pid: number, proc = '/proc'): number[] {
  const cmdline = readOrUndefined(join(proc, String(pid), 'cmdline'));
  if (cmdline === undefined) return [];
  return cmdline.split('\0').some((arg) => /(^|\/)run\.sh$/.test(arg)) ? childrenOf(pid, proc) : [pid];
}
