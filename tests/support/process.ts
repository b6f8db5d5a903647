// Child processes for tests and benchmarks, without a shell: `run` reports how a program ended, `output` insists
// that it succeeded. Asynchronous on purpose: the in-process emulator must keep answering while they run.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Runs a command to completion and captures its output (never throws on a non-zero exit). */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const input = options.input;
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (input !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // a command may exit without reading its input
      child.stdin.end(input);
    }
  });
}

/** Runs a command and returns its stdout; rejects with its stderr when it fails (default time limit: 2 min). */
export async function output(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(command, args, { ...options, timeoutMs: options.timeoutMs ?? 120_000 });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}:\n${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}
