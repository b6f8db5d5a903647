// `runner.js supervise`, the bundle the image runs, over real processes: a stop signal reaches the agent listener
// only, never run.sh or the job's processes, and the agent's exit code comes back. And the notice that the agent took
// a job: the agent's output passed on byte for byte, one notice to the autoscaler (a real local HTTP server) on the
// listener's `Running job:` line, and nothing the autoscaler does changes how the agent ends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRunner } from '../../../scripts/build.mjs';

const dir = mkdtempSync(join(tmpdir(), 'supervise-'));
const bundle = join(dir, 'bundle', 'runner.js');

before(async () => {
  await buildRunner(bundle);
  // An agent in miniature: the listener runs a job step; each notes a SIGTERM in a file named after it. The listener
  // ends its step with SIGKILL, so a step.sh.TERM can only come from the supervisor. It names the step by `$!`, set
  // as the step starts: a signal between that and `job=$!` would otherwise leave it waiting for a step it never ended.
  const script = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\ntrap 'touch "${dir}/${name}.TERM"; ${name === 'listener.sh' || name === 'session.sh' ? 'kill -KILL $!; wait $!; exit 3' : 'exit 9'}' TERM\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  script('step.sh', `touch "${dir}/ready"; while :; do sleep 0.1; done`);
  script('listener.sh', `echo "listener: Listening for Jobs"; "${dir}/step.sh" & job=$!; wait $job`);
  // A listener still creating its session (the request out, no answer yet) when the signal comes: it notes whether
  // the signal came only once its session existed.
  script('session.sh', `touch "${dir}/starting"; sleep 0.8 & wait $!; touch "${dir}/listening"; echo "listener: Listening for Jobs"; "${dir}/step.sh" & job=$!; wait $job`);
  writeFileSync(join(dir, 'session-run.sh'), `#!/bin/bash\nexec "${dir}/session.sh"\n`);
  chmodSync(join(dir, 'session-run.sh'), 0o755);
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
    // The signal waits for the listener's line (below), so it meets the listener running: it ends its job itself
    // (3). On a machine so loaded that the line takes over 1.5 s, it meets the subshell, then the listener, or the
    // instant after run.sh forked it and before it became the listener: then it never starts (run.sh ends 143), and
    // no step ran. Never run.sh or a step; and an unsignalled listener would run its step past the 5 s the stop may take.
    const stops = stdout.match(/stopping the agent listener/g)?.length;
    if (signalled().length === 0) {
      assert.equal(code, 143);
      assert.ok(!existsSync(join(dir, 'ready')), 'no step ran');
    } else {
      assert.deepEqual(signalled(), ['listener.sh.TERM']);
      assert.equal(code, 3);
    }
    assert.ok(stops === 1 || stops === 2, `${stops}: the listener alone, or the subshell first`);
  });

  it('signals a listener still creating its session only once it has one, within 1.5 s', async () => {
    for (const file of ['listening']) rmSync(join(dir, file), { force: true });
    const started = Date.now();
    const { code } = await stopDuringJob('session-run.sh', 'starting');
    // Signalled while its request was out, the session would stay behind, unknown to it: the agent online.
    assert.ok(existsSync(join(dir, 'listening')), 'the listener had its session when the signal came');
    assert.deepEqual(signalled(), ['session.sh.TERM']);
    assert.equal(code, 3);
    assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
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

/**
 * The autoscaler's notice port, in miniature: every request it gets, and a file touched once one came. `cut`: how many
 * connections it cuts for its first `cutMs`, as when other pods hold every connection it takes.
 */
async function autoscaler(answer = true, cutMs = 0): Promise<{ url: string; notices: Array<{ method?: string; url?: string; body: string }>; server: Server }> {
  const notices: Array<{ method?: string; url?: string; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      notices.push({ method: req.method, url: req.url, body });
      writeFileSync(join(dir, 'noticed'), '');
      if (answer) res.writeHead(202).end();
    });
  });
  const cutUntil = Date.now() + cutMs;
  server.on('connection', (socket) => {
    if (Date.now() < cutUntil) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/job-started`, notices, server };
}

/** What the handshake leaves in the agent root: the agent's settings and where to send the notice. */
function agentRoot(notice?: { url: string; agentId: number }): string {
  const root = mkdtempSync(join(dir, 'agent-'));
  writeFileSync(join(root, '.agent'), JSON.stringify({ agentId: notice?.agentId ?? 42, agentName: 'linux-0' }));
  if (notice !== undefined) writeFileSync(join(root, '.job-notice'), JSON.stringify(notice));
  return root;
}

/** A listener's output: text, bytes that are no UTF-8, and its line on taking a job, as the agent writes it. */
const stamp = '2026-01-02 03:04:05Z';
const agentOutput = (job: string) => [
  'printf \'Scanning for tool capabilities.\\n\\xff\\xfe\\x00 not UTF-8\\n\'',
  `printf '${stamp}: Listening for Jobs\\n'`,
  job,
].join('\n');

/** `supervise -- bash -c <script>` in `cwd`, the agent root; its exit code and stdout, byte for byte. */
async function superviseScript(cwd: string, script: string): Promise<{ code: number | null; stdout: Buffer }> {
  const child = spawn(process.execPath, [bundle, 'supervise', '--', 'bash', '-c', script], { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const code = await Promise.race([
    new Promise<number | null>((resolve) => child.on('close', resolve)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('supervise did not end within 10 s')), 10_000)),
  ]);
  return { code, stdout: Buffer.concat(chunks) };
}

/** The supervisor's own lines taken out: what is left is the agent's output. */
const withoutOwnLines = (stdout: Buffer) => Buffer.from(stdout.toString('latin1').replace(/^runner supervise: .*\n/gm, ''), 'latin1');
const ownLines = (stdout: Buffer) => stdout.toString('latin1').match(/^runner supervise: .*$/gm) ?? [];

/** Waits for the notice (at most 5 s), as a job runs on for a while after its listener's line. */
const waitForNotice = `for i in $(seq 50); do [ -e "${dir}/noticed" ] && break; sleep 0.1; done`;

describe('runner.js supervise: the notice that the agent took a job', () => {
  it('passes the agent\'s output on byte for byte and sends one notice with the agent id on the listener\'s line', async () => {
    rmSync(join(dir, 'noticed'), { force: true });
    const { url, notices, server } = await autoscaler();
    try {
      const root = agentRoot({ url, agentId: 42 });
      // A second line like it later (a job step's output, or a forged one) sends nothing more.
      const script = agentOutput(`printf '${stamp}: Running job: Build\\n'\n${waitForNotice}\nprintf '${stamp}: Running job: again\\n'\nprintf 'no newline at the end'\nexit 5`);
      const expected = spawnSyncOutput(script);
      const { code, stdout } = await superviseScript(root, script);
      assert.equal(code, 5);
      assert.deepEqual(withoutOwnLines(stdout), expected);
      assert.deepEqual(notices, [{ method: 'POST', url: '/job-started', body: JSON.stringify({ agentId: 42 }) }]);
    } finally {
      server.close();
    }
  });

  for (const cutMs of [600, 3000]) it(`tries again within its deadline when the autoscaler cuts its connections for ${cutMs} ms`, async () => {
    rmSync(join(dir, 'noticed'), { force: true });
    const { url, notices, server } = await autoscaler(true, cutMs);
    try {
      const { code, stdout } = await superviseScript(agentRoot({ url, agentId: 42 }), `printf '${stamp}: Running job: Build\\n'\n${waitForNotice}`);
      assert.equal(code, 0);
      assert.deepEqual(notices.map((notice) => notice.body), [JSON.stringify({ agentId: 42 })]);
      assert.deepEqual(ownLines(stdout), []);
    } finally {
      server.close();
    }
  });

  it('sends the notice its grant gave, whatever a job writes into the agent root before the line', async () => {
    rmSync(join(dir, 'noticed'), { force: true });
    const { url, notices, server } = await autoscaler();
    const elsewhere = await autoscaler();
    try {
      const root = agentRoot({ url, agentId: 42 });
      const forged = JSON.stringify({ url: elsewhere.url, agentId: 99 }).replaceAll('"', '\\"');
      const script = `echo "${forged}" > .job-notice\necho '{"agentId":99}' > .agent\nprintf '${stamp}: Running job: Build\\n'\n${waitForNotice}`;
      const { code } = await superviseScript(root, script);
      assert.equal(code, 0);
      assert.deepEqual(notices.map((notice) => notice.body), [JSON.stringify({ agentId: 42 })]);
      assert.deepEqual(elsewhere.notices, []);
    } finally {
      server.close();
      elsewhere.server.close();
    }
  });

  it('sends none without the listener\'s line, nor without a notice address from its grant', async () => {
    const { url, notices, server } = await autoscaler();
    try {
      // The name alone, mid-line, or not at the start of a line is not the listener taking a job.
      const script = agentOutput(`printf 'Running job: Build\\nsome step says ${stamp}: Running job: x\\n'`);
      assert.equal((await superviseScript(agentRoot({ url, agentId: 42 }), script)).code, 0);
      assert.equal((await superviseScript(agentRoot(), agentOutput(`printf '${stamp}: Running job: Build\\n'`))).code, 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(notices, []);
    } finally {
      server.close();
    }
  });

  it('keeps the agent\'s exit code and output when the autoscaler is unreachable or never answers, and says so once', async () => {
    const gone = await autoscaler();
    await new Promise((resolve) => gone.server.close(resolve));
    const silent = await autoscaler(false);
    try {
      for (const url of [gone.url, silent.url]) {
        const script = agentOutput(`printf '${stamp}: Running job: Build\\n'\nsleep 0.3\nprintf '${stamp}: Running job: again\\n'\nexit 7`);
        const started = Date.now();
        const { code, stdout } = await superviseScript(agentRoot({ url, agentId: 42 }), script);
        assert.equal(code, 7, url);
        assert.deepEqual(withoutOwnLines(stdout), spawnSyncOutput(script));
        assert.ok(Date.now() - started < 5000, "the agent's end waits for no notice");
        if (url === gone.url) assert.deepEqual(ownLines(stdout).filter((line) => /could not tell the autoscaler/.test(line)).length, 1, stdout.toString());
      }
    } finally {
      silent.server.closeAllConnections();
      silent.server.close();
    }
  });
});

/** What the agent script prints run on its own: the bytes supervise must pass on. */
function spawnSyncOutput(script: string): Buffer {
  return spawnSync('bash', ['-c', script.replace(waitForNotice, '')], { cwd: dir }).stdout;
}
