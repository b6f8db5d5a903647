// The real start.sh stopped at many moments of its start: before, during and after registration (config.sh, or the
// handshake with the in-cluster autoscaler) and once the agent runs. Each time the whole process tree must be gone
// within 2 s (the kubelet's SIGTERM; a slot's StatefulSet cannot start it again while its old pod is there), and an
// agent never starts once start.sh was told to stop (it would take a job in a pod on its way out). It runs with the
// real runner.js (handshake, supervise) and stand-ins for the agent package shaped like the real one: a config.sh that
// takes a while, a run.sh that runs command substitutions before its listener, a listener that, like .NET, handles a
// stop only once it has started, and then ends as the idle agent does.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, randomUUID } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildRunner } from '../../../scripts/build.mjs';
import { recycleFiles } from '../../../runner/recycle.js';
import { autoscalerKeyMaker } from '../../../src/clients/autoscaler-keys.js';
import { httpRunnerHandshake } from '../../../src/clients/runner-handshake-http.js';
import { autoscalerKeyVariables, type RegistrationGrant } from '../../../src/core/index.js';

const limitMs = 2000;
/** How long a run is watched after its signal before what is left of it is killed. */
const watchMs = 5000;
/** How long a run may take to log the line it is stopped at (the fast tier runs files side by side). */
const lineWaitMs = 30_000;
// start.sh refuses root; as root, the test runs it as the image's user, whose files it may then clean away.
const asRoot = process.getuid?.() === 0;
const uid = 10001;

const dir = mkdtempSync(join(tmpdir(), 'start-stop-'));
const agentDir = join(dir, 'agent');
const scratchDir = join(dir, 'scratch');
const startSh = join(dir, 'start.sh');
const bundle = join(dir, 'bundle', 'runner.js');

/** Writes a file the agent user can run but, like the image's agent files (root's), not delete. */
function script(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

/** start.sh as the image has it, but for its three paths into the image: the agent, runner.js and the scratch dirs. */
function stagedStartSh(): string {
  let text = readFileSync(new URL('../../../docker/start.sh', import.meta.url), 'utf8');
  for (const [line, staged] of [
    [/^readonly agent_dir=\/azp\/agent$/m, `readonly agent_dir=${agentDir}`],
    [/^readonly runner=\/usr\/local\/lib\/azp\/runner\.js .*$/m, `readonly runner=${bundle}`],
    [/^readonly scratch_dirs=\(.*\) .*$/m, `readonly scratch_dirs=(${scratchDir})`],
  ] as const) {
    assert.match(text, line, 'start.sh still names its paths as this test expects');
    text = text.replace(line, staged);
  }
  return text;
}

before(async () => {
  await buildRunner(bundle);
  for (const sub of [agentDir, join(agentDir, 'bin'), join(agentDir, 'externals', 'node', 'bin'), scratchDir]) mkdirSync(sub, { recursive: true });
  symlinkSync(process.execPath, join(agentDir, 'externals', 'node', 'bin', 'node'));
  script(startSh, stagedStartSh());
  // Registration talks to the service for a while; a stop signal ends it (it runs in a session of its own).
  script(join(agentDir, 'config.sh'), '#!/bin/bash\necho "config.sh: registering"\nsleep 0.6\necho "config.sh: registered"\n');
  // As the agent's run.sh: command substitutions first, then the listener in the foreground.
  script(join(agentDir, 'run.sh'), [
    '#!/bin/bash', 'echo "run.sh: started"', 'user_id=$(id -u)', 'DIR="$( cd -P "$( dirname "${BASH_SOURCE[0]}" )" && pwd )"',
    '"$DIR"/bin/Agent.Listener run "$@"', 'exit $?', '',
  ].join('\n'));
  // The listener handles a stop once it has started (before, the default action ends it), then ends as the idle agent
  // does: it deletes its session and exits 0.
  script(join(agentDir, 'bin', 'Agent.Listener'), `#!${process.execPath}
setTimeout(() => {
  process.on('SIGTERM', () => { console.log('listener: Agent shutdown requested.'); setTimeout(() => process.exit(0), 50); });
  console.log('listener: Listening for Jobs');
  // The code a job made its agent exit with, as the exit-code tests below set it.
  if (process.env.LISTENER_EXIT) setTimeout(() => process.exit(Number(process.env.LISTENER_EXIT)), 100);
  setInterval(() => {}, 60000);
}, 300);
`);
  chmodSync(agentDir, 0o1777);
  chmodSync(scratchDir, 0o1777);
  chmodSync(dir, 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The pids of the processes that carry this run's mark in their environment: start.sh and all it started. */
function processesOf(mark: string): number[] {
  const needle = `STOP_TEST_RUN=${mark}\0`;
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((entry) => {
    try {
      return readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle) ? [Number(entry)] : [];
    } catch {
      return []; // gone since the listing
    }
  });
}

interface Run {
  when: string;
  /** From SIGTERM to the last process of the run gone; Infinity when something was still there after watchMs. */
  goneMs: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  /** The output with the time of each line since the start, and the signal's. */
  timeline: string;
  /** The line to stop at never came. */
  missed: boolean;
}

const shown = (ms: number) => (Number.isFinite(ms) ? `${Math.round(ms)} ms` : `more than ${watchMs} ms`);

type Moment = { afterMs: number } | { atLine: RegExp };

/**
 * Starts start.sh in `mode` with `env`, as the image's user, with a home and an AZP_CONFIG_DIR of its own (holding the
 * files of `saved`) and a mark in its environment; its output and timeline grow in `text` as it writes.
 */
function launch(mode: string, env: Record<string, string>, saved: Record<string, string> = {}) {
  const mark = randomUUID();
  const home = join(dir, `home-${mark}`);
  const configDir = join(dir, `config-${mark}`);
  for (const owned of [home, configDir]) {
    mkdirSync(owned);
    if (asRoot) chownSync(owned, uid, uid);
  }
  for (const [name, content] of Object.entries(saved)) writeFileSync(join(configDir, name), content);
  const child = spawn('bash', [startSh, mode], {
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, AZP_CONFIG_DIR: configDir, STOP_TEST_RUN: mark, ...env },
    stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot && { uid, gid: uid }),
  });
  const started = performance.now();
  const text = { output: '', timeline: '' };
  const lines: Array<() => void> = [];
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => {
    text.output += chunk.toString();
    text.timeline += chunk.toString().replace(/^(?=.)/gm, `+${Math.round(performance.now() - started)} ms `);
    for (const check of lines) check();
  });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
  // Exited, with all it wrote read.
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, mark, started, exited, closed, lines, text };
}

