// What the runner's commands share: how they report, and the exit code of a wrong setting (as docker/start.sh's).

/** EX_CONFIG: a setting is wrong; restarting won't help. */
export const configError = 78;

/** A setting is missing or wrong: the command stops before doing anything, with exit code 78. */
export class SettingError extends Error {}

/** The command line is wrong (exit code 64, EX_USAGE). */
export class UsageError extends Error {}

export type Log = (message: string) => void;
