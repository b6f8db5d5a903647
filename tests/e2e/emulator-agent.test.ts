// The agent double against the emulator, as the runner image uses it: download, config.sh, run.sh --once, demands, offline agents, signals.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { agentPackage, unpackAgent } from '../support/agent-package.js';
import { startEmulator, type AdminJob, type TestEmulator } from '../support/emulator.js';

let emulator: TestEmulator;
const dirs: string[] = [];
const children = new Set<ChildProcess>();
const POOL = 'RunnerPool';

before(async () => {
  emulator = await startEmulator({ pools: [POOL], pollTimeoutMs: 3000, agentPackage: await agentPackage() });
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await emulator.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Environment of a double: allowed to run as root (tests run as root), quick re-polls, plus per-agent variables. */
function agentEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, AGENT_ALLOW_RUNASROOT: '1', AGENT_DOUBLE_POLL_BACKOFF_MS: '100', ...extra };
}

function configArgs(name: string): string[] {
  return ['--unattended', '--url', emulator.orgUrl, '--auth', 'pat', '--token', 'emulator-pat', '--pool', POOL, '--agent', name, '--replace', '--work', '_work', '--acceptTeeEula'];
}

/** Runs a script to completion without blocking the event loop (the emulator answers from this same process). */
function exec(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function configure(dir: string, name: string, env: Record<string, string> = {}) {
  return exec(join(dir, 'config.sh'), configArgs(name), agentEnv(env));
}

async function newAgent(name: string, env: Record<string, string> = {}): Promise<string> {
  const dir = await unpackAgent(`${name}-`);
  dirs.push(dir);
  const result = await configure(dir, name, env);
  assert.equal(result.status, 0, result.stdout + result.stderr);
  return dir;
}

/** Starts run.sh; resolves with its exit code and output. */
function run(dir: string, env: Record<string, string> = {}, once = true): { child: ChildProcess; exit: Promise<{ code: number | null; output: string }> } {
  const child = spawn(join(dir, 'run.sh'), once ? ['--once'] : [], { env: agentEnv(env) });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => {
    children.delete(child);
    resolve({ code, output });
  }));
  return { child, exit };
}

async function online(name: string, expected: 'online' | 'offline'): Promise<void> {
  await emulator.admin.waitFor(() => emulator.admin.agents(POOL), (agents) => agents.some((a) => a.name === name && a.status === expected), 15_000, `${name} ${expected}`);
}

async function queue(script: string, demands: string[] = [], env: Record<string, string> = {}): Promise<AdminJob> {
  const job = await emulator.admin.queueJob({ pool: POOL, script, demands, env });
  assert.ok('requestId' in job, JSON.stringify(job));
  return job;
}

test('the package is discoverable and downloadable like the real one, with a matching sha256', async () => {
  const headers = { Authorization: `Basic ${Buffer.from(':emulator-pat').toString('base64')}` };
  const found = await (await fetch(`${emulator.orgUrl}/_apis/distributedtask/packages/agent?platform=linux-x64&$top=1`, { headers })).json() as { value: { downloadUrl: string; hashValue: string; filename: string }[] };
  const archive = Buffer.from(await (await fetch(found.value[0].downloadUrl)).arrayBuffer());
  assert.equal(createHash('sha256').update(archive).digest('hex'), found.value[0].hashValue);
  const dir = mkdtempSync(join(tmpdir(), 'agent-download-'));
  dirs.push(dir);
  writeFileSync(join(dir, found.value[0].filename), archive);
  assert.equal(spawnSync('tar', ['-xzf', found.value[0].filename], { cwd: dir }).status, 0);
  for (const file of ['config.sh', 'run.sh', 'env.sh', 'bin/Agent.Listener', 'externals/node/bin/node']) {
    assert.ok(statSync(join(dir, file)).mode & 0o100, `${file} is executable`);
  }
});

test('config.sh refuses to run as root without AGENT_ALLOW_RUNASROOT', { skip: process.getuid?.() !== 0 }, async () => {
  const dir = await unpackAgent('root-');
  dirs.push(dir);
  const env = { ...process.env };
  delete env.AGENT_ALLOW_RUNASROOT;
  const result = await exec(join(dir, 'config.sh'), configArgs('root-agent'), env);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /Must not run with sudo/);
  assert.equal(existsSync(join(dir, '.agent')), false);
});

