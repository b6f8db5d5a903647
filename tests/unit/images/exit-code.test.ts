// The runner image's exit code once the agent has run (runner.js run, runner/run.ts): the pod's restart rule restarts
// the agent container in place only on 78, so no code a job can make its agent exit with may come out as 78.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeAfterAgent } from '../../../runner/run.js';

test('start.sh never ends with the in-place restart code once the agent has run, whatever the agent exited with', () => {
  const mapped = new Map(Array.from({ length: 256 }, (_, rc) => [rc, exitCodeAfterAgent(rc)] as [number, number]));
  assert.equal(mapped.size, 256);
  for (const [agent, pod] of mapped) assert.equal(pod, agent === 78 ? 1 : agent, `the agent exited ${agent}`);
  // The codes a job can cause: a failure, a SIGKILL and a SIGTERM to the listener, and the restart code itself.
  assert.deepEqual([1, 137, 143, 78].map((code) => mapped.get(code)), [1, 137, 143, 1]);
});