/**
 * Starts start.sh in `mode` with `env`, sends SIGTERM at `moment` (calling `stopping` first), and measures how long its
 * process tree takes to go.
 */
async function stopAt(mode: string, env: Record<string, string>, moment: Moment, stopping = () => {}, saved: Record<string, string> = {}): Promise<Run> {
  const { child, mark, started, exited, lines, text } = launch(mode, env, saved);
  let missed = false;
  if ('afterMs' in moment) await sleep(moment.afterMs);
  else {
    const seen = new Promise<void>((resolve) => lines.push(() => moment.atLine.test(text.output) && resolve()));
    await Promise.race([seen, exited, sleep(lineWaitMs, undefined, { ref: false })]);
    missed = !moment.atLine.test(text.output);
  }
  stopping();
  const signalled = performance.now();
  text.timeline += `+${Math.round(signalled - started)} ms SIGTERM\n`;
  child.kill('SIGTERM');
  let goneMs = Infinity;
  while (performance.now() - signalled < watchMs) {
    if ((child.exitCode !== null || child.signalCode !== null) && processesOf(mark).length === 0) {
      goneMs = performance.now() - signalled;
      break;
    }
    await sleep(10);
  }
  for (const pid of processesOf(mark)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // It has ended meanwhile.
    }
  }
  const [code, signal] = await exited;
  const { output, timeline } = text;
  const when = 'afterMs' in moment ? `${moment.afterMs} ms after the start` : `at ${moment.atLine.source}`;
  return { when, goneMs, code, signal, output, timeline, missed };
}

