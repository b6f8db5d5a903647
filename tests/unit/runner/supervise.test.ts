// `runner.js supervise`, the bundle the image runs, over real processes: a stop signal reaches the agent listener
// only, never run.sh or the job's processes, and the agent's exit code comes back.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../../scripts/build.mjs';

const dir = mkdtempSync(join(tmpdir(), 'supervise-'));
const bundle = join(dir, 'bundle', 'runner.js');

before(async () => {
  await buildRunner(bundle);
  // An agent in miniature: the listener runs a job step; each notes a SIGTERM in a file named after it. The listener
  // ends its step with SIGKILL, so a step.sh.TERM can only come from the supervisor.
  const script = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\ntrap 'touch "${dir}/${name}.TERM"; ${name === 'listener.sh' ? 'kill -KILL $job; wait $job; exit 3' : 'exit 9'}' TERM\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  script('step.sh', `touch "${dir}/ready"; while :; do sleep 0.1; done`);
  script('listener.sh', `"${dir}/step.sh" & job=$!; wait $job`);
  script('run.sh', `"${dir}/listener.sh" & wait $!; exit $?`);
  writeFileSync(join(dir, 'exec-run.sh'), `#!/bin/bash\nexec "${dir}/listener.sh"\n`);
  chmodSync(join(dir, 'exec-run.sh'), 0o755);
  // As the agent's run.sh: a command substitution before it starts its listener.
  mkdirSync(join(dir, 'slow'));
  writeFileSync(join(dir, 'slow', 'run.sh'), `#!/bin/bash\ntouch "${dir}/starting"\nuser_id=$(sleep 0.5; id -u)\n"${dir}/listener.sh" & wait $!; exit $?\n`);
  chmodSync(join(dir, 'slow', 'run.sh'), 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Starts `supervise -- <agent>`, sends SIGTERM once `marker` is there (the job step runs), and resolves to the exit code. */
async function stopDuringJob(agent: string, marker = 'ready'): Promise<{ code: number | null; stdout: string }> {
  for (const file of readdirSync(dir)) if (file === 'ready' || file === 'starting' || file.endsWith('.TERM')) rmSync(join(dir, file));
  // A process group of its own: whatever a failing case leaves running is ended with it.
  const child = spawn(process.execPath, [bundle, 'supervise', '--', join(dir, agent), '--once'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  try {
    const deadline = Date.now() + 10_000;
    while (!existsSync(join(dir, marker))) {
      assert.ok(Date.now() < deadline, `${marker} is there`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGTERM');
    const code = await Promise.race([
      new Promise<number | null>((resolve) => child.on('exit', resolve)),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the agent did not end within 5 s of the signal')), 5000)),
    ]);
    return { code, stdout };
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Nothing is left of it.
    }
  }
}

const signalled = () => readdirSync(dir).filter((file) => file.endsWith('.TERM')).sort();

describe('runner.js supervise', () => {
  it('passes SIGTERM to run.sh\'s child, the listener, which ends its job itself; its exit code comes back', async () => {
    const { code, stdout } = await stopDuringJob('run.sh');
    assert.deepEqual(signalled(), ['listener.sh.TERM']);
    assert.equal(code, 3);
    assert.match(stdout, /runner supervise: stopping the agent listener \(pid \d+\)/);
  });

  it('signals run.sh itself once it has exec\'d the listener', async () => {
    const { code } = await stopDuringJob('exec-run.sh');
    assert.deepEqual(signalled(), ['listener.sh.TERM']);
    assert.equal(code, 3);
  });

  it('stops the listener that run.sh starts after the signal came, while a command substitution ran', async () => {
    const { code, stdout } = await stopDuringJob(join('slow', 'run.sh'), 'starting');
    assert.deepEqual(signalled(), ['listener.sh.TERM']);
    assert.equal(code, 3);
    assert.equal(stdout.match(/stopping the agent listener/g)?.length, 2, 'the subshell, then the listener');
  });

  it('exits 128 + the signal\'s number when a signal ended the agent, and refuses a missing command', async () => {
    const killed = spawn(process.execPath, [bundle, 'supervise', '--', 'bash', '-c', 'kill -KILL $$'], { stdio: 'ignore' });
    assert.equal(await new Promise((resolve) => killed.on('exit', resolve)), 137);
    const none = spawn(process.execPath, [bundle, 'supervise'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    none.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    assert.equal(await new Promise((resolve) => none.on('exit', resolve)), 64);
    assert.match(stderr, /runner supervise: error: supervise needs a command/);
  });
});
