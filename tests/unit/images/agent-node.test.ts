// start.sh's own helpers, each run on its own in bash: the choice of the Node that runs runner.js (the newest the agent
// package ships), and the reading of runner.js settings' lines.
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

test('start.sh takes each setting as runner.js settings printed it, all after the first \'=\', spaces and a trailing \'=\' kept', () => {
  const read = (lines: string) => {
    const script = `set -euo pipefail\nreadonly config_error=78\n${functionOf('fail')}\n${functionOf('read_settings')}\nread_settings "$1"\n`
      + 'printf "%s|" "$AZP_POOL" "$AZP_WORK" "$AZP_URL" "$auth"';
    return spawnSync('bash', ['-c', script, 'start.sh', lines], { encoding: 'utf8' });
  };
  const taken = read('AZP_POOL= pool = one= \nAZP_WORK=/srv/x=\nAZP_URL=https://dev.azure.com/contoso?a=b\nauth=pat');
  assert.equal(taken.stdout, ' pool = one= |/srv/x=|https://dev.azure.com/contoso?a=b|pat|', taken.stderr);
  for (const [lines, message] of [['PATH=/tmp/evil', /printed 'PATH', which is no setting/], ['AZP_POOL', /printed 'AZP_POOL', which is no NAME=value line/]] as const) {
    const refused = read(lines);
    assert.equal(refused.status, 78);
    assert.match(refused.stderr, message);
  }
});
