// E2E: the runner image, built and run for real on Docker, against the emulator with the agent double as its agent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, run, startDocker, type DockerEngine } from '../support/docker.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { agentPackage } from '../support/agent-package.js';
import { buildRunnerImage, discoverAgentPackage, ensureBaseImage } from '../support/runner-image.js';

const POOL = 'runners';
const AGENT_UID = 10001;
const IMAGE = 'localhost/azp-runner:e2e';
const token = `pat-${randomBytes(20).toString('hex')}`;
const sp = { clientId: `sp-${randomBytes(8).toString('hex')}`, tenantId: 'tenant-e2e', secret: `sps-${randomBytes(20).toString('hex')}` };

let engine: DockerEngine | undefined;
let emulator: TestEmulator;
const containers: string[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'adr-image-e2e-'));

before(async () => {
  engine = await startDocker();
  await ensureBaseImage();
  emulator = await startEmulator({
    pats: [{ token, user: 'runner@e2e.example', scopes: ['vso.agentpools_manage'] }],
    servicePrincipals: [sp],
    pools: [POOL],
    agentPackage: await agentPackage(),
  });
  // Bake in the package the emulator offers (the build verifies its checksum).
  const pkg = await discoverAgentPackage(emulator.orgUrl, token);
  await buildRunnerImage({ tag: IMAGE, packageUrl: pkg.downloadUrl, sha256: pkg.hashValue });
});

after(async () => {
  for (const name of containers) await run('docker', ['rm', '-f', name]);
  // Each run bakes in a package from a new emulator port, so the image is never reused: don't let them pile up.
  await run('docker', ['rmi', '-f', IMAGE]);
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
  await engine?.stop();
});

interface AgentContainer {
  env?: Record<string, string>;
  credential?: 'pat' | 'sp' | 'none';
  mounts?: string[];
  mode?: string;
}

