// The listener lookup over a /proc laid out in a temporary folder.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf, listenerOf, parentOf } from '../../../runner/process-tree.js';

/** A /proc with these processes: pid → [parent, command name, argv]. */
function fakeProc(processes: Record<number, [number, string, string[]]>): string {
  const proc = mkdtempSync(join(tmpdir(), 'proc-'));
  for (const [pid, [ppid, comm, argv]] of Object.entries(processes)) {
    mkdirSync(join(proc, pid));
    writeFileSync(join(proc, pid, 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 120 0 0 0`);
    writeFileSync(join(proc, pid, 'cmdline'), argv.map((arg) => `${arg}\0`).join(''));
  }
  mkdirSync(join(proc, 'self'));
  return proc;
}

describe('the process tree', () => {
  it('reads the parent after the command name, whatever that name holds', () => {
    assert.equal(parentOf('42 (Agent.Listener) S 7 42 42 0'), 7);
    assert.equal(parentOf('43 (a) b (c)) R 8 43 43 0'), 8);
  });

  const proc = fakeProc({
    10: [1, 'node', ['node', 'runner.js', 'supervise', '--', 'env', './run.sh', '--once']],
    11: [10, 'run.sh', ['/bin/bash', './run.sh', '--once']],
    12: [11, 'Agent.Listener', ['/azp/agent/bin/Agent.Listener', 'run', '--once']],
    13: [12, 'Agent.Worker', ['/azp/agent/bin/Agent.Worker', 'spawnclient']],
    14: [13, 'bash', ['bash', '/azp/agent/_work/_temp/step.sh']],
    20: [10, 'node', ['/azp/agent/externals/node/bin/node', '/azp/agent/bin/agent.js', 'run', '--once']],
  });

  it('finds a process\'s children, not its grandchildren', () => {
    assert.deepEqual(childrenOf(10, proc), [11, 20]);
    assert.deepEqual(childrenOf(11, proc), [12]);
    assert.deepEqual(childrenOf(14, proc), []);
  });

  it('takes run.sh\'s child for the listener, or the process itself once run.sh has exec\'d it', () => {
    assert.deepEqual(listenerOf(11, proc), [12], 'never the worker or the job step below it');
    assert.deepEqual(listenerOf(20, proc), [20]);
    assert.deepEqual(listenerOf(99, proc), [], 'gone');
  });
});
