// dockerMode podContainers without a cluster: the agent double runs container jobs with our `docker` shim
// (runner/bin/docker, the bundled runner.js) on its PATH, and exec helpers (runner/exec-server.ts) started here stand
// for the pod's job containers. The pod's volumes at the agent's paths are stood in by a path mapping, as the
// recording stand-in does (tests/support/docker-standin-cli.ts).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createTcpServer, connect, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { JobSpec } from '../../emulator/src/types.js';
import { Frame, frame, readFrames } from '../../runner/exec-protocol.js';
import { startExecServer } from '../../runner/exec-server.js';
import { buildRunner } from '../../scripts/build.mjs';
import { agentPackage, unpackAgent } from '../support/agent-package.js';
import { startEmulator, type AdminJob, type TestEmulator } from '../support/emulator.js';

const POOL = 'PodContainers';
const dir = mkdtempSync(join(tmpdir(), 'pod-containers-'));
const bin = join(dir, 'bin');
const bundle = join(dir, 'bundle', 'runner.js');
const sockets = join(dir, 'shared');
const servers: Server[] = [];
let emulator: TestEmulator;
let agentRoot: string;
let service: Server;

const OFFER = [
  { name: 'build', image: 'debian:12' },
  { name: 'tools', image: 'node:20' },
  { name: 'cache', image: 'redis:7', role: 'service', aliases: ['redis'] },
];

