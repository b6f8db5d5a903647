// Test support: a Docker engine for e2e tests (starts Debian's dockerd if none answers) and a `docker` CLI helper.
import { spawn } from 'node:child_process';
import { output, run, type RunOptions } from './process.js';
import { existsSync, openSync, closeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/** `docker …`; throws with the command's stderr when it fails. */
export function docker(args: string[], options: RunOptions = {}): Promise<string> {
  return output('docker', args, { ...options, timeoutMs: options.timeoutMs ?? 30 * 60_000 });
}

export interface DockerEngine {
  /** True when this process started dockerd (and stop() will end it). */
  readonly started: boolean;
  stop(): Promise<void>;
}

async function engineAnswers(): Promise<boolean> {
  return (await run('docker', ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 })).code === 0;
}

const sharedContainerd = '/run/containerd/containerd.sock';

/**
 * Makes sure a Docker engine answers on the default socket. Reuses a running one; otherwise starts Debian's
 * dockerd, on the containerd the cluster tests run (§0 item 6) when one is up, else with its own.
 */
export async function startDocker(): Promise<DockerEngine> {
  if (await engineAnswers()) return { started: false, stop: async () => {} };
  const logDir = join(tmpdir(), 'adr-docker');
  mkdirSync(logDir, { recursive: true });
  const log = openSync(join(logDir, 'dockerd.log'), 'a');
  const args = ['--host', 'unix:///var/run/docker.sock', '--pidfile', join(logDir, 'dockerd.pid')];
  if (existsSync(sharedContainerd)) args.push(`--containerd=${sharedContainerd}`);
  const daemon = spawn('dockerd', args, { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  daemon.on('exit', () => (exited = true));
  daemon.unref();
  const deadline = Date.now() + 60_000;
  while (!(await engineAnswers())) {
    if (exited) throw new Error(`dockerd exited at start; see ${join(logDir, 'dockerd.log')}`);
    if (Date.now() > deadline) throw new Error(`dockerd did not answer within 60 s; see ${join(logDir, 'dockerd.log')}`);
    await sleep(250);
  }
  return {
    started: true,
    async stop() {
      if (exited || daemon.pid === undefined) return;
      process.kill(daemon.pid, 'SIGTERM');
      const stopDeadline = Date.now() + 30_000;
      while (!exited && Date.now() < stopDeadline) await sleep(100);
      if (!exited) process.kill(daemon.pid, 'SIGKILL');
    },
  };
}
