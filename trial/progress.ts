// How the local trial shows what it does: one line per step with its time; a step that takes long says what it is at,
// every second on a terminal (in place), every 30 s in a log.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const tty = process.stdout.isTTY;
const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
const elapsed = (ms: number) => (ms < 120_000 ? seconds(ms) : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

export function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** What a running step reports: the latest thing it is at. */
export type Note = (line: string) => void;

/** Runs one step, showing its title, what it is at while it runs, and how long it took. */
export async function step<T>(title: string, work: (note: Note) => Promise<T>): Promise<T> {
  const started = Date.now();
  let latest = '';
  let shown = 0;
  const show = () => {
    const at = `${title} … ${elapsed(Date.now() - started)}${latest ? `: ${latest}` : ''}`;
    if (tty) process.stdout.write(`\r\x1b[2K${at.slice(0, (process.stdout.columns ?? 100) - 1)}`);
    else if (Date.now() - shown >= 30_000) {
      say(at);
      shown = Date.now();
    }
  };
  if (!tty) shown = Date.now();
  if (!tty) say(`${title} …`);
  const ticker = setInterval(show, 1000);
  try {
    const result = await work((line) => {
      latest = line.trim().replace(/\s+/g, ' ');
    });
    clearInterval(ticker);
    if (tty) process.stdout.write('\r\x1b[2K');
    say(`✓ ${title} (${elapsed(Date.now() - started)})`);
    return result;
  } catch (error) {
    clearInterval(ticker);
    if (tty) process.stdout.write('\r\x1b[2K');
    say(`✗ ${title} (${elapsed(Date.now() - started)})`);
    throw error;
  }
}

/**
 * Runs a program to its end, its output into `log` (appended) and each line to `note`; rejects with the last lines of
 * its output when it fails.
 */
export function runLogged(program: string, args: string[], options: { log: string; note?: Note; env?: NodeJS.ProcessEnv; input?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const file = createWriteStream(options.log, { flags: 'a' });
    file.write(`\n$ ${program} ${args.join(' ')}\n`);
    const child = spawn(program, args, { env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let output = '';
    // Each whole line to `note`, in order: a note may follow them all (trial/build-progress.ts counts packages).
    const partial = { stdout: '', stderr: '' };
    const take = (stream: keyof typeof partial) => (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      file.write(text);
      const lines = (partial[stream] + text).split('\n');
      partial[stream] = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') options.note?.(line);
    };
    child.stdout?.on('data', take('stdout'));
    child.stderr?.on('data', take('stderr'));
    child.stdin?.end(options.input);
    child.on('error', (error) => {
      file.end();
      reject(error);
    });
    child.on('close', (code) => {
      file.end();
      if (code === 0) resolve(output);
      else reject(new Error(`${program} ${args.join(' ')} exited ${code}:\n${output.trim().split('\n').slice(-15).join('\n')}\n(the whole output: ${options.log})`));
    });
  });
}
