// The agent double's package for tests: built once per process (and cached on disk), plus unpacking into a fresh agent dir.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAgentPackage } from '../../emulator/agent/package.js';
import type { AgentPackage } from '../../emulator/src/routes/distributedtask.js';

let building: Promise<AgentPackage> | undefined;

export function agentPackage(): Promise<AgentPackage> {
  building ??= buildAgentPackage();
  return building;
}

/** Unpacks the package into a new temporary directory, as `tar xz` does in the runner image. */
export async function unpackAgent(prefix = 'agent-'): Promise<string> {
  const pkg = await agentPackage();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  execFileSync('tar', ['-xzf', pkg.path, '-C', dir]);
  return dir;
}
