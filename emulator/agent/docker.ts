// The agent double's `docker` command line, as the agent's DockerCommandManager drives it: one argument string per call,
// split into argv the way .NET splits ProcessStartInfo.Arguments on Unix, run in the work folder, every call logged.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Where the job log goes: `##[command]` lines, output, warnings. */
export interface JobLog {
  command(line: string): void;
  output(line: string): void;
  warning(line: string): void;
}

export interface RunResult {
  code: number;
  /** stdout lines then stderr lines, empty ones left out (the agent's DockerExec collects both, in arrival order). */
  lines: string[];
  stdout: string[];
}

/**
 * Splits an argument string as .NET's Process does on Unix (Process.Unix.cs ParseArgumentsIntoList, the Windows
 * command-line rules): blanks separate outside double quotes, `"` toggles quoting (`""` inside quotes is a literal
 * quote), backslashes are literal unless they precede a quote. Single quotes are ordinary characters.
 */
export function splitArguments(text: string): string[] {
  const args: string[] = [];
  let current = '';
  let started = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '\\') {
      let count = 0;
      while (text[i] === '\\') { count++; i++; }
      if (text[i] === '"') {
        current += '\\'.repeat(Math.floor(count / 2));
        if (count % 2 === 1) current += '"';
        else { quoted = !quoted; }
      } else {
        current += '\\'.repeat(count);
        i--;
      }
      started = true;
      continue;
    }
    if (char === '"') {
      if (quoted && text[i + 1] === '"') { current += '"'; i++; } else quoted = !quoted;
      started = true;
      continue;
    }
    if ((char === ' ' || char === '\t') && !quoted) {
      if (started) args.push(current);
      current = '';
      started = false;
      continue;
    }
    current += char;
    started = true;
  }
  if (started) args.push(current);
  return args;
}

/** WhichUtil.Which(command, require: true): the first executable file of that name on PATH. */
export function which(command: string, path = process.env.PATH ?? ''): string {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch { /* next */ }
  }
  throw new Error(`File not found: '${command}'`);
}

export interface RunOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Lines written to stdin, which is then closed. */
  stdin?: string[];
  onLine?: (line: string) => void;
  /** The child, in a process group of its own (a cancelled job's group is signalled). */
  onChild?: (child: ChildProcess) => void;
}

/** Runs a process as the agent's ProcessInvoker does: output read line by line, the exit code returned. */
export function runProcess(file: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    options.onChild?.(child);
    const lines: string[] = [];
    const stdout: string[] = [];
    for (const [stream, isStdout] of [[child.stdout, true], [child.stderr, false]] as const) {
      let pending = '';
      const take = (line: string) => {
        if (line === '') return;
        lines.push(line);
        if (isStdout) stdout.push(line);
        options.onLine?.(line);
      };
      stream.on('data', (chunk: Buffer) => {
        const parts = (pending + chunk.toString('utf8')).split('\n');
        pending = parts.pop() ?? '';
        parts.forEach(take);
      });
      stream.on('end', () => take(pending));
    }
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.stdin?.map((line) => `${line}\n`).join('') ?? '');
    child.on('error', (error) => { lines.push(error.message); resolve({ code: 127, lines, stdout }); });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), lines, stdout }));
  });
}

/** DockerCommandManager: `docker` found on PATH, the instance label, and its two ways of running a command. */
export class Docker {
  /** `label` is DockerInstanceLabel: the first 6 hex digits of the SHA-256 of the agent root, lower-cased. */
  constructor(readonly path: string, readonly label: string, private readonly cwd: string, private readonly log: JobLog) {}

  /** The agent's exit-code form: output goes to the log, the exit code is returned. */
  async code(command: string, options: string, stdin?: string[]): Promise<number> {
    return (await this.run(`${command} ${options}`.trim(), { stdin, onLine: (line) => this.log.output(line) })).code;
  }

  /** The agent's output form: non-empty stdout lines are returned; a non-zero exit throws (requireExitCodeZero). */
  async lines(command: string, options: string): Promise<string[]> {
    const arg = `${command} ${options}`.trim();
    const result = await this.run(arg, { onLine: (line) => this.log.output(line) });
    if (result.code !== 0) throw new Error(`Exit code ${result.code} returned from process: file name '${this.path}', arguments '${arg}'.`);
    return result.stdout;
  }

  /** DockerExec with an output list: stdout and stderr collected, the exit code returned. */
  async exec(containerId: string, options: string, command: string): Promise<RunResult> {
    return this.run(`exec ${options} ${containerId} ${command}`.trim(), {});
  }

  /** Any docker call, logged as the agent logs it (`##[command]<docker> <arguments>`). */
  run(arg: string, options: Omit<RunOptions, 'cwd' | 'env'>): Promise<RunResult> {
    this.log.command(`${this.path} ${arg}`);
    return runProcess(this.path, splitArguments(arg), { cwd: this.cwd, ...options });
  }
}
