// start.sh's exit code once the agent has run, run in bash: the pod's restart rule restarts the agent container in
// place only on 78, so no code a job can make its agent exit with may come out as 78.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const startSh = readFileSync(new URL('../../../docker/start.sh', import.meta.url), 'utf8');
const definition = /^exit_code_after_agent\(\) \{.*\}$/m.exec(startSh)?.[0];

test('start.sh never ends with the in-place restart code once the agent has run, whatever the agent exited with', () => {
  assert.ok(definition, 'start.sh defines exit_code_after_agent');
  const script = `readonly config_error=78\n${definition}\nfor rc in $(seq 0 255); do echo "$rc $(exit_code_after_agent "$rc")"; done`;
  const { stdout, status } = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  assert.equal(status, 0);
  const mapped = new Map(stdout.trim().split('\n').map((line) => line.split(' ').map(Number) as [number, number]));
  assert.equal(mapped.size, 256);
  for (const [agent, pod] of mapped) assert.equal(pod, agent === 78 ? 1 : agent, `the agent exited ${agent}`);
  // The codes a job can cause: a failure, a SIGKILL and a SIGTERM to the listener, and the restart code itself.
  assert.deepEqual([1, 137, 143, 78].map((code) => mapped.get(code)), [1, 137, 143, 1]);
});
