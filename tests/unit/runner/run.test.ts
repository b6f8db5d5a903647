// `runner.js run` (runner/run.ts): the agent's one run after start.sh's clean slate. Its order and exit codes with
// stand-ins for each step, a stop at each moment (during the handshake, while the recycle sidecar has not answered,
// while the agent runs, while the pod waits for the sidecar); then the bundle over real processes, with an agent in
// miniature and the sidecar's side of the hand-off played by the test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildRunner } from '../../../scripts/build.mjs';
import { recycleFiles } from '../../../runner/recycle.js';
import { runAgent, stoppedCode, type AgentRun, type AgentRunIo } from '../../../runner/run.js';
import { StepError } from '../../../runner/settings.js';

/** A promise and the functions that settle it. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

/** Stand-ins for each step, each noted in `calls` as it starts; `stop()` is the signal. */
function stand(overrides: Partial<AgentRunIo> = {}) {
  const calls: string[] = [];
  const logged: string[] = [];
  let onStop = () => {};
  const io: AgentRunIo = {
    handshake: () => (calls.push('handshake'), Promise.resolve(0)),
    restore: () => void calls.push('restore'),
    awaitStartAllowed: () => (calls.push('awaitStartAllowed'), Promise.resolve()),
    agentStarting: () => void calls.push('agentStarting'),
    agent: () => (calls.push('agent'), Promise.resolve(0)),
    jobDone: () => void calls.push('jobDone'),
    onStop: (handler) => (onStop = handler),
    endSteps: () => void calls.push('endSteps'),
    log: (message) => void logged.push(message),
    ...overrides,
  };
  const note = (name: string) => calls.push(name);
  return { io, calls, logged, note, stop: () => onStop() };
}

const registered: AgentRun = { agentName: 'linux-0', registration: 'registered' };
const recycled: AgentRun = { agentName: 'linux-0', registration: 'saved', recycleDir: '/azp/recycle' };
/** Whether a promise has settled within a few turns of the event loop. */
const settled = async (promise: Promise<unknown>) => Promise.race([promise.then(() => true, () => true), sleep(20).then(() => false)]);

