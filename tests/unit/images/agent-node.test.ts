// start.sh's choice of the Node that runs runner.js: the newest the agent package ships, run on its own in bash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const startSh = readFileSync(new URL('../../../docker/start.sh', import.meta.url), 'utf8');
const functionOf = (name: string) => {
  const found = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?^\\}$`, 'm').exec(startSh);
  assert.ok(found, `start.sh defines ${name}`);
  return found[0];
};

/** What agent_node prints for an agent directory holding these externals/<dir>/bin/node files. */
function chosen(dirs: string[]): { stdout: string; stderr: string; status: number | null } {
  const agent = mkdtempSync(join(tmpdir(), 'agent-'));
  try {
    for (const dir of dirs) {
      mkdirSync(join(agent, 'externals', dir, 'bin'), { recursive: true });
      writeFileSync(join(agent, 'externals', dir, 'bin', 'node'), '#!/bin/sh\n');
      chmodSync(join(agent, 'externals', dir, 'bin', 'node'), 0o755);
    }
    const script = `set -euo pipefail\nreadonly config_error=78\n${functionOf('fail')}\n${functionOf('agent_node')}\nagent_dir=${agent}\nagent_node`;
    const { stdout, stderr, status } = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    return { stdout: stdout.replace(agent, '<agent>').trim(), stderr, status };
  } finally {
    rmSync(agent, { recursive: true, force: true });
  }
}

test('start.sh runs runner.js on the newest Node the agent ships, the plain node of the agent double included', () => {
  assert.equal(chosen(['node10', 'node16', 'node20_1', 'node24']).stdout, '<agent>/externals/node24/bin/node');
  assert.equal(chosen(['node', 'node16', 'node20_1']).stdout, '<agent>/externals/node20_1/bin/node');
  assert.equal(chosen(['node']).stdout, '<agent>/externals/node/bin/node');
  const none = chosen([]);
  assert.equal(none.status, 78);
  assert.match(none.stderr, /start\.sh: error: no Node\.js under .*externals \(node\*\/bin\/node\)/);
});
