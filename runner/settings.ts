import { accessSync, statSync } from 'node:fs';
// What the runner's commands share: how they report, and the exit code of a wrong setting (as docker/start.sh's).

/** EX_CONFIG: a setting is wrong; restarting won't help. */
export const configError = 78;

/** A setting is missing or wrong: the command stops before doing anything, with exit code 78. */
export class SettingError extends Error {}

/**
 * A step the entrypoint takes before the agent runs failed (the clean slate, the agent's settings): exit code 78 too,
 * as start.sh's header says of anything that fails before the agent ran.
 */
export class StepError extends Error {}

/** The command line is wrong (exit code 64, EX_USAGE). */
export class UsageError extends Error {}

export type Log = (message: string) => void;

/** Whether this user may access `path` as `mode` (an fs.constants flag), and it is a file or a directory as asked. */
export function accessible(path: string, mode: number, kind: 'file' | 'directory'): boolean {
  try {
    accessSync(path, mode);
    const stat = statSync(path);
    return kind === 'file' ? stat.isFile() : stat.isDirectory();
  } catch {
    return false;
  }
}
