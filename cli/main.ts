#!/usr/bin/env node
// The command line's entry (bin/azure-devops-runner.js runs its bundle): the process's arguments, environment and
// streams handed to cli/run.ts, and its answer as the exit status.
import { createInterface } from 'node:readline';
import { runCli } from './run.js';

function stdinLine(): Promise<string> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    let first: string | undefined;
    lines.once('line', (line) => {
      first = line;
      lines.close();
    });
    lines.once('close', () => resolve(first ?? ''));
  });
}

runCli(process.argv.slice(2), {
  env: process.env,
  stdinLine,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`azure-devops-runner: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
