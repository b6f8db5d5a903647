// dockerMode podContainers' `docker`: the command line the agent finds on PATH (runner/bin/docker launches it) when
// there is no engine. It answers the agent's calls (emulator/agent/containers.ts has them, in the agent's order) with
// the containers declared in the runner's pod: `create` maps the requested image to the sibling that offers it,
// `exec` runs the command there through its exec helper (runner/exec-server.ts), the rest is bookkeeping in a state
// file of the agent's container. A job container's env (the job's variables, mapped secrets included) goes to its
// exec helper at `create` and is held in that process's memory: no file holds it. See docs/container-jobs.md.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Frame, frame, readFrames, type ContainerEnvironment, type ExecRequest } from './exec-protocol.js';
import { checkMount, siblingFor, type PodContainers, type Sibling } from './pod-containers.js';

/** The engine API version the shim reports: at least the 1.35 the agent requires. */
export const apiVersion = '1.41';

/** A job's container as the agent created it, mapped to the pod's sibling that offers its image. */
interface Created {
  id: string;
  name: string;
  sibling: string;
  image: string;
  labels: string[];
  networkAlias?: string;
  ports: string[];
  running: boolean;
}

interface State { containers: Created[] }

export interface ShimIO {
  stdin: NodeJS.ReadableStream;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
}

/** The agent's user setup in a job container (useradd, a sudo group, sudoers): nothing to do in a pod with no root. */
const USER_SETUP = new Set(['groupadd', 'useradd', 'usermod', 'addgroup', 'adduser', 'su', 'apk']);

/** How long `start` waits for a job container's exec helper: the pod starts its containers side by side. */
const HELPER_WAIT_MS = 60_000;

class ShimError extends Error {}

/** Runs one `docker` call; returns its exit code (125, as docker's own errors, for a call it refuses). */
export async function dockerShim(argv: string[], pod: PodContainers, io: ShimIO): Promise<number> {
  try {
    return await call(argv, pod, io);
  } catch (caught) {
    if (!(caught instanceof ShimError)) throw caught;
    io.stderr.write(`Error: ${caught.message}\n`);
    return 125;
  }
}

