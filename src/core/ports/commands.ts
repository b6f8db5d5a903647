// Running external programs, as the core sees it: the adapter runs them; tests can run them for real.

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /** Runs a program without a shell. `stdin` carries secrets, which never go on a command line. */
  run(program: string, args: string[], options?: { stdin?: string; env?: Record<string, string>; cwd?: string; echo?: boolean }): Promise<CommandResult>;
  /** True when `program` is on PATH. */
  has(program: string): Promise<boolean>;
}
