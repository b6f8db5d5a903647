// The CommandRunner the tasks use: child processes without a shell, echoed the way the agent shows commands.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { CommandRunner } from '../core/ports/commands.js';

export const processCommands: CommandRunner = {
  run(program, args, options = {}) {
    if (options.echo !== false) console.log(`[command]${program} ${args.join(' ')}`);
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk;
        if (options.echo !== false) process.stdout.write(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk;
        if (options.echo !== false) process.stderr.write(chunk);
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
      child.stdin.end(options.stdin ?? '');
    });
  },
  async has(program) {
    return (process.env.PATH ?? '').split(delimiter).some((dir) => {
      try {
        accessSync(join(dir, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  },
};