before(async () => {
  mkdirSync(bin);
  mkdirSync(sockets);
  const [, root] = await Promise.all([buildRunner(bundle), unpackAgent('pod-containers-agent-'), agentPackage()]);
  agentRoot = root;
  copyFileSync(new URL('../../runner/bin/docker', import.meta.url), join(bin, 'docker'));
  emulator = await startEmulator({ pools: [POOL], pollTimeoutMs: 3000, agentPackage: await agentPackage() });
  const config = spawn(join(agentRoot, 'config.sh'), ['--unattended', '--url', emulator.orgUrl, '--auth', 'pat', '--token', 'emulator-pat', '--pool', POOL,
    '--agent', 'pod-agent', '--replace', '--work', '_work', '--acceptTeeEula'], { env: { ...process.env, AGENT_ALLOW_RUNASROOT: '1' }, stdio: 'inherit' });
  assert.equal(await new Promise((resolve) => config.on('close', resolve)), 0);
  // The job containers' mounts: the pod's volumes at the agent's paths, here a mapping to the agent's folders.
  const work = join(agentRoot, '_work');
  const translate = (text: string) => text.split('/__a/externals').join(join(agentRoot, 'externals')).split('/__t').join(join(work, '_tool')).split('/__w').join(work);
  for (const { name } of OFFER.slice(0, 2)) {
    servers.push(await startExecServer({ socket: join(sockets, `${name}.sock`), log: () => {}, translate, env: { ...process.env, SIBLING: name } }));
  }
  // The service: a line on connect, on the port it would have in the pod's network namespace.
  service = createTcpServer((socket) => socket.end('PONG\n'));
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  await emulator.stop();
  servers.forEach((server) => server.close());
  service.close();
  rmSync(agentRoot, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

/** The environment of the agent's container in a podContainers pod, as the manifest sets it (state in its own file). */
function podEnv(state: string): NodeJS.ProcessEnv {
  return {
    ...process.env, PATH: `${bin}:${process.env.PATH}`, AZP_RUNNER_JS: bundle, AZP_RUNNER_NODE: process.execPath,
    AZP_POD_CONTAINERS: JSON.stringify({ agentDir: agentRoot, socketDir: sockets, stateFile: join(state, 'state.json'), containers: OFFER }),
  };
}

/** Runs `run.sh --once` for one job; returns the finished job, its log and how long it took from queued to finished. */
async function runJob(spec: JobSpec): Promise<{ job: AdminJob; log: string; seconds: number }> {
  const state = mkdtempSync(join(dir, 'state-'));
  const child = spawn(join(agentRoot, 'run.sh'), ['--once'], {
    // No /proc/1/cgroup check against this machine: the pod's agent is not inside a Docker container either.
    env: { ...podEnv(state), AGENT_ALLOW_RUNASROOT: '1', AGENT_DOUBLE_POLL_BACKOFF_MS: '100', AGENT_DOUBLE_PROC1_CGROUP: join(state, 'none') },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const started = Date.now();
  const queued = await emulator.admin.queueJob({ pool: POOL, ...spec });
  assert.ok('requestId' in queued, JSON.stringify(queued));
  const job = await emulator.admin.waitForJob(queued.requestId, 60_000);
  const seconds = (Date.now() - started) / 1000;
  await exited;
  return { job, log: job.log.join('\n'), seconds };
}

/** Our shim called directly, as the agent calls it (with `env` added to its environment): its exit code and output. */
function shim(state: string, args: string[], stdin = '', onLine?: (line: string, child: ChildProcess) => void, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(bin, 'docker'), args, { env: { ...podEnv(state), ...env } });
    let [stdout, stderr, seen] = ['', '', 0];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const lines = stdout.split('\n').slice(0, -1);
      lines.slice(seen).forEach((line) => onLine?.(line, child));
      seen = lines.length;
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.on('error', () => undefined); // a command that ends before reading all of it
    child.stdin.end(stdin);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('a job with a container, a step container and a service runs in the pod\'s containers; its steps share the workspace', async () => {
  const port = (service.address() as AddressInfo).port;
  const { job, log } = await runJob({
    containers: { build: { image: 'debian:12', env: { GREETING: 'say "hi"' } }, tools: { image: 'node:20' }, cache: { image: 'redis:7', ports: [String(port)] } },
    container: 'build',
    services: { redis: 'cache' },
    steps: [
      { script: `echo "default in:$SIBLING $GREETING"; echo built > "$BUILD_SOURCESDIRECTORY/from-build.txt"; exec 3<>/dev/tcp/127.0.0.1/$AGENT_SERVICES_REDIS_PORTS_${port}; read -r answer <&3; echo "redis said $answer"` },
      { script: 'echo "tools in:$SIBLING, reads $(cat "$BUILD_SOURCESDIRECTORY/from-build.txt")"', target: 'tools' },
      { script: 'echo "host in:${SIBLING:-host}, reads $(cat "$BUILD_SOURCESDIRECTORY/from-build.txt") at $BUILD_SOURCESDIRECTORY"', target: 'host' },
    ],
  });
  assert.equal(job.result, 'succeeded', log);
  assert.match(log, /default in:build say "hi"/, 'the default step ran in the build sibling, with the container\'s env');
  assert.match(log, /redis said PONG/, 'the service answered on its port, reported by docker port');
  assert.match(log, /tools in:tools, reads built/, 'the target: step ran in the tools sibling and saw the build step\'s file');
  assert.match(log, new RegExp(`host in:host, reads built at ${agentRoot}/_work/\\d+/s`), 'the host sees the same workspace');
});

test('a job asking for an image the runner does not offer fails at once, naming the images it offers', async () => {
  const { job, log, seconds } = await runJob({ containers: { build: { image: 'alpine:3' } }, container: 'build', steps: [{ script: 'echo never' }] });
  assert.equal(job.result, 'failed');
  assert.match(log, /Error: the image alpine:3 is not offered by this runner \(dockerMode podContainers\); it offers debian:12 \(container\), node:20 \(container\), redis:7 \(service redis\)/);
  assert.doesNotMatch(log, /^never$/m);
  assert.ok(seconds < 15, `failed in ${seconds} s`);
});

test('exec passes stdin through and returns the command\'s exit code; the agent\'s user setup is not run', async () => {
  const state = mkdtempSync(join(dir, 'state-'));
  const created = await shim(state, ['create', '--name', 'b', '--label', 'x', '--network', 'n', '-v', `${agentRoot}/_work/1:/__w/1`, 'docker.io/library/debian:12', 'bash']);
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  assert.equal((await shim(state, ['start', id])).code, 0);
  const piped = await shim(state, ['exec', '-i', '-u', String(process.getuid?.()), '-w', '/nowhere', id, 'sh', '-c', 'echo "in $SIBLING at $(pwd): $(cat)"; echo oops >&2; exit 3'], 'hello');
  assert.deepEqual(piped, { code: 3, stdout: 'in build at /: hello\n', stderr: 'oops\n' });
  assert.equal((await shim(state, ['exec', id, 'sh', '-c', 'exit 4'])).code, 4);
  assert.deepEqual(await shim(state, ['exec', '-i', id, 'true'], 'x'.repeat(8 << 20)), { code: 0, stdout: '', stderr: '' }, 'a command that ends before its stdin does');
  assert.deepEqual(await shim(state, ['exec', id, 'groupadd', 'azure_pipelines_sudo']), { code: 0, stdout: '', stderr: '' });
  const missing = await shim(state, ['exec', id, 'no-such-command']);
  assert.equal(missing.code, 127);
  // A cancelled step: the agent signals the docker process; the command gets the signal, its exit code comes back.
  const cancelled = await shim(state, ['exec', id, 'sh', '-c', 'trap "echo stopped; exit 9" TERM; echo running; while :; do sleep 0.1; done'], '', (line, child) => {
    if (line === 'running') child.kill('SIGTERM');
  });
  assert.deepEqual([cancelled.code, cancelled.stdout], [9, 'running\nstopped\n'], cancelled.stderr);
});

/** Every regular file under `root` whose bytes hold `text`. */
function filesHolding(root: string, text: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => readFileSync(path).includes(text));
}

test('the job container\'s env reaches its commands, and its values no file: a secret mapped by the pipeline stays in memory', async () => {
  const state = mkdtempSync(join(dir, 'state-'));
  const secret = `secret-${randomBytes(12).toString('hex')}`;
  // As the agent creates a job container: the job's variables as `-e NAME=value`, an empty one as `-e NAME`, taken
  // from the agent's environment.
  const created = await shim(state, ['create', '--name', 'b', '--label', 'x', '--network', 'n', '-e', `MAPPED=${secret}`, '-e', 'FROM_AGENT', '-e', 'PLAIN=visible', 'debian:12', 'bash'], '', undefined, { FROM_AGENT: `${secret}-agent` });
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  assert.equal((await shim(state, ['start', id])).code, 0);
  const seen = await shim(state, ['exec', id, 'sh', '-c', 'echo "$MAPPED $FROM_AGENT $PLAIN"'], '', undefined, { MAPPED: 'not-the-agents', FROM_AGENT: 'gone' });
  assert.deepEqual(seen, { code: 0, stdout: `${secret} ${secret}-agent visible\n`, stderr: '' }, 'exec sees the container\'s env');
  assert.equal((await shim(state, ['exec', '-e', 'OWN=exec', id, 'sh', '-c', 'echo "$OWN $MAPPED"'])).stdout, `exec ${secret}\n`, 'an exec\'s own -e is added');
  // Whatever the shim and the helper wrote, here or in the state folder: none of it holds the value.
  assert.deepEqual(filesHolding(dir, secret), []);
  assert.ok(readdirSync(state).length > 0, 'the shim kept its state in the folder scanned');
});

test('create refuses, in one line, what the pod cannot give: a mount, an option, a service name it does not resolve', async () => {
  const state = mkdtempSync(join(dir, 'state-'));
  const cases: [string[], RegExp][] = [
    [['-v', '/etc:/etc', 'debian:12'], /^Error: the job asks to mount \/etc at \/etc, but a podContainers runner's containers share only .*\/_work\/_tool at \/__t, /],
    [['--cpus', '2', 'debian:12'], /^Error: the container option --cpus cannot be honoured by dockerMode podContainers: the runner's pod declares its containers/],
    [['--network-alias', 'cache', 'redis:7'], /^Error: the service cache \(redis:7\) must be named redis on this runner: its pod resolves only those names\n$/],
    [['--network-alias', 'db', 'debian:12'], /^Error: the image debian:12 is offered by this runner as a job container, not as a service;/],
    // A service's env is its pod's (serviceContainers): a job's would be silently lost. The values are not repeated.
    [['--network-alias', 'redis', '-e', 'PASSWORD=hunter2', '-e', 'MODE=x', 'redis:7'], /^Error: the service redis \(redis:7\) cannot take the job's env \(PASSWORD, MODE\): a podContainers runner's service runs with the env its serviceContainers line gives \(env\.NAME=value, envFrom=<Secret>\)\n$/],
  ];
  for (const [args, message] of cases) {
    const created = await shim(state, ['create', '--name', 'x', ...args]);
    assert.equal(created.code, 125, args.join(' '));
    assert.match(created.stderr, message);
  }
  assert.equal((await shim(state, ['ps', '--all', '--quiet'])).stdout, '', 'nothing was created');
});

test('the exec helper refuses a malformed request, and runs nothing', async () => {
  const ask = (...frames: Buffer[]) => new Promise<string>((resolve) => {
    const socket = connect(join(sockets, 'build.sock'));
    let answer = '';
    readFrames(socket, (type, payload) => (answer += `${String.fromCharCode(type)}:${payload.toString()}`), () => (answer += 'too large'));
    socket.on('close', () => resolve(answer));
    socket.write(Buffer.concat(frames));
  });
  const marker = join(dir, 'ran');
  const run = { argv: ['touch', marker], env: {}, stdin: false };
  assert.equal(await ask(frame(Frame.stdin, 'x')), 'F:the first frame must be a request, not type 0x49');
  assert.equal(await ask(frame(Frame.request, '{"argv":')), 'F:malformed request: the request is not JSON');
  assert.equal(await ask(frame(Frame.request, JSON.stringify({ ...run, argv: [] }))), 'F:malformed request: argv must be a non-empty list of strings');
  assert.equal(await ask(frame(Frame.request, JSON.stringify({ ...run, uid: -1 }))), 'F:malformed request: uid must be a non-negative integer');
  assert.equal(await ask(frame(Frame.request, JSON.stringify({ ...run, stdin: 'yes' }))), 'F:malformed request: stdin must be true or false');
  const head = Buffer.alloc(5);
  head.writeUInt8(Frame.request, 0);
  head.writeUInt32BE(2 ** 31, 1);
  assert.equal(await ask(head), 'F:a frame over 1048576 bytes');
  // Node refuses to spawn these; the helper must refuse them too, not die (it serves the rest of the job).
  assert.match(await ask(frame(Frame.request, JSON.stringify({ ...run, argv: ['touch', `${marker}\u0000x`] }))), /^F:/);
  assert.match(await ask(frame(Frame.request, JSON.stringify({ ...run, env: { X: 'a\u0000b' } }))), /^F:/);
  assert.ok(!existsSync(marker), 'no refused request ran its command');
  // A signal for a command whose process group has emptied while a process it left in another session holds its
  // output open: nothing to signal, and the helper goes on to report the exit.
  const gone = await ask(frame(Frame.request, JSON.stringify({ argv: ['sh', '-c', 'setsid sleep 2 & exit 0'], env: {}, stdin: true })), frame(Frame.signal, 'SIGTERM'));
  assert.equal(gone.slice(0, 2), 'C:');
  assert.equal((await shim(mkdtempSync(join(dir, 'state-')), ['version', '--format', '{{.Server.APIVersion}}'])).code, 0);
  assert.equal(await ask(frame(Frame.request, JSON.stringify(run))).then((answer) => answer.slice(0, 2)), 'C:', 'the helper still serves');
});

test('the exec helper\'s boundary: a 0600 socket another uid cannot open, and no command as another uid', { skip: process.getuid?.() !== 0 && 'needs root to run the helper as another uid' }, async () => {
  // The bundled helper as uid 65534, as a pod's job container runs it: unprivileged, with its socket in a shared folder.
  const shared = mkdtempSync(join(dir, 'uid-'));
  for (const path of [dir, join(dir, 'bundle'), shared]) chmodSync(path, 0o777);
  const socket = join(shared, 'build.sock');
  const helper = spawn(process.execPath, [bundle, 'exec-server', socket], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((resolve) => helper.stdout.once('data', resolve));
    assert.equal(statSync(socket).mode & 0o777, 0o600);
    const probe = `require('net').connect(${JSON.stringify(socket)}).on('connect', () => process.exit(0)).on('error', (e) => { console.log(e.code); process.exit(1); })`;
    const other = spawnSync(process.execPath, ['-e', probe], { uid: 65533, gid: 65533, encoding: 'utf8' });
    assert.deepEqual([other.status, other.stdout.trim()], [1, 'EACCES'], 'another uid cannot connect');
    // Root connects whatever the mode (root in a restricted pod does not exist); the helper still runs nothing as uid 0.
    const answer = await new Promise<string>((resolve) => {
      const client = connect(socket);
      let text = '';
      readFrames(client, (type, payload) => (text += `${String.fromCharCode(type)}:${payload.toString()}`), () => undefined);
      client.on('close', () => resolve(text));
      client.write(frame(Frame.request, JSON.stringify({ argv: ['id', '-u'], uid: 0, env: {}, stdin: false })));
    });
    assert.equal(answer, 'F:this container runs as uid 65534 and cannot run a command as uid 0: the pod must run the agent and its containers as one uid');
  } finally {
    helper.kill('SIGTERM');
  }
});