test('two --once agents: each job runs on a matching agent, then each agent exits 0', async () => {
  const gpu = await newAgent('agent-gpu', { HAS_GPU: 'yes' });
  const plain = await newAgent('agent-plain', { SECRET_THING: 'hidden', VSO_AGENT_IGNORE: 'SECRET_THING' });
  for (const file of ['.agent', '.credentials', '.credentials_rsaparams']) assert.equal(statSync(join(gpu, file)).mode & 0o777, 0o600, file);
  const runs = [run(gpu, { HAS_GPU: 'yes' }), run(plain, { SECRET_THING: 'hidden', VSO_AGENT_IGNORE: 'SECRET_THING' })];
  await online('agent-gpu', 'online');
  await online('agent-plain', 'online');
  const agents = await emulator.admin.agents(POOL);
  const capabilities = (name: string) => agents.find((a) => a.name === name)?.systemCapabilities as Record<string, string>;
  assert.equal(capabilities('agent-gpu').HAS_GPU, 'yes');
  assert.equal(capabilities('agent-plain').SECRET_THING, undefined, 'VSO_AGENT_IGNORE keeps a variable out of the capabilities');
  assert.equal(capabilities('agent-plain')['Agent.Name'], 'agent-plain');

  const gpuJob = await queue('echo "gpu job on $AGENT_NAME with $GREETING"', ['HAS_GPU -equals yes', 'Agent.Version -gtVersion 2.182.1'], { greeting: 'hello' });
  const anyJob = await queue('echo "any job"; exit 3');
  const [gpuDone, anyDone] = await Promise.all([emulator.admin.waitForJob(gpuJob.requestId), emulator.admin.waitForJob(anyJob.requestId)]);
  assert.equal(gpuDone.agentName, 'agent-gpu');
  assert.equal(gpuDone.result, 'succeeded');
  assert.ok(gpuDone.log.some((line) => line.endsWith('gpu job on agent-gpu with hello')), gpuDone.log.join('\n'));
  assert.equal(anyDone.agentName, 'agent-plain');
  assert.equal(anyDone.result, 'failed');
  assert.ok(anyDone.log.some((line) => line.includes("Bash exited with code '3'")));
  for (const { exit } of runs) assert.equal((await exit).code, 0);
  await online('agent-gpu', 'offline');
  const served = await emulator.admin.requests();
  assert.ok(served.some((entry) => entry.method === 'DELETE' && /\/sessions\//.test(entry.path) && entry.status === 204));
  assert.ok(served.every((entry) => !(entry.principal?.startsWith('pat:') && /\/(sessions|messages)/.test(entry.path))), 'run.sh never uses the PAT');
});

test('a job nobody in the pool could run is rejected at queue time', async () => {
  const rejected = await emulator.admin.queueJob({ pool: POOL, script: 'true', demands: ['Kubernetes.Node -equals none'] });
  assert.deepEqual(rejected, { rejected: `No agent found in pool ${POOL} which satisfies the specified demands: Kubernetes.Node -equals none` });
});

test('a job whose only matching agent is offline waits, then runs when the agent comes back', async () => {
  const job = await queue('echo back again', ['HAS_GPU']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal((await emulator.admin.job(job.requestId)).state, 'queued');
  const gpuDir = dirs.find((dir) => dir.includes('agent-gpu-'))!;
  const { exit } = run(gpuDir, { HAS_GPU: 'yes' });
  const done = await emulator.admin.waitForJob(job.requestId);
  assert.equal(done.agentName, 'agent-gpu');
  assert.equal(done.result, 'succeeded');
  assert.equal((await exit).code, 0);
});

test('SIGTERM during a job kills it, finishes it as canceled, deletes the session and exits 0', async () => {
  const dir = dirs.find((d) => d.includes('agent-plain-'))!;
  const { child, exit } = run(dir);
  await online('agent-plain', 'online');
  const job = await queue('echo started; sleep 60; echo never');
  await emulator.admin.waitFor(() => emulator.admin.job(job.requestId), (j) => j.log.length > 0 || j.state === 'running', 10_000, 'job running');
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.kill('SIGTERM');
  const { code } = await exit;
  assert.equal(code, 0);
  const done = await emulator.admin.job(job.requestId);
  assert.equal(done.result, 'canceled');
  assert.ok(!done.log.some((line) => line.endsWith('never')));
  assert.equal((await emulator.admin.agents(POOL)).find((a) => a.name === 'agent-plain')?.status, 'offline');
});

test('cancelling a running job from the service side cancels it on the agent', async () => {
  const dir = dirs.find((d) => d.includes('agent-plain-'))!;
  const { exit } = run(dir);
  await online('agent-plain', 'online');
  const job = await queue('sleep 60');
  await emulator.admin.waitFor(() => emulator.admin.job(job.requestId), (j) => j.state === 'running', 10_000, 'job running');
  await emulator.admin.cancelJob(job.requestId);
  assert.equal((await emulator.admin.waitForJob(job.requestId)).result, 'canceled');
  assert.equal((await exit).code, 0);
});

test('SIGTERM while idle deletes the session and exits 0', async () => {
  const dir = dirs.find((d) => d.includes('agent-plain-'))!;
  const { child, exit } = run(dir);
  await online('agent-plain', 'online');
  child.kill('SIGTERM');
  assert.equal((await exit).code, 0);
  await online('agent-plain', 'offline');
});

test('an update message ends a --once agent before any job (exit 4), unless agent.disableupdate is set', async () => {
  const dir = await newAgent('agent-update');
  const agentId = async () => Number((await emulator.admin.agents(POOL)).find((a) => a.name === 'agent-update')!.id);
  /** A run that gets the update message and then a job: it stays for the job, and exits 0 after it (--once). */
  const staysFor = async (target: string, env: Record<string, string>, said: RegExp) => {
    const agent = run(dir, env);
    await online('agent-update', 'online');
    await emulator.admin.sendAgentRefresh(await agentId(), target);
    const job = await queue('echo ran', ['Agent.Name -equals agent-update']);
    assert.equal((await emulator.admin.waitForJob(job.requestId)).result, 'succeeded');
    const exit = await agent.exit;
    assert.equal(exit.code, 0);
    assert.match(exit.output, said);
  };
  // The variable set (any value): the message is ignored, whatever it asks for.
  await staysFor('99.0.0', { 'agent.disableupdate': 'true' }, /skipping autoupdate since agent\.disableupdate is set/);
  // A target no newer than the agent's own version changes nothing, as the agent's SelfUpdater decides.
  await staysFor('2.0.0', {}, /no update to 2\.0\.0/);

  // Idle: it leaves to update before any job (4: RunOnceAgentUpdating).
  const idle = run(dir);
  await online('agent-update', 'online');
  await emulator.admin.sendAgentRefresh(await agentId(), '99.0.0');
  const idleExit = await idle.exit;
  assert.equal(idleExit.code, 4, idleExit.output);
  assert.match(idleExit.output, /Self-update task initiated, target version: 99\.0\.0/);

  // Busy: its job finishes first, then it leaves to update instead of exiting 0 as a --once run does.
  const busy = run(dir);
  await online('agent-update', 'online');
  const running = await queue('sleep 2; echo done', ['Agent.Name -equals agent-update']);
  await emulator.admin.waitFor(() => emulator.admin.job(running.requestId), (j) => j.state === 'running', 10_000, 'job running');
  await emulator.admin.sendAgentRefresh(await agentId(), '99.0.0');
  const busyExit = await busy.exit;
  assert.equal(busyExit.code, 4, busyExit.output);
  assert.equal((await emulator.admin.waitForJob(running.requestId)).result, 'succeeded');
});

test('VSTS_AGENT_INPUT_* configures too, the token leaves the environment, and --replace reuses the registration', async () => {
  const dir = await unpackAgent('env-agent-');
  dirs.push(dir);
  const inputs = {
    VSTS_AGENT_INPUT_URL: emulator.orgUrl, VSTS_AGENT_INPUT_AUTH: 'PAT', VSTS_AGENT_INPUT_TOKEN: 'emulator-pat', VSTS_AGENT_INPUT_POOL: POOL,
    VSTS_AGENT_INPUT_AGENT: 'agent-gpu', VSTS_AGENT_INPUT_REPLACE: 'true', VSTS_AGENT_INPUT_ACCEPTTEEEULA: 'true',
  };
  const before = (await emulator.admin.agents(POOL)).find((a) => a.name === 'agent-gpu');
  const result = await exec(join(dir, 'config.sh'), ['--unattended'], agentEnv(inputs));
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /Successfully replaced the agent/);
  const after = (await emulator.admin.agents(POOL)).find((a) => a.name === 'agent-gpu');
  assert.equal(after?.id, before?.id);
  const capabilities = after?.systemCapabilities as Record<string, string>;
  assert.equal(capabilities.VSTS_AGENT_INPUT_TOKEN, undefined);
  assert.equal(capabilities.VSTS_AGENT_INPUT_POOL, POOL);
  // The old agent directory's key was replaced: its run.sh can no longer get a token and stops with exit 1.
  const stale = run(dirs.find((d) => d.includes('agent-gpu-'))!);
  assert.equal((await stale.exit).code, 1);
});

test('run.sh exits 1 when its agent was deleted; config.sh remove unregisters', async () => {
  const dir = await newAgent('agent-doomed');
  const agent = (await emulator.admin.agents(POOL)).find((a) => a.name === 'agent-doomed')!;
  const headers = { Authorization: `Basic ${Buffer.from(':emulator-pat').toString('base64')}` };
  const removed = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/1/agents/${String(agent.id)}?api-version=7.1`, { method: 'DELETE', headers });
  assert.equal(removed.status, 204);
  assert.equal((await run(dir).exit).code, 1);

  const other = await newAgent('agent-removed');
  const result = await exec(join(other, 'config.sh'), ['remove', '--unattended', '--auth', 'pat', '--token', 'emulator-pat'], agentEnv());
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.equal((await emulator.admin.agents(POOL)).some((a) => a.name === 'agent-removed'), false);
  assert.equal(existsSync(join(other, '.credentials')), false);
});