describe('runAgent', () => {
  it('takes the registration its mode says, tells start.sh, then runs the agent and ends with its code', async () => {
    for (const [run, steps] of [
      [registered, ['agentStarting', 'agent']],
      [{ ...registered, registration: 'autoscaler' }, ['handshake', 'agentStarting', 'agent']],
      [{ ...registered, registration: 'saved' }, ['restore', 'agentStarting', 'agent']],
    ] as const) {
      const { io, calls, logged } = stand({ agent: () => (calls.push('agent'), Promise.resolve(3)) });
      assert.equal(await runAgent(run, io), 3);
      assert.deepEqual(calls, steps);
      assert.deepEqual(logged, ['running agent \'linux-0\' for one job', 'agent exited with code 3']);
    }
    // 78 as it is: start.sh, which a job can't trace, maps it once told the agent started.
    const { io } = stand({ agent: () => Promise.resolve(78) });
    assert.equal(await runAgent(registered, io), 78);
  });

  it('fails before the agent when the handshake or the saved registration fails', async () => {
    const failed = stand({ handshake: () => Promise.resolve(2) });
    await assert.rejects(runAgent({ ...registered, registration: 'autoscaler' }, failed.io), (error: Error) => error instanceof StepError && error.message === 'the registration handshake failed (exit code 2)');
    const missing = stand({ restore: () => { throw new StepError('no registration'); } });
    await assert.rejects(runAgent({ ...registered, registration: 'saved' }, missing.io), /no registration/);
    for (const { calls } of [failed, missing]) assert.ok(!calls.includes('agentStarting') && !calls.includes('agent'), 'the agent never started');
  });

  it('turns an unexpected error before the agent into a StepError (one line, 78), never once the agent started', async () => {
    const unexpected = (code: string) => Object.assign(new Error(`${code}: it failed`), { code });
    const volume = stand({ awaitStartAllowed: () => Promise.reject(unexpected('EACCES')) });
    await assert.rejects(runAgent(recycled, volume.io), (error: Error) => error instanceof StepError && error.message === 'before the agent started: EACCES: it failed');
    const notify = stand({ agentStarting: () => { throw unexpected('ESRCH'); } });
    await assert.rejects(runAgent(registered, notify.io), (error: Error) => error instanceof StepError && /ESRCH/.test(error.message));
    for (const { calls } of [volume, notify]) assert.ok(!calls.includes('agent'), 'the agent never started');
    // Once the agent started, an error is no failure before it: it is not made a 78.
    const late = stand({ agent: () => Promise.reject(unexpected('EIO')) });
    await assert.rejects(runAgent(registered, late.io), (error: Error) => !(error instanceof StepError));
  });

  it('stopped during the handshake: ends it and the run at once (143), and never starts the agent', async () => {
    const handshake = deferred<number>();
    const { io, calls, stop } = stand({ handshake: () => handshake.promise });
    const run = runAgent({ ...registered, registration: 'autoscaler' }, io);
    await sleep(5);
    stop();
    assert.equal(await run, stoppedCode);
    // The handshake ended by the signal exits with its own code meanwhile: still no agent, no error.
    handshake.resolve(143);
    await sleep(5);
    assert.deepEqual(calls, ['endSteps']);
  });

  it('stopped while the recycle sidecar has not answered: 143 at once, and never starts the agent', async () => {
    const answer = deferred<undefined>();
    const { io, calls, stop } = stand({ awaitStartAllowed: () => (calls.push('awaitStartAllowed'), answer.promise.then(() => {})) });
    const run = runAgent(recycled, io);
    await sleep(5);
    assert.equal(await settled(run), false, 'waits for the answer');
    stop();
    assert.equal(await run, stoppedCode);
    answer.resolve(undefined);
    await sleep(5);
    assert.deepEqual(calls, ['restore', 'awaitStartAllowed', 'endSteps']);
  });

  it('stopped as the last step ends (the signal handled in the next turn of the event loop): never starts the agent', async () => {
    const allowed = deferred<undefined>();
    const { io, calls, stop } = stand({ awaitStartAllowed: () => (calls.push('awaitStartAllowed'), allowed.promise) });
    const run = runAgent(recycled, io);
    await sleep(5);
    allowed.resolve(undefined);
    setImmediate(stop);
    assert.equal(await run, stoppedCode);
    assert.deepEqual(calls, ['restore', 'awaitStartAllowed', 'endSteps']);
  });

  it('stopped while the agent runs: leaves the agent to supervise, waits for it, then 143 and no hand-off', async () => {
    for (const agentCode of [0, 143]) {
      const agent = deferred<number>();
      const { io, calls, note, stop } = stand({ agent: () => (note('agent'), agent.promise) });
      const run = runAgent(recycled, io);
      await sleep(5);
      stop();
      assert.equal(await settled(run), false, 'the run waits for the agent');
      agent.resolve(agentCode);
      assert.equal(await run, stoppedCode);
      assert.deepEqual(calls, ['restore', 'awaitStartAllowed', 'agentStarting', 'agent'], 'no job-done: the pod is stopping anyway');
    }
  });

  it('hands the pod to the recycle sidecar once the agent ran its job, and waits for the stop (0)', async () => {
    const { io, calls, logged, stop } = stand();
    const run = runAgent(recycled, io);
    await sleep(5);
    assert.deepEqual(calls, ['restore', 'awaitStartAllowed', 'agentStarting', 'agent', 'jobDone']);
    assert.equal(logged.at(-1), 'job done: waiting for the recycle sidecar to replace this pod');
    assert.equal(await settled(run), false, 'exiting would restart the agent in this pod');
    stop();
    assert.equal(await run, 0);
    // A job that failed or ended its agent: the container ends with its code (the pod's rules take it from there).
    for (const code of [2, 78]) {
      const failed = stand({ agent: () => Promise.resolve(code) });
      assert.equal(await runAgent(recycled, failed.io), code);
      assert.ok(!failed.calls.includes('jobDone'));
    }
  });
});