/** The runs over the limit, or that broke a rule, each on a line; empty when all kept them. */
function broken(runs: Run[]): string[] {
  return runs.flatMap((run) => {
    const problems = [
      ...(run.missed ? ['the line never came'] : []),
      ...(run.goneMs > limitMs ? [`gone after ${shown(run.goneMs)}`] : []),
      // 143, or the signal's own end before the trap is set: never 78, which restarts the container in its pod.
      ...(run.code === 143 || run.signal === 'SIGTERM' ? [] : [`exited ${run.code ?? run.signal}`]),
      // Once told to stop, start.sh (runner.js run) never starts the agent: it would take a job in a pod on its way out.
      ...(/start\.sh: stopping[\s\S]*runner run: running agent/.test(run.output) ? ['started the agent after the stop'] : []),
    ];
    return problems.length > 0 ? [`${run.when}: ${problems.join(', ')}\n${run.timeline.replace(/^/gm, '    ')}`] : [];
  });
}

function summary(runs: Run[]): string {
  const worst = Math.max(...runs.map((run) => run.goneMs));
  const over = runs.filter((run) => run.goneMs > limitMs).length;
  return `${runs.length} stops, ${over} over ${limitMs} ms, the slowest gone after ${shown(worst)}`;
}

/** Stops at each delay of the sweep and at each line, one run after the other; each run's times in `t`'s output. */
async function sweep(t: TestContext, mode: string, env: Record<string, string>, delaysMs: number[], atLines: RegExp[], hooks: Hooks = {}): Promise<Run[]> {
  const runs: Run[] = [];
  for (const moment of [...delaysMs.map((afterMs) => ({ afterMs })), ...atLines.map((atLine) => ({ atLine }))]) {
    hooks.starting?.();
    const run = await stopAt(mode, env, moment, hooks.stopping);
    t.diagnostic(`stopped ${run.when}: gone after ${shown(run.goneMs)}`);
    runs.push(run);
  }
  t.diagnostic(summary(runs));
  return runs;
}

interface Hooks {
  starting?(): void;
  stopping?(): void;
}

const settings = { AZP_URL: 'https://dev.azure.com/contoso', AZP_POOL: 'Linux', AZP_AGENT_NAME: 'linux-0' };

describe('start.sh stopped at any moment of its start', { concurrency: 2, skip: !asRoot && 'start.sh refuses root and cleans its own user\'s files: the test runs it as uid 10001, which needs root' }, () => {
  it('is gone within 2 s, registered by the in-cluster autoscaler: before, while and after it waits for the handshake', async (t) => {
    const keys = autoscalerKeyMaker.make();
    const autoscaler = httpRunnerHandshake({ signing: createPrivateKey(keys.private.signing), encryption: createPrivateKey(keys.private.encryption) }, { deadlineMs: 1000 });
    // The autoscaler's side: it finds a waiting pod within a pass and registers it, unless it is scaling the pod
    // down (it stops a pod only after that).
    let running = true;
    let scaledDown = false;
    const registering = (async () => {
      while (running) {
        const request = scaledDown ? undefined : await autoscaler.request('127.0.0.1').catch(() => undefined);
        if (request !== undefined && !scaledDown) {
          await sleep(200);
          const grant: RegistrationGrant = {
            agentId: 7, agentName: settings.AZP_AGENT_NAME, poolId: 3, poolName: settings.AZP_POOL, serverUrl: settings.AZP_URL, clientId: 'client-7',
            authorizationUrl: 'https://vstoken.dev.azure.com/contoso/token', oauthEndpointUrl: 'https://vstoken.dev.azure.com/contoso/token',
          };
          await autoscaler.grant('127.0.0.1', grant, request).catch(() => undefined);
        }
        await sleep(50);
      }
    })();
    try {
      const runs = await sweep(t, 'run', {
        ...settings, AZP_REGISTRATION: 'autoscaler', RUNNER_POD_UID: 'pod-uid-0',
        [autoscalerKeyVariables.signing]: keys.public.signing, [autoscalerKeyVariables.encryption]: keys.public.encryption,
      }, [0, 50, 150, 300, 500, 700, 900, 1100, 1300, 1600, 2000, 2500], [
        /runner handshake: waiting for the autoscaler/, /runner handshake: registered by the autoscaler/, /runner run: running agent/,
        /run\.sh: started/, /listener: Listening for Jobs/,
      ], { starting: () => (scaledDown = false), stopping: () => (scaledDown = true) });
      assert.ok(runs.some((run) => /listener: Listening for Jobs/.test(run.output)), 'the later stops found the agent running');
      assert.deepEqual(broken(runs), [], summary(runs));
    } finally {
      running = false;
      await registering;
    }
  });

  it('is gone within 2 s, registered by config.sh with a PAT: before, while and after config.sh runs', async (t) => {
    const runs = await sweep(t, 'all', { ...settings, AZP_TOKEN: 'pat-value' }, [0, 100, 250, 400, 600, 800, 1100, 1500, 2000], [
      /config\.sh: registering/, /config\.sh: registered/, /runner run: running agent/, /run\.sh: started/, /listener: Listening for Jobs/,
    ]);
    assert.ok(runs.some((run) => /listener: Listening for Jobs/.test(run.output)), 'the later stops found the agent running');
    assert.deepEqual(broken(runs), [], summary(runs));
  });

  it('names every wrong setting at once, keeps the credential\'s value from the settings\' check and starts nothing', async () => {
    const home = mkdtempSync(join(dir, 'home-bad-'));
    if (asRoot) chownSync(home, uid, uid);
    const child = spawn('bash', [startSh, 'all'], {
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, ...settings, AZP_TOKEN: 'pat-value', AZP_URL: 'dev.azure.com/contoso', AZP_AGENT_NAME: 'bad name!', AZP_REMOVE_ON_EXIT: 'yes' },
      stdio: ['ignore', 'pipe', 'pipe'], ...(asRoot && { uid, gid: uid }),
    });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    assert.equal(code, 78, output);
    for (const message of [/AZP_URL='dev\.azure\.com\/contoso' is not/, /AZP_AGENT_NAME='bad name!' must be/, /AZP_REMOVE_ON_EXIT must be true or false/]) assert.match(output, message);
    assert.doesNotMatch(output, /config\.sh|pat-value/);
  });
});

