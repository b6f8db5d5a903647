// E2E: the runner image, built and run for real on Docker, against the emulator with the agent double as its agent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { docker, startDocker, type DockerEngine } from '../support/docker.js';
import { run } from '../support/process.js';
import { checkCredentialUnreachable, checkRunsOneJob, RunnerContainers, split, type AgentContainer } from '../support/runner-checks.js';
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
  runners = new RunnerContainers({ image: IMAGE, emulator, pool: POOL, token, sp });
});

after(async () => {
  await runners?.removeAll();
  // Each run bakes in a package from a new emulator port, so the image is never reused: don't let them pile up.
  await run('docker', ['rmi', '-f', IMAGE]);
  await emulator?.stop();
  rmSync(scratch, { recursive: true, force: true });
  await engine?.stop();
});

let runners: RunnerContainers;

test('the container registers under its name, runs one job as the agent user, reports the result and exits 0', async () => {
  await checkRunsOneJob(runners, 'slot-0');
});

test('a restarted or new container with the same name reuses the registration and starts clean', async () => {
  const leave = [
    'for d in /azp/agent/_work "$HOME" /tmp /azp/agent; do echo job1 > "$d/job1-marker" && echo "wrote:$d"; done',
    'rm -f /azp/agent/config.sh 2>/dev/null || echo "protected:$(basename /azp/agent/config.sh)"',
    'echo tampered > /azp/agent/run.sh 2>/dev/null || echo "protected:$(basename /azp/agent/run.sh)"',
  ].join('\n');
  const look = 'for d in /azp/agent/_work "$HOME" /tmp /azp/agent; do [ -e "$d/job1-marker" ] && echo "left:$d"; done; echo "looked:$((1 + 1))"';

  const container = await runners.startOnline('slot-1');
  const first = await runners.runJob(leave);
  assert.equal(first.job.result, 'succeeded');
  for (const dir of ['/azp/agent/_work', '/home/agent', '/tmp', '/azp/agent']) assert.ok(first.log.includes(`wrote:${dir}\n`), dir);
  assert.match(first.log, /protected:config\.sh/);
  assert.match(first.log, /protected:run\.sh/);
  assert.equal(await runners.exitCode(container), 0);
  const [registered] = await runners.agentsNamed('slot-1');

  // Docker's restart policy restarts the same container in place: same filesystem, so the entrypoint must clean it.
  await docker(['start', container]);
  await runners.waitOnline('slot-1');
  const second = await runners.runJob(look);
  assert.equal(second.job.result, 'succeeded');
  assert.match(second.log, /looked:2/);
  assert.doesNotMatch(second.log, /left:\//);
  assert.equal(await runners.exitCode(container), 0);

  const fresh = await runners.startOnline('slot-1');
  const third = await runners.runJob(look);
  assert.match(third.log, /looked:2/);
  assert.doesNotMatch(third.log, /left:\//);
  assert.equal(await runners.exitCode(fresh), 0);

  const agents = await runners.agentsNamed('slot-1');
  assert.equal(agents.length, 1, 'no duplicate registrations');
  assert.equal(agents[0].id, registered.id);
});

test('a job step finds the credential nowhere: environment, /proc/*/environ, cmdlines, files', async () => {
  const canary = `canary-${randomBytes(12).toString('hex')}`;
  for (const credential of ['pat', 'sp'] as const) await checkCredentialUnreachable(runners, `scan-${credential}`, credential, canary);
});

test('SIGTERM while idle stops the container within a few seconds', async () => {
  const container = await runners.start('idle-0');
  await runners.waitOnline('idle-0');
  const started = Date.now();
  await docker(['kill', '--signal', 'TERM', container]);
  const code = await runners.exitCode(container, 30_000);
  const seconds = (Date.now() - started) / 1000;
  assert.equal(code, 143);
  assert.ok(seconds < 5, `took ${seconds} s`);
  await emulator.admin.waitFor(() => runners.agentsNamed('idle-0'), (found) => found[0]?.status === 'offline', 10_000, 'idle-0 offline');
});

// The 2 s bound is the start script's own, asserted where nothing else adds time (tests/unit/images/start-stop.test.ts);
// here, through Docker's CLI on a machine that may be loaded, the bound only tells a stop acted on from one lost (the
// stop timeout), and the times are printed.
test('SIGTERM at any moment of the start stops the container at once, and leaves its agent offline', async () => {
  const times: string[] = [];
  const slow: string[] = [];
  for (const [index, delayMs] of [0, 250, 1000, 2000, 4000].entries()) {
    const name = `early-${index}`;
    const container = await runners.start(name);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    const started = Date.now();
    await docker(['kill', '--signal', 'TERM', container]);
    const code = await runners.exitCode(container, 70_000);
    const ms = Date.now() - started;
    times.push(`${delayMs} ms: ${ms} ms`);
    if (ms > 10_000) slow.push(`${delayMs} ms after the start: gone after ${ms} ms\n${await runners.logs(container)}`);
    assert.equal(code, 143, `stopped ${delayMs} ms after the start:\n${await runners.logs(container)}`);
    // A stopped container never takes a job: whatever it registered has no session.
    await emulator.admin.waitFor(() => runners.agentsNamed(name), (found) => found.every((agent) => agent.status === 'offline'), 10_000, `${name} offline`);
  }
  console.log(`container stopped after SIGTERM at: ${times.join(', ')}`);
  assert.deepEqual(slow, [], times.join(', '));
});

test('SIGTERM during a job ends the job as canceled, then the container', async () => {
  const container = await runners.startOnline('busy-0');
  const queued = await emulator.admin.queueJob({ pool: POOL, script: 'echo started; sleep 300' });
  assert.ok(!('rejected' in queued));
  await emulator.admin.waitFor(() => emulator.admin.job(queued.requestId), (job) => job.state === 'running', 60_000, 'job running');
  await docker(['kill', '--signal', 'TERM', container]);
  const job = await emulator.admin.waitForJob(queued.requestId, 45_000);
  assert.equal(job.result, 'canceled');
  assert.equal(await runners.exitCode(container, 45_000), 143);
});

test('register and run in separate containers: the run container never has the credential', async () => {
  const config = join(scratch, 'config');
  const tokenFile = join(scratch, 'token');
  await run('install', ['-d', '-o', String(AGENT_UID), '-g', String(AGENT_UID), '-m', '0700', config]);
  writeFileSync(tokenFile, `${token}\n`);
  chownSync(tokenFile, AGENT_UID, AGENT_UID);
  chmodSync(tokenFile, 0o400);

  const registered = await runners.runToEnd('split-0', {
    credential: 'none', mode: 'register',
    env: { AZP_TOKEN_FILE: '/run/secrets/azp-token', AZP_CONFIG_DIR: '/azp/config' },
    mounts: [`${tokenFile}:/run/secrets/azp-token:ro`, `${config}:/azp/config`],
  });
  assert.equal(registered.code, 0, registered.stderr);
  const container = await runners.startOnline('split-0', { credential: 'none', mode: 'run', env: { AZP_CONFIG_DIR: '/azp/config' }, mounts: [`${config}:/azp/config:ro`] });
  const { job, log } = await runners.runJob(`grep -rlsF --exclude-dir=proc --exclude-dir=sys ${split(token)} / && echo "FOUND-$((1))"; echo "searched-$((2))"`);
  assert.equal(job.result, 'succeeded');
  assert.equal(job.agentName, 'split-0');
  assert.match(log, /searched-2/);
  assert.doesNotMatch(log, /FOUND-1/);
  assert.equal(await runners.exitCode(container), 0);

  // The same read-only secret in the default mode: it would stay readable next to the job, so the entrypoint refuses.
  const refused = await runners.runToEnd('split-1', {
    credential: 'none', env: { AZP_TOKEN_FILE: '/run/secrets/azp-token' }, mounts: [`${tokenFile}:/run/secrets/azp-token:ro`],
  });
  assert.equal(refused.code, 78);
  assert.match(refused.stderr, /AZP_TOKEN_FILE='\/run\/secrets\/azp-token' can't be deleted after use/);
  assert.equal((await runners.agentsNamed('split-1')).length, 0, 'nothing registered');
});

test('the registration is removed only when the slot is retired', async () => {
  const container = await runners.startOnline('retire-0', { env: { AZP_REMOVE_ON_EXIT: 'true' } });
  assert.equal((await runners.runJob('true')).job.result, 'succeeded');
  assert.equal(await runners.exitCode(container), 0);
  assert.equal((await runners.agentsNamed('retire-0')).length, 0, 'AZP_REMOVE_ON_EXIT=true removed it');

  const kept = await runners.startOnline('retire-1');
  assert.equal((await runners.runJob('true')).job.result, 'succeeded');
  assert.equal(await runners.exitCode(kept), 0);
  assert.equal((await runners.agentsNamed('retire-1')).length, 1);
  const retired = await runners.runToEnd('retire-1', { mode: 'retire' });
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal((await runners.agentsNamed('retire-1')).length, 0, 'the retire mode removed it');
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
    const result = await runners.runToEnd(options.name ?? 'bad-0', options);
    assert.equal(result.code, 78, `${message}: exit ${result.code} ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.ok(!result.stderr.includes(token) && !result.stdout.includes(token));
  }
  assert.equal((await runners.agentsNamed('bad-0')).length, 0);
});