const dir = mkdtempSync(join(tmpdir(), 'run-'));
const bundle = join(dir, 'bundle', 'runner.js');
const agentDir = join(dir, 'agent');

before(async () => {
  await buildRunner(bundle);
  mkdirSync(join(agentDir, 'bin'), { recursive: true });
  // run.sh forks the listener, as the agent's does; the listener exits $AGENT_EXIT at once, or lists for jobs until
  // a SIGTERM, when it ends as the idle agent does (0). It notes in agent-env what environment it got.
  writeFileSync(join(agentDir, 'run.sh'), '#!/bin/bash\n"$(dirname "$0")"/bin/listener "$@" & wait $!\n');
  writeFileSync(join(agentDir, 'bin', 'listener'), [
    '#!/bin/bash', 'echo "$AGENT_MARK $*" > "$(dirname "$0")/../agent-env"', '[ -z "${AGENT_EXIT:-}" ] || exit "$AGENT_EXIT"',
    'trap \'echo "listener: stopped"; exit 0\' TERM', 'echo "listener: Listening for Jobs"', 'while :; do sleep 0.05; done', '',
  ].join('\n'));
  for (const file of ['run.sh', join('bin', 'listener')]) chmodSync(join(agentDir, file), 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  exit: Promise<number | null>;
  output: () => string;
  signal: () => void;
}

/** `runner.js run` in the agent double, with `options`; its own process group, ended with what is left of it. */
function start(options: string[], env: Record<string, string> = {}): Started {
  rmSync(join(agentDir, 'agent-env'), { force: true });
  const child = spawn(process.execPath, [bundle, 'run', '--agent-dir', agentDir, '--agent-name', 'linux-0', ...options, '--', 'env', 'AGENT_MARK=agent-env'], {
    env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exit.then(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Nothing is left of it.
    }
  });
  return { exit, output: () => output, signal: () => child.kill('SIGTERM') };
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, what);
    await sleep(20);
  }
}

/** Ends within 2 s of the signal, as the container must. */
async function stopped(run: Started): Promise<number | null> {
  const signalled = Date.now();
  run.signal();
  const code = await run.exit;
  assert.ok(Date.now() - signalled < 2000, `ended ${Date.now() - signalled} ms after the signal`);
  return code;
}