/** `docker run` options of a runner container: host network (the emulator is on loopback), restricted like a pod. */
function runArgs(agentName: string, options: AgentContainer): { args: string[]; env: NodeJS.ProcessEnv } {
  const env: Record<string, string> = { AZP_URL: emulator.orgUrl, AZP_POOL: POOL, AZP_AGENT_NAME: agentName, ...options.env };
  const credential = options.credential ?? 'pat';
  if (credential === 'pat') env.AZP_TOKEN = token;
  if (credential === 'sp') Object.assign(env, { AZP_CLIENT_ID: sp.clientId, AZP_TENANT_ID: sp.tenantId, AZP_CLIENT_SECRET: sp.secret });
  const args = ['--network', 'host', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
  // `-e NAME` takes the value from the docker client's environment: secrets stay off command lines.
  for (const name of Object.keys(env)) args.push('-e', name);
  for (const mount of options.mounts ?? []) args.push('-v', mount);
  return { args: [...args, IMAGE, ...(options.mode ? [options.mode] : [])], env: { ...process.env, ...env } };
}

let counter = 0;
async function startAgent(agentName: string, options: AgentContainer = {}): Promise<string> {
  const container = `adr-e2e-${process.pid}-${++counter}`;
  const { args, env } = runArgs(agentName, options);
  containers.push(container);
  await docker(['run', '-d', '--name', container, ...args], { env });
  return container;
}

/** Runs a container to its end; returns its exit code and output. */
async function runToEnd(agentName: string, options: AgentContainer = {}) {
  const { args, env } = runArgs(agentName, options);
  return run('docker', ['run', '--rm', ...args], { env, timeoutMs: 120_000 });
}

/** Starts a runner container and waits until its agent is online (a pool without agents rejects jobs). */
async function startOnline(agentName: string, options: AgentContainer = {}): Promise<string> {
  const container = await startAgent(agentName, options);
  await waitOnline(agentName).catch(async (error: Error) => {
    throw new Error(`${error.message}\ncontainer log:\n${await logs(container)}`);
  });
  return container;
}

async function exitCode(container: string, timeoutMs = 60_000): Promise<number> {
  const result = await run('docker', ['wait', container], { timeoutMs });
  assert.equal(result.code, 0, `container ${container} did not exit within ${timeoutMs} ms`);
  return Number(result.stdout.trim());
}

const logs = async (container: string) => {
  const result = await run('docker', ['logs', container]);
  return result.stdout + result.stderr;
};

async function agentsNamed(name: string) {
  return (await emulator.admin.agents(POOL)).filter((agent) => agent.name === name);
}

async function waitOnline(name: string) {
  await emulator.admin.waitFor(() => agentsNamed(name), (found) => found.some((a) => a.status === 'online'), 60_000, `${name} online`);
}

/** Queues a job for the pool and waits for its result. */
async function runJob(script: string, env?: Record<string, string>, timeoutMs = 90_000) {
  const queued = await emulator.admin.queueJob({ pool: POOL, script, env });
  assert.ok(!('rejected' in queued), `job rejected: ${JSON.stringify(queued)}`);
  const job = await emulator.admin.waitForJob(queued.requestId, timeoutMs);
  return { job, log: await emulator.admin.jobLog(job.requestId) };
}

/** A needle written into a script so that the script text never contains it in one piece. */
const split = (secret: string) => `'${secret.slice(0, 8)}''${secret.slice(8)}'`;

test('the container registers under its name, runs one job, reports the result and exits 0', async () => {
  const container = await startOnline('slot-0');
  const { job, log } = await runJob('echo "hello from $(id -un)"');
  assert.equal(job.result, 'succeeded');
  assert.equal(job.agentName, 'slot-0');
  assert.match(log, /hello from agent/);
  assert.equal(await exitCode(container), 0);
  const output = await logs(container);
  assert.match(output, /registering agent 'slot-0' in pool 'runners'/);
  assert.ok(!output.includes(token), 'the PAT never reaches the container log');
  const [agent] = await agentsNamed('slot-0');
  assert.equal(agent.status, 'offline', 'the registration is kept after the job');
});

test('a restarted or new container with the same name reuses the registration and starts clean', async () => {
  const leave = [
    'for d in /azp/agent/_work "$HOME" /tmp /azp/agent; do echo job1 > "$d/job1-marker" && echo "wrote:$d"; done',
    'rm -f /azp/agent/config.sh 2>/dev/null || echo "protected:$(basename /azp/agent/config.sh)"',
    'echo tampered > /azp/agent/run.sh 2>/dev/null || echo "protected:$(basename /azp/agent/run.sh)"',
  ].join('\n');
  const look = 'for d in /azp/agent/_work "$HOME" /tmp /azp/agent; do [ -e "$d/job1-marker" ] && echo "left:$d"; done; echo "looked:$((1 + 1))"';

  const container = await startOnline('slot-1');
  const first = await runJob(leave);
  assert.equal(first.job.result, 'succeeded');
  for (const dir of ['/azp/agent/_work', '/home/agent', '/tmp', '/azp/agent']) assert.ok(first.log.includes(`wrote:${dir}\n`), dir);
  assert.match(first.log, /protected:config\.sh/);
  assert.match(first.log, /protected:run\.sh/);
  assert.equal(await exitCode(container), 0);
  const [registered] = await agentsNamed('slot-1');

  // Docker's restart policy restarts the same container in place: same filesystem, so the entrypoint must clean it.
  await docker(['start', container]);
  await waitOnline('slot-1');
  const second = await runJob(look);
  assert.equal(second.job.result, 'succeeded');
  assert.match(second.log, /looked:2/);
  assert.doesNotMatch(second.log, /left:\//);
  assert.equal(await exitCode(container), 0);

  const fresh = await startOnline('slot-1');
  const third = await runJob(look);
  assert.match(third.log, /looked:2/);
  assert.doesNotMatch(third.log, /left:\//);
  assert.equal(await exitCode(fresh), 0);

  const agents = await agentsNamed('slot-1');
  assert.equal(agents.length, 1, 'no duplicate registrations');
  assert.equal(agents[0].id, registered.id);
});

test('a job step finds the credential nowhere: environment, /proc/*/environ, cmdlines, files', async () => {
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  // The scan looks for two needles: the credential (must be absent) and a canary that the job's own environment
  // carries (must be found, or the scan itself is broken).
  const scan = (secret: string) => `
found() { grep -qF -f <(printf '%s\\n' "$1"); }
scan() {
  env | found "$2" && echo "$1 env"
  for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
    [ -r "$f" ] && tr '\\0' '\\n' < "$f" 2>/dev/null | found "$2" && echo "$1 $f"
  done
  grep -rlsF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev -f <(printf '%s\\n' "$2") / | sed "s|^|$1 file |"
}
scan SECRET ${split(secret)}
scan CANARY ${split(canary)}
unreadable=0
for f in /proc/[0-9]*/environ; do [ -r "$f" ] || unreadable=$((unreadable + 1)); done
echo "UNREADABLE $unreadable"
echo "UIDS $(awk '/^Uid:/ {print $2, $3}' /proc/[0-9]*/status | tr ' ' '\\n' | sort -u | tr '\\n' ' ')"
echo "PID1 $(tr '\\0' ' ' < /proc/1/cmdline)"
echo "SCAN-$((6 * 7))"`;
  for (const [credential, secret] of [['pat', token], ['sp', sp.secret]] as const) {
    const container = await startOnline(`scan-${credential}`, { credential });
    const { job, log } = await runJob(scan(secret), { SCAN_CANARY: canary });
    assert.equal(job.result, 'succeeded', log);
    assert.match(log, /SCAN-42/);
    assert.match(log, /CANARY env/, 'the scan finds what is there');
    assert.match(log, /CANARY \/proc\/\d+\/environ/);
    assert.doesNotMatch(log, /SECRET (env|\/proc|file)/, `the ${credential} credential is reachable:\n${log}`);
    assert.match(log, /UNREADABLE [2-9]/, 'PID 1 and start.sh are not dumpable');
    assert.match(log, /UIDS 10001 $/m, 'every process runs as the agent user');
    assert.match(log, /PID1 \/usr\/local\/lib\/azp\/init /);
    assert.equal(await exitCode(container), 0);
  }
});

test('SIGTERM while idle stops the container within a few seconds', async () => {
  const container = await startAgent('idle-0');
  await waitOnline('idle-0');
  const started = Date.now();
  await docker(['kill', '--signal', 'TERM', container]);
  const code = await exitCode(container, 30_000);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(code, 143);
  assert.ok(seconds < 5, `took ${seconds} s`);
  await emulator.admin.waitFor(() => agentsNamed('idle-0'), (found) => found[0]?.status === 'offline', 10_000, 'idle-0 offline');
});

test('SIGTERM during a job ends the job as canceled, then the container', async () => {
  const container = await startOnline('busy-0');
  const queued = await emulator.admin.queueJob({ pool: POOL, script: 'echo started; sleep 300' });
  assert.ok(!('rejected' in queued));
  await emulator.admin.waitFor(() => emulator.admin.job(queued.requestId), (job) => job.state === 'running', 60_000, 'job running');
  await docker(['kill', '--signal', 'TERM', container]);
  const job = await emulator.admin.waitForJob(queued.requestId, 45_000);
  assert.equal(job.result, 'canceled');
  assert.equal(await exitCode(container, 45_000), 143);
});

test('register and run in separate containers: the run container never has the credential', async () => {
  const config = join(scratch, 'config');
  const tokenFile = join(scratch, 'token');
  await run('install', ['-d', '-o', String(AGENT_UID), '-g', String(AGENT_UID), '-m', '0700', config]);
  writeFileSync(tokenFile, `${token}\n`);
  chownSync(tokenFile, AGENT_UID, AGENT_UID);
  chmodSync(tokenFile, 0o400);

  const registered = await runToEnd('split-0', {
    credential: 'none', mode: 'register',
    env: { AZP_TOKEN_FILE: '/run/secrets/azp-token', AZP_CONFIG_DIR: '/azp/config' },
    mounts: [`${tokenFile}:/run/secrets/azp-token:ro`, `${config}:/azp/config`],
  });
  assert.equal(registered.code, 0, registered.stderr);
  const container = await startOnline('split-0', { credential: 'none', mode: 'run', env: { AZP_CONFIG_DIR: '/azp/config' }, mounts: [`${config}:/azp/config:ro`] });
  const { job, log } = await runJob(`grep -rlsF --exclude-dir=proc --exclude-dir=sys ${split(token)} / && echo "FOUND-$((1))"; echo "searched-$((2))"`);
  assert.equal(job.result, 'succeeded');
  assert.equal(job.agentName, 'split-0');
  assert.match(log, /searched-2/);
  assert.doesNotMatch(log, /FOUND-1/);
  assert.equal(await exitCode(container), 0);

  // The same read-only secret in the default mode: it would stay readable next to the job, so the entrypoint refuses.
  const refused = await runToEnd('split-1', {
    credential: 'none', env: { AZP_TOKEN_FILE: '/run/secrets/azp-token' }, mounts: [`${tokenFile}:/run/secrets/azp-token:ro`],
  });
  assert.equal(refused.code, 78);
  assert.match(refused.stderr, /AZP_TOKEN_FILE='\/run\/secrets\/azp-token' can't be deleted after use/);
  assert.equal((await agentsNamed('split-1')).length, 0, 'nothing registered');
});

test('the registration is removed only when the slot is retired', async () => {
  const container = await startOnline('retire-0', { env: { AZP_REMOVE_ON_EXIT: 'true' } });
  assert.equal((await runJob('true')).job.result, 'succeeded');
  assert.equal(await exitCode(container), 0);
  assert.equal((await agentsNamed('retire-0')).length, 0, 'AZP_REMOVE_ON_EXIT=true removed it');

  const kept = await startOnline('retire-1');
  assert.equal((await runJob('true')).job.result, 'succeeded');
  assert.equal(await exitCode(kept), 0);
  assert.equal((await agentsNamed('retire-1')).length, 1);
  const retired = await runToEnd('retire-1', { mode: 'retire' });
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal((await agentsNamed('retire-1')).length, 0, 'the retire mode removed it');
});

test('bad settings stop the container with a message naming the setting', async () => {
  const cases: [AgentContainer & { name?: string }, RegExp][] = [
    [{ env: { AZP_URL: '' } }, /AZP_URL is required/],
    [{ env: { AZP_URL: 'dev.azure.com/contoso' } }, /AZP_URL='dev\.azure\.com\/contoso' is not an http\(s\) organisation URL/],
    [{ credential: 'none' }, /no credential: set AZP_TOKEN_FILE or AZP_TOKEN/],
    [{ env: { AZP_CLIENT_ID: 'x' } }, /either a PAT \(AZP_TOKEN or AZP_TOKEN_FILE\) or a service principal/],
    [{ credential: 'none', env: { AZP_CLIENT_ID: 'x', AZP_CLIENT_SECRET: 'y' } }, /AZP_TENANT_ID is required/],
    [{ credential: 'none', env: { AZP_TOKEN_FILE: '/nonexistent' } }, /AZP_TOKEN_FILE='\/nonexistent' is not a readable file/],
    [{ name: 'bad name!' }, /AZP_AGENT_NAME='bad name!' must be/],
    [{ env: { AZP_REMOVE_ON_EXIT: 'yes' } }, /AZP_REMOVE_ON_EXIT must be true or false/],
    [{ mode: 'run', env: { AZP_CONFIG_DIR: '/tmp' } }, /run mode takes no credential/],
    [{ mode: 'register' }, /AZP_CONFIG_DIR is required in register mode/],
    [{ mode: 'serve' }, /unknown mode 'serve'/],
  ];
  for (const [options, message] of cases) {
    const result = await runToEnd(options.name ?? 'bad-0', options);
    assert.equal(result.code, 78, `${message}: exit ${result.code} ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.ok(!result.stderr.includes(token) && !result.stdout.includes(token));
  }
  assert.equal((await agentsNamed('bad-0')).length, 0);
});