async function call([command = '', ...args]: string[], pod: PodContainers, io: ShimIO): Promise<number> {
  const out = (line: string) => io.stdout.write(`${line}\n`);
  const state = readState(pod.stateFile);
  const find = (id: string | undefined) => {
    const found = state.containers.find((c) => c.id === id || c.name === id);
    if (!found) throw new ShimError(`No such container: ${id}`);
    return found;
  };
  const offered = (image: string, role?: Sibling['role']) => {
    try {
      return siblingFor(pod, image, role);
    } catch (caught) {
      throw new ShimError((caught as Error).message);
    }
  };
  switch (command) {
    case 'version': {
      const format = option(args, '--format', '-f');
      // The agent's format carries literal single quotes, which the real CLI prints back.
      out(format === undefined ? `Client:\n API version:  ${apiVersion}\n\nServer: dockerMode podContainers\n API version:  ${apiVersion}` : format.replace(/\{\{\s*\.(Server|Client)\.APIVersion\s*\}\}/g, apiVersion));
      return 0;
    }
    case 'info': out('bridge\nhost\nnull'); return 0;
    case 'login': io.stdin.resume(); out('Login Succeeded'); return 0;
    case 'logout': out(`Removing login credentials for ${args[0] ?? ''}`); return 0;
    case 'pull': {
      const image = args.find((arg) => !arg.startsWith('-')) ?? '';
      offered(image);
      out(`${image}: offered by this runner's pod\nStatus: Image is up to date for ${image}`);
      return 0;
    }
    // One network per job; the pod's network namespace is the network, and a service's alias one of its hostAliases.
    case 'network':
      if (args[0] === 'create') out(randomId());
      if (args[0] === 'rm') out(args[1] ?? '');
      return 0;
    case 'create': {
      const { created, env } = parseCreate(args, pod, io.env);
      const sibling = offered(created.image, created.networkAlias ? 'service' : 'job');
      if (created.networkAlias && !sibling.aliases.includes(created.networkAlias)) {
        throw new ShimError(`the service ${created.networkAlias} (${created.image}) must be named ${sibling.aliases.join(' or ')} on this runner: its pod resolves only those names`);
      }
      if (created.networkAlias && state.containers.some((c) => c.sibling === sibling.name)) throw new ShimError(`the job asks for a second ${created.image} service; this runner's pod runs one`);
      if (sibling.role === 'service' && Object.keys(env).length > 0) {
        throw new ShimError(`the service ${created.networkAlias} (${created.image}) cannot take the job's env (${Object.keys(env).join(', ')}): a podContainers runner's service runs with the env its serviceContainers line gives (env.NAME=value, envFrom=<Secret>)`);
      }
      if (sibling.role === 'job') {
        const path = socketOf(pod, sibling.name);
        await waitForHelper(path, sibling.name);
        const handed = await runRemote(path, sibling.name, frame(Frame.environment, JSON.stringify({ container: created.id, env } satisfies ContainerEnvironment)), false, io);
        if (handed !== 0) return handed;
      }
      state.containers.push({ ...created, sibling: sibling.name });
      writeState(pod.stateFile, state);
      out(created.id);
      return 0;
    }
    case 'start': {
      const container = find(args[0]);
      container.running = true;
      writeState(pod.stateFile, state);
      out(container.id);
      return 0;
    }
    case 'ps': {
      const filters = args.flatMap((arg, i) => (args[i - 1] === '--filter' || args[i - 1] === '-f' ? [arg] : []));
      const matches = state.containers.filter((c) => filters.every((f) => {
        const [key, value] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
        if (key === 'label') return c.labels.includes(value);
        if (key === 'id') return c.id.startsWith(value);
        if (key === 'status') return value === (c.running ? 'running' : 'created');
        throw new ShimError(`ps --filter ${key} is not supported by dockerMode podContainers`);
      }));
      const format = option(args, '--format');
      for (const c of matches) out(args.includes('--quiet') || args.includes('-q') || !format ? c.id : format.replace('{{.ID}}', c.id).replace('{{.Status}}', c.running ? 'Up' : 'Created'));
      return 0;
    }
    // The agent inspects an image for its Node label and a service for its HEALTHCHECK: neither exists here.
    case 'inspect': out(''); return 0;
    case 'logs': return 0;
    // The pod shares one network namespace: a service's port is the same port on localhost.
    case 'port':
      for (const port of find(args[0]).ports) {
        const [target, protocol = 'tcp'] = port.slice(port.lastIndexOf(':') + 1).split('/');
        out(`${target}/${protocol} -> 0.0.0.0:${target}`);
      }
      return 0;
    case 'rm': {
      const id = args.filter((arg) => !arg.startsWith('-'));
      state.containers = state.containers.filter((c) => !id.includes(c.id));
      writeState(pod.stateFile, state);
      id.forEach(out);
      return 0;
    }
    case 'exec': return exec(args, pod, find, io);
    default:
      throw new ShimError(`docker ${command} is not supported by dockerMode podContainers (the runner's pod declares its containers; there is no engine)`);
  }
}

/**
 * `docker create`'s options as the agent writes them (DockerCommandManager.DockerCreate); any other is refused. The
 * env apart: it is never part of the state.
 */
function parseCreate(args: string[], pod: PodContainers, given: NodeJS.ProcessEnv): { created: Omit<Created, 'sibling'>; env: Record<string, string> } {
  const created: Omit<Created, 'sibling'> = { id: randomId(), name: '', image: '', labels: [], ports: [], running: false };
  const env: Record<string, string> = {};
  let i = 0;
  for (; i < args.length && args[i].startsWith('-'); i += 2) {
    const [flag, inline] = args[i].split(/=(.*)/s);
    const value = inline ?? args[i + 1];
    if (inline !== undefined) i--;
    if (flag === '--name') created.name = value;
    else if (flag === '--label' || flag === '-l') created.labels.push(value);
    else if (flag === '--network-alias') created.networkAlias = value;
    else if (flag === '-p' || flag === '--publish') created.ports.push(value);
    else if (flag === '-e' || flag === '--env') {
      const [key, inlineValue] = value.split(/=(.*)/s);
      const taken = inlineValue ?? given[key];
      if (taken !== undefined) env[key] = taken;
    } else if (flag === '-v' || flag === '--volume') {
      try {
        checkMount(pod, value);
      } catch (caught) {
        throw new ShimError((caught as Error).message);
      }
    } else if (flag !== '--network') {
      throw new ShimError(`the container option ${args[i]} cannot be honoured by dockerMode podContainers: the runner's pod declares its containers (their resources, user and options)`);
    }
  }
  created.image = args[i] ?? '';
  if (!created.image) throw new ShimError('docker create needs an image');
  return { created, env };
}

