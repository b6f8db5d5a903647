// The agent double runs container jobs as the agent does (microsoft/azure-pipelines-agent ContainerOperationProvider,
// DockerCommandManager, ContainerStepHost), against a recording `docker` stand-in: the exact command lines in order,
// where each step runs, the API-version refusal, the "inside a container" refusal, and cleanup after a failed step.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { JobSpec } from '../../emulator/src/types.js';
import { agentPackage, unpackAgent } from '../support/agent-package.js';
import { writeDockerStandIn } from '../support/docker-standin.js';
import { startEmulator, type AdminJob, type TestEmulator } from '../support/emulator.js';

const POOL = 'Containers';
let emulator: TestEmulator;
let agentRoot: string;
let bin: string;
const dirs: string[] = [];

const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};

before(async () => {
  emulator = await startEmulator({ pools: [POOL], pollTimeoutMs: 3000, agentPackage: await agentPackage() });
  bin = tempDir('docker-standin-');
  await writeDockerStandIn(bin);
  // A host `stat` answering for the Docker socket, which the agent reads when mapDockerSocket is on.
  writeFileSync(join(bin, 'stat'), '#!/bin/sh\necho 998\n', { mode: 0o755 });
  agentRoot = await unpackAgent('container-agent-');
  dirs.push(agentRoot);
  // Not spawnSync: the emulator answers config.sh from this same process.
  const config = spawn(join(agentRoot, 'config.sh'), ['--unattended', '--url', emulator.orgUrl, '--auth', 'pat', '--token', 'emulator-pat', '--pool', POOL,
    '--agent', 'container-agent', '--replace', '--work', '_work', '--acceptTeeEula'], { env: { ...process.env, AGENT_ALLOW_RUNASROOT: '1' }, stdio: 'inherit' });
  assert.equal(await new Promise((resolve) => config.on('close', resolve)), 0);
});
after(async () => {
  await emulator.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Call { argv: string[]; stdin?: string }

/** Runs `run.sh --once` with the stand-in on PATH for one job; returns the finished job, its log and docker's calls. */
async function runJob(spec: JobSpec, options: { api?: string; cgroup?: string } = {}): Promise<{ job: AdminJob; log: string; calls: Call[] }> {
  const state = tempDir('docker-state-');
  const cgroup = join(state, 'cgroup');
  writeFileSync(cgroup, options.cgroup ?? '0::/\n');
  const child = spawn(join(agentRoot, 'run.sh'), ['--once'], {
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, AGENT_ALLOW_RUNASROOT: '1', AGENT_DOUBLE_POLL_BACKOFF_MS: '100',
      DOCKER_STANDIN_DIR: state, DOCKER_STANDIN_API: options.api ?? '1.43', AGENT_DOUBLE_PROC1_CGROUP: cgroup },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const queued = await emulator.admin.queueJob({ pool: POOL, ...spec });
  assert.ok('requestId' in queued, JSON.stringify(queued));
  const job = await emulator.admin.waitForJob(queued.requestId, 60_000);
  await exited;
  let text = '';
  try { text = readFileSync(join(state, 'calls.jsonl'), 'utf8'); } catch { /* docker never ran */ }
  const calls = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Call);
  return { job, log: job.log.join('\n'), calls };
}

const work = () => join(agentRoot, '_work');
const label = () => createHash('sha256').update(agentRoot.toLowerCase()).digest('hex').slice(0, 6);
const id = (n: number) => n.toString(16).padStart(64, '0');
const NETWORK = /^vsts_network_[0-9a-f]{32}$/;

/** The argv lines with the random parts named: the job's network and the 6-hex suffix of container names. */
function normalized(calls: Call[]): string[][] {
  return calls.map(({ argv }) => argv.map((arg) => (NETWORK.test(arg) ? '<network>' : arg.replace(/^(\w+_\w+)_[0-9a-f]{6}$/, '$1_<guid6>'))));
}

/** The default mounts StartContainerAsync adds for build directory N. */
function mounts(n: number): string[] {
  return ['-v', `${work()}/${n}:/__w/${n}`, '-v', `${work()}/_temp:/__w/_temp`, '-v', `${work()}/_tasks:/__w/_tasks`, '-v', `${work()}/_tool:/__t`,
    '-v', `${agentRoot}/externals:/__a/externals:ro`, '-v', `${work()}/.taskkey:/__w/.taskkey`];
}

const KEEP_ALIVE = ['bash', '-c', "'/__a/externals/node/bin/node' -e 'setInterval(function(){}, 24 * 60 * 60 * 1000);'"];
const user = userInfo();

/** A job container's start: inspect for the node label, create, start, ps, then the user setup execs. */
function jobContainerStart(container: string, image: string, n: number, createExtra: string[]): string[][] {
  const cid = id(n);
  return [
    ['inspect', '--format={{index .Config.Labels "com.azure.dev.pipelines.agent.handler.node.path"}}', image],
    ['create', '--name', `${container}_<guid6>`, '--label', label(), '--network', '<network>', ...createExtra, image, ...KEEP_ALIVE],
    ['start', cid],
    ['ps', '--all', '--filter', `id=${cid}`, '--filter', 'status=running', '--no-trunc', '--format', '{{.ID}} {{.Status}}'],
    ['exec', cid, 'sh', '-c', 'command -v bash'],
    ['exec', cid, 'bash', '-c', `getent passwd ${user.uid} | cut -d: -f1 `],
    ['exec', cid, 'id', '-u', user.username],
    ['exec', cid, 'bash', '-c', "if [[ -e '/etc/alpine-release' ]]; then echo 'Alpine-based image detected.'; fi"],
    ['exec', cid, 'groupadd', 'azure_pipelines_sudo'],
    ['exec', cid, 'usermod', '-a', '-G', 'azure_pipelines_sudo', user.username],
    ['exec', cid, 'su', '-c', "echo '%azure_pipelines_sudo ALL=(ALL:ALL) NOPASSWD:ALL' >> /etc/sudoers"],
    ['exec', cid, 'bash', '-c', '/__a/externals/node24/bin/node -v'],
  ];
}

const PRELUDE = (): string[][] => [
  ['version', '--format', "'{{.Server.APIVersion}}'"],
  ['version', '--format', "'{{.Client.APIVersion}}'"],
  ['ps', '--all', '--quiet', '--no-trunc', '--filter', `label=${label()}`],
  ['network', 'prune', '--force', '--filter', `label=${label()}`],
];

const stepExec = (n: number) => ['exec', '-i', '-u', String(user.uid), '-w', user.username === 'root' ? '/root' : `/home/${user.username}`, id(n),
  '/__a/externals/node/bin/node', '/__w/_temp/containerHandlerInvoker.js'];

test('a job with a container, a step container and a service: the agent\'s docker command lines in order, each step where it targets', async () => {
  const { job, log, calls } = await runJob({
    containers: {
      build: { image: 'debian:12', options: '--cpus 2', env: { GREETING: 'say "hi"' } },
      tools: { image: 'node:20' },
      cache: { image: 'redis:7', ports: ['6379'] },
    },
    container: 'build',
    services: { redis: 'cache' },
    steps: [
      { script: 'echo "default in:${STANDIN_CONTAINER:-host} redis port:$AGENT_SERVICES_REDIS_PORTS_6379"' },
      { script: 'echo "tools in:${STANDIN_CONTAINER:-host}"', target: 'tools' },
      { script: 'echo "host in:${STANDIN_CONTAINER:-host}"', target: 'host' },
      { script: 'echo "service in:${STANDIN_CONTAINER:-host}"', target: 'redis' },
    ],
  });
  assert.equal(job.result, 'succeeded', log);
  const n = Number(/_work\/(\d+)\/s/.exec(log)?.[1] ?? /\/__w\/(\d+)/.exec(JSON.stringify(calls))?.[1]);
  assert.deepEqual(normalized(calls), [
    ...PRELUDE(),
    ['pull', 'debian:12'], ['pull', 'node:20'], ['pull', 'redis:7'],
    ['info', '-f', '{{range .Plugins.Network}}{{println .}}{{end}}'],
    ['network', 'create', '--label', label(), '<network>'],
    ...jobContainerStart('build_debian12', 'debian:12', 1, ['--cpus', '2', '-e', 'GREETING=say "hi"', ...mounts(n)]),
    ...jobContainerStart('tools_node20', 'node:20', 2, mounts(n)),
    ['create', '--name', 'cache_redis7_<guid6>', '--label', label(), '--network', '<network>', '--network-alias', 'redis', '-p', '6379', ...mounts(n), 'redis:7'],
    ['start', id(3)],
    ['ps', '--all', '--filter', `id=${id(3)}`, '--filter', 'status=running', '--no-trunc', '--format', '{{.ID}} {{.Status}}'],
    ['port', id(3)],
    ['inspect', '--format={{if .Config.Healthcheck}}{{print .State.Health.Status}}{{end}}', id(3)],
    stepExec(1), stepExec(2), stepExec(1),
    ['rm', '--force', id(1)], ['rm', '--force', id(2)], ['rm', '--force', id(3)],
    ['network', 'rm', '<network>'],
  ]);
  // Steps really ran: in the job container by default, in the targeted container, on the host; a service is no step
  // target (ExecutionContext.SetStepTarget looks among the containers only), so that step runs in the job container.
  assert.match(log, /default in:build_debian12_[0-9a-f]{6} redis port:32768/);
  assert.match(log, /tools in:tools_node20_[0-9a-f]{6}/);
  assert.match(log, /host in:host/);
  assert.match(log, /service in:build_debian12_[0-9a-f]{6}/);
  const payload = JSON.parse(calls.find((call) => call.argv[1] === '-i')?.stdin ?? '{}') as { handler: string; args: string; workDir: string; environment: Record<string, string> };
  assert.equal(payload.handler, 'bash');
  assert.match(payload.args, /^\/__w\/_temp\/[0-9a-f-]+\.sh$/);
  assert.equal(payload.workDir, `/__w/${n}/s`);
  assert.equal(payload.environment.BUILD_SOURCESDIRECTORY, `/__w/${n}/s`);
  assert.ok(readFileSync(join(work(), '_temp', 'containerHandlerInvoker.js'), 'utf8').includes('stdin'), 'the invoker is written into _temp');
});

test('a private registry: login with the password on stdin, the image pulled from it, logout; the socket mapped only on request', async () => {
  const { job, log, calls } = await runJob({
    containers: { build: { image: 'team/build:1', mapDockerSocket: true, registry: { server: 'https://registry.example:5000', username: 'robot', password: 'registry-secret' } } },
    container: 'build',
    steps: [{ script: 'true' }],
  });
  assert.equal(job.result, 'succeeded', log);
  const argv = normalized(calls);
  const login = argv.findIndex((a) => a[0] === 'login');
  assert.deepEqual(argv.slice(login, login + 3), [['login', '--username', 'robot', '--password-stdin', 'https://registry.example:5000'], ['pull', 'registry.example:5000/team/build:1'], ['logout', 'https://registry.example:5000']]);
  assert.equal(calls[login].stdin, 'registry-secret\n');
  assert.ok(!log.includes('registry-secret'));
  const create = argv.find((a) => a[0] === 'create')!;
  assert.deepEqual(create.slice(7, 9), ['-v', '/var/run/docker.sock:/var/run/docker.sock']);
  assert.ok(argv.some((a) => a.join(' ') === `exec ${id(1)} bash -c cat /etc/group`), 'the socket\'s group is looked up in the container');
});

test('a Docker engine API below 1.35 fails the job with the agent\'s message; the network is still removed', async () => {
  const { job, log, calls } = await runJob({ containers: { build: { image: 'debian:12' } }, container: 'build', steps: [{ script: 'echo never' }] }, { api: '1.30' });
  assert.equal(job.result, 'failed');
  assert.match(log, /Min required docker engine API server version is '1\.35', your docker \('[^']*\/docker'\) server version is '1\.30'/);
  assert.doesNotMatch(log, /never$/m);
  assert.deepEqual(normalized(calls), [...PRELUDE().slice(0, 2), ['network', 'rm', '<network>']]);
});

test('an agent already inside a Docker container refuses container jobs, as the agent does', async () => {
  const { job, log, calls } = await runJob({ containers: { build: { image: 'debian:12' } }, container: 'build', steps: [{ script: 'true' }] }, { cgroup: '12:pids:/docker/0123abcd\n' });
  assert.equal(job.result, 'failed');
  assert.match(log, /Container feature is not supported when agent is already running inside container/);
  assert.deepEqual(normalized(calls), [['network', 'rm', '<network>']]);
});

test('a failing step fails the job, skips the next steps, and the containers and network are still removed', async () => {
  const { job, log, calls } = await runJob({
    containers: { build: { image: 'debian:12' }, cache: { image: 'redis:7' } }, container: 'build', services: { redis: 'cache' },
    steps: [{ script: 'exit 5' }, { script: 'echo after' }],
  });
  assert.equal(job.result, 'failed');
  assert.match(log, /Bash exited with code '5'/);
  assert.doesNotMatch(log, /^after$/m);
  assert.deepEqual(normalized(calls).slice(-4), [stepExec(1), ['rm', '--force', id(1)], ['rm', '--force', id(2)], ['network', 'rm', '<network>']]);
});

test('the admin API refuses a job whose container, service or step is malformed, naming the input', async () => {
  const cases: [JobSpec, string][] = [
    [{ containers: { build: { image: '' } }, container: 'build', script: 'true' }, 'containers.build needs an image.'],
    [{ container: 'build', script: 'true' }, 'container "build" is not one of the job\'s containers (none).'],
    [{ containers: { db: { image: 'postgres:16' } }, services: { pg: 'postgres' }, script: 'true' }, 'services.pg names "postgres", which is not one of the job\'s containers.'],
    [{ steps: [] }, 'A job needs a script or steps.'],
  ];
  for (const [spec, message] of cases) {
    const response = await fetch(`${emulator.url}/_admin/jobs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pool: POOL, ...spec }) });
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { message: string }).message, message);
  }
});