describe('runner.js run', () => {
  it('runs the agent in the environment it is given and ends with its code', async () => {
    for (const agentCode of ['0', '3', '78']) {
      const run = start(['--registration', 'registered'], { AGENT_EXIT: agentCode });
      assert.equal(await run.exit, Number(agentCode), run.output());
      assert.match(run.output(), new RegExp(`runner run: running agent 'linux-0' for one job\\n[\\s\\S]*runner run: agent exited with code ${agentCode}\\n`));
    }
    const run = start(['--registration', 'registered'], { AGENT_EXIT: '0' });
    await run.exit;
    assert.equal(readFileSync(join(agentDir, 'agent-env'), 'utf8'), 'agent-env --once\n');
  });

  it('stopped while the recycle sidecar has not answered: 143 within 2 s, and the agent never starts', async () => {
    const shared = mkdtempSync(join(dir, 'shared-'));
    const run = start(['--registration', 'registered', '--recycle-dir', shared], { AGENT_EXIT: '0' });
    await until('the request to the sidecar', () => existsSync(join(shared, recycleFiles.agentStart)));
    assert.equal(await stopped(run), 143, run.output());
    assert.doesNotMatch(run.output(), /running agent/);
    assert.ok(!existsSync(join(agentDir, 'agent-env')), 'the agent never started');
  });

  it('stopped while the agent runs: the listener stops it, then 143', async () => {
    const run = start(['--registration', 'registered']);
    await until('the agent listening', () => /Listening for Jobs/.test(run.output()));
    assert.equal(await stopped(run), 143, run.output());
    assert.match(run.output(), /runner supervise: stopping the agent listener[\s\S]*listener: stopped[\s\S]*agent exited with code 0/);
  });

  it('hands the pod to the recycle sidecar once the agent ran, waits for the stop, then 0', async () => {
    const shared = mkdtempSync(join(dir, 'shared-'));
    const run = start(['--registration', 'registered', '--recycle-dir', shared], { AGENT_EXIT: '0' });
    // The sidecar's answer: it takes the request away.
    await until('the request to the sidecar', () => existsSync(join(shared, recycleFiles.agentStart)));
    rmSync(join(shared, recycleFiles.agentStart));
    await until('job-done', () => existsSync(join(shared, recycleFiles.jobDone)));
    await until('the wait', () => /waiting for the recycle sidecar/.test(run.output()));
    await sleep(200);
    assert.equal(await Promise.race([run.exit, sleep(0).then(() => 'running')]), 'running', 'it waits for the sidecar');
    assert.equal(await stopped(run), 0, run.output());
  });

  it('tells the process named by --notify (SIGUSR2) just before the agent starts, and only then', async () => {
    // start.sh's side in miniature: a bash that notes the word, then whether the agent had started when it came.
    const told = join(dir, 'told');
    const parent = (options: string[], env: Record<string, string>) => new Promise<string>((resolve) => {
      rmSync(told, { force: true });
      rmSync(join(agentDir, 'agent-env'), { force: true });
      const script = `trap 'ls "${agentDir}" | grep -c agent-env > "${told}" || true' USR2\n"$@" --notify $$ -- env AGENT_MARK=agent-env & pid=$!\n`
        + 'while :; do wait $pid; rc=$?; kill -0 $pid 2>/dev/null || break; done; echo "exit $rc"';
      const child = spawn('bash', ['-c', script, 'parent', process.execPath, bundle, 'run', '--agent-dir', agentDir, '--agent-name', 'linux-0', ...options], {
        env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', () => resolve(output));
    });
    assert.match(await parent(['--registration', 'registered'], { AGENT_EXIT: '78' }), /exit 78\n$/);
    assert.equal(readFileSync(told, 'utf8'), '0\n', 'told before the agent started');
    const empty = mkdtempSync(join(dir, 'config-'));
    assert.match(await parent(['--registration', 'saved', '--config-dir', empty], { AGENT_EXIT: '0' }), /exit 78\n$/);
    assert.ok(!existsSync(told), 'never told: the agent never started');
  });

  it('fails before the agent with one line and 78 when start.sh\'s pid is gone or the agent root can\'t be entered', async () => {
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => gone.on('exit', resolve));
    const notify = start(['--registration', 'registered', '--notify', String(gone.pid)], { AGENT_EXIT: '0' });
    assert.equal(await notify.exit, 78, notify.output());
    assert.match(notify.output(), /runner run: error: before the agent started: .*ESRCH/);
    assert.doesNotMatch(notify.output(), /\n\s+at /, 'no stack trace');
    const root = spawn(process.execPath, [bundle, 'run', '--agent-dir', join(dir, 'no-such-root'), '--agent-name', 'linux-0', '--registration', 'registered', '--', 'env'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [root.stdout, root.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    assert.equal(await new Promise((resolve) => root.on('close', resolve)), 78, output);
    assert.match(output, /^runner run: error: can't enter the agent root '.*no-such-root': .*\n$/);
  });

  it('refuses a registration register mode never saved (78), and a wrong command line (64)', async () => {
    const empty = mkdtempSync(join(dir, 'config-'));
    const saved = start(['--registration', 'saved', '--config-dir', empty]);
    assert.equal(await saved.exit, 78);
    assert.match(saved.output(), /runner run: error: AZP_CONFIG_DIR='.*' holds no registration/);
    const wrong = start(['--registration', 'pod']);
    assert.equal(await wrong.exit, 64);
    assert.match(wrong.output(), /runner run: error: run needs the agent root/);
  });
});