/** `docker exec [-i] [-u uid] [-w dir] [-e K=V]… <id> <command…>` through the sibling's exec helper. */
async function exec(args: string[], pod: PodContainers, find: (id: string) => Created, io: ShimIO): Promise<number> {
  const request: ExecRequest = { argv: [], env: {}, stdin: false };
  let i = 0;
  for (; i < args.length && args[i].startsWith('-'); i++) {
    if (args[i] === '-i' || args[i] === '--interactive') request.stdin = true;
    else if (args[i] === '-u' || args[i] === '--user') {
      if (!/^\d+$/.test(args[i + 1] ?? '')) throw new ShimError(`exec ${args[i]} takes a numeric uid with dockerMode podContainers, not '${args[i + 1]}'`);
      request.uid = Number(args[++i]);
    } else if (args[i] === '-w' || args[i] === '--workdir') request.cwd = args[++i];
    else if (args[i] === '-e' || args[i] === '--env') {
      const [key, value] = args[++i].split(/=(.*)/s);
      request.env[key] = value ?? io.env[key] ?? '';
    } else throw new ShimError(`docker exec ${args[i]} is not supported by dockerMode podContainers`);
  }
  const container = find(args[i]);
  request.argv = args.slice(i + 1);
  if (!container.running) throw new ShimError(`container ${container.id} is not running`);
  if (request.argv.length === 0) throw new ShimError('docker exec needs a command');
  // The agent adds a user with its uid to a passwordless sudo group. Unprivileged there is neither: steps run as the
  // pod's uid, which is the agent's; its other setup commands (getent, id, the Node probe) do run.
  if (!request.stdin && request.uid === undefined && USER_SETUP.has(request.argv[0])) return 0;
  const sibling = pod.containers.find((s) => s.name === container.sibling)!;
  if (sibling.role !== 'job') throw new ShimError(`${container.name} is a service (${container.image}): a podContainers runner runs commands only in its job containers`);
  // The helper adds the env it holds for this container (given at create), then the exec's own.
  request.container = container.id;
  return runRemote(socketOf(pod, sibling.name), sibling.name, frame(Frame.request, JSON.stringify(request)), request.stdin, io);
}

/**
 * Sends `first` (a request, or a container's environment), streams stdin (with `stdin`) and this process's stop
 * signals, copies the output; resolves to the exit code.
 */
function runRemote(path: string, name: string, first: Buffer, stdin: boolean, io: ShimIO): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let code: number | undefined;
    const fail = (message: string) => { io.stderr.write(`Error: ${message}\n`); code ??= 125; };
    // Once the command has ended, stdin still arriving or a late signal has nowhere to go.
    const send = (buffer: Buffer) => { if (socket.writable && code === undefined) socket.write(buffer); };
    const forward = (signal: NodeJS.Signals) => send(frame(Frame.signal, signal));
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    socket.on('connect', () => {
      socket.write(first);
      signals.forEach((signal) => process.on(signal, forward));
      if (!stdin) return;
      io.stdin.on('data', (chunk: Buffer) => send(frame(Frame.stdin, chunk)));
      io.stdin.on('end', () => send(frame(Frame.stdinEnd)));
    });
    readFrames(socket, (type, payload) => {
      if (type === Frame.stdout) io.stdout.write(payload);
      else if (type === Frame.stderr) io.stderr.write(payload);
      else if (type === Frame.exit) code = payload.readInt32BE(0);
      else if (type === Frame.refused) fail(`container ${name}'s exec helper refused: ${payload.toString()}`);
    }, () => fail(`container ${name}'s exec helper sent a frame too large`));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (code === undefined) fail(`container ${name}'s exec helper does not answer on ${path} (${error.code ?? error.message})`);
    });
    socket.on('close', () => {
      signals.forEach((signal) => process.off(signal, forward));
      if (code === undefined) fail(`container ${name}'s exec helper closed the connection before the command's exit code`);
      io.stdin.pause();
      resolve(code!);
    });
  });
}

/** `create` of a job container: its exec helper answers once the pod has started it. */
async function waitForHelper(path: string, name: string): Promise<void> {
  for (const deadline = Date.now() + HELPER_WAIT_MS; ;) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket: Socket = connect(path, () => { socket.end(); resolve(true); });
      socket.on('error', () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new ShimError(`container ${name}'s exec helper did not answer on ${path} within ${HELPER_WAIT_MS / 1000} s: is the container declared in the runner's pod and running?`);
    await sleep(500);
  }
}

export const socketOf = (pod: PodContainers, name: string) => join(pod.socketDir, `${name}.sock`);

const randomId = () => randomBytes(32).toString('hex');

/** The value of an option given as `--x value` or `--x=value`. */
function option(args: string[], ...names: string[]): string | undefined {
  for (const [i, arg] of args.entries()) {
    for (const name of names) {
      if (arg === name) return args[i + 1];
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

function readState(file: string): State {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as State) : { containers: [] };
}

function writeState(file: string, state: State): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
}