/** A registration register mode saved, as run mode takes it back from AZP_CONFIG_DIR. */
const saved = { '.agent': '{"agentName":"linux-0"}\n' };

/** start.sh in `mode` to its own end, unstopped: its exit code and all it wrote; nothing of it is left after. */
async function runToEnd(mode: string, env: Record<string, string>, files: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const { closed, mark, text } = launch(mode, env, files);
  const code = await closed;
  for (const pid of processesOf(mark)) process.kill(pid, 'SIGKILL');
  return { code, output: text.output };
}

describe('start.sh\'s exit code around the agent', { skip: !asRoot && 'start.sh refuses root: the test runs it as uid 10001, which needs root' }, () => {
  // 78 restarts the agent container in its pod: once runner.js run has said the agent starts (SIGUSR2), start.sh
  // makes it 1, whatever the agent (or a job through it) ended with.
  for (const [mode, env, files] of [
    ['all', { ...settings, AZP_TOKEN: 'pat-value' }, {}],
    ['run', settings, saved],
  ] as const) {
    it(`exits 1, never 78, when the agent exits 78 (${mode} mode)`, async () => {
      const { code, output } = await runToEnd(mode, { ...env, LISTENER_EXIT: '78' }, files);
      assert.match(output, /runner run: running agent 'linux-0' for one job[\s\S]*runner run: agent exited with code 78/);
      assert.equal(code, 1, output);
    });
  }

  it('exits 78 when run mode fails before the agent (no saved registration), and starts no agent', async () => {
    const { code, output } = await runToEnd('run', { ...settings, LISTENER_EXIT: '0' });
    assert.match(output, /runner run: error: AZP_CONFIG_DIR='.*' holds no registration/);
    assert.doesNotMatch(output, /running agent|listener:/);
    assert.equal(code, 78, output);
  });

  it('exits 0 when the job was done and a stop ends the wait for the recycle sidecar', async () => {
    const recycleDir = mkdtempSync(join(dir, 'recycle-'));
    chmodSync(recycleDir, 0o1777);
    // The sidecar's side: it lets the agent start by taking the request away.
    const sidecar = setInterval(() => rmSync(join(recycleDir, recycleFiles.agentStart), { force: true }), 20);
    try {
      const run = await stopAt('run', { ...settings, AZP_RECYCLE_DIR: recycleDir, LISTENER_EXIT: '0' }, { atLine: /waiting for the recycle sidecar/ }, undefined, saved);
      assert.ok(!run.missed, run.timeline);
      assert.ok(readdirSync(recycleDir).includes(recycleFiles.jobDone), 'the job-done word left for the sidecar');
      assert.ok(run.goneMs <= limitMs, run.timeline);
      assert.equal(run.code, 0, run.timeline);
    } finally {
      clearInterval(sidecar);
    }
  });
});
