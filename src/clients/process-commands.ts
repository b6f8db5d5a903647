// The CommandRunner the tasks use: child processes without a shell, echoed the way the agent shows commands.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { CommandRunner } from '../core/ports/commands.js';
import { logLine, withoutLoggingCommands } from '../core/log-text.js';

/**
 * Passes a child's output on whole lines at a time, with any logging command in them broken up: a builder echoes
 * values that came from inputs (a base image, a build argument), and the agent acts on `##vso[` in any line.
 */
function lineForwarder(to: Writable): { write(text: string): void; end(): void } {
  let partial = '';
  return {
    write(text) {
      const all = partial + text;
      const end = Math.max(all.lastIndexOf('\n'), all.lastIndexOf('\r')) + 1;
      partial = all.slice(end);
      if (end > 0) to.write(withoutLoggingCommands(all.slice(0, end)));
    },
    end() {
      if (partial !== '') to.write(withoutLoggingCommands(partial));
      partial = '';
    },
  };
}

export const processCommands: CommandRunner = {
  run(program, args, options = {}) {
    const echo = options.echo !== false;
    if (echo) console.log(logLine(`[command]${program} ${args.join(' ')}`));
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const out = lineForwarder(process.stdout);
      const err = lineForwarder(process.stderr);
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (text: string) => {
        stdout += text;
        if (echo) out.write(text);
      });
      child.stderr.on('data', (text: string) => {
        stderr += text;
        if (echo) err.write(text);
      });
      child.on('error', reject);
      child.on('close', (code) => {
        out.end();
        err.end();
        resolve({ code: code ?? 1, stdout, stderr });
      });
      child.stdin.end(options.stdin ?? '');
    });
  },
  has(program) {
    return Promise.resolve((process.env.PATH ?? '').split(delimiter).some((dir) => {
      try {
        accessSync(join(dir, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }));
  },
};
