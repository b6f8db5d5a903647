// dockerMode podContainers' exec helper, in each job container declared in the runner's pod: it runs the commands the
// agent's `docker exec` asks for (through the shim, runner/docker-shim.ts), streaming stdin, stdout and stderr and
// returning the exit code, over a Unix socket in the volume the pod shares with the agent's container. No network
// port, no Kubernetes token; the socket's file mode is its boundary (docs/container-jobs.md, "The exec helper"). The
// job container's environment (`docker create -e`, the job's variables and mapped secrets) lives in its memory only.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { exitFrame, frame, Frame, maxFrame, parseEnvironment, parseRequest, readFrames, type ExecRequest } from './exec-protocol.js';
import type { Log } from './settings.js';

export interface ExecServerOptions {
  /** Where to listen: `<socketDir>/<container name>.sock`. */
  socket: string;
  log: Log;
  /** The environment commands start from: the container's own (its image's ENV, the pod's env). */
  env?: NodeJS.ProcessEnv;
  /**
   * The paths a command names (/__w, /__t, /__a/externals) as this process sees them. In a pod the siblings mount the
   * pod's volumes at those paths, so nothing is mapped; a test standing in for the pod maps them to its folders.
   */
  translate?: (text: string) => string;
}

/** docker exec's exit code for a signal: 128 plus its number. */
const signalCode = (signal: NodeJS.Signals) => 128 + (constants.signals[signal] ?? 0);

/** Listens on `socket` (mode 0600: only this uid, the pod's, connects) until closed. */
export async function startExecServer(options: ExecServerOptions): Promise<Server> {
  const { socket: path, log } = options;
  rmSync(path, { force: true });
  // Each created container's environment, by its id: in this process's memory, for the pod's one job.
  const environments = new Map<string, Record<string, string>>();
  const server = createServer((socket) => serve(socket, options, environments));
  // The umask makes the socket 0600 from its creation: no moment when another uid could connect.
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, () => resolve()));
  } finally {
    process.umask(umask);
  }
  log(`listening on ${path}`);
  return server;
}

/**
 * One connection: a container's environment to hold, answered at once; or a request, then its stdin and signals one
 * way and its output and exit code the other.
 */
function serve(socket: Socket, options: ExecServerOptions, environments: Map<string, Record<string, string>>): void {
  const translate = options.translate ?? ((text: string) => text);
  let child: ChildProcess | undefined;
  let running = false;
  socket.on('error', () => undefined);
  const refuse = (why: string) => {
    options.log(`refused a request: ${why}`);
    // Nothing sent after a refusal is taken, not even a request in the same write.
    stopReading();
    if (running) killGroup(child, 'SIGKILL');
    socket.end(frame(Frame.refused, why));
  };
  // A shim that goes away (killed, its job cancelled hard) takes its command with it.
  socket.on('close', () => { if (running) killGroup(child, 'SIGKILL'); });
  const stopReading = readFrames(socket, (type, payload) => {
    if (!child) {
      if (type === Frame.environment) {
        try {
          const { container, env } = parseEnvironment(payload);
          environments.set(container, env);
        } catch (caught) {
          return refuse(`malformed environment: ${(caught as Error).message}`);
        }
        stopReading();
        return void socket.end(exitFrame(0));
      }
      if (type !== Frame.request) return refuse(`the first frame must be a request, not type 0x${type.toString(16)}`);
      let request: ExecRequest;
      try {
        request = parseRequest(payload);
      } catch (caught) {
        return refuse(`malformed request: ${(caught as Error).message}`);
      }
      const held = request.container === undefined ? {} : environments.get(request.container);
      if (!held) {
        return refuse(`this helper holds no environment for container ${request.container}: was the container restarted since the job's docker create?`);
      }
      const own = process.getuid?.();
      if (request.uid !== undefined && request.uid !== own && own !== 0) {
        return refuse(`this container runs as uid ${own} and cannot run a command as uid ${request.uid}: the pod must run the agent and its containers as one uid`);
      }
      try {
        child = run({ ...request, env: { ...held, ...request.env } }, socket, translate, options.env ?? process.env);
      } catch (caught) {
        // What spawn itself refuses (a NUL byte in an argument or a variable): refused like any bad request.
        return refuse(`cannot run it: ${(caught as Error).message}`);
      }
      running = true;
      child.on('close', () => (running = false));
      return;
    }
    if (type === Frame.stdin) child.stdin?.write(options.translate ? translate(payload.toString('utf8')) : payload);
    else if (type === Frame.stdinEnd) child.stdin?.end();
    else if (type === Frame.signal && Object.hasOwn(constants.signals, payload.toString())) {
      if (running) killGroup(child, payload.toString() as NodeJS.Signals);
    } else refuse(`unexpected frame type 0x${type.toString(16)}`);
  }, () => refuse(`a frame over ${maxFrame} bytes`));
}

/**
 * Signals the command's process group. The group may have emptied already while a process the command left in
 * another session still holds its output open (so it has not closed): then there is nothing to signal.
 */
function killGroup(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (caught) {
    if ((caught as NodeJS.ErrnoException).code !== 'ESRCH') throw caught;
  }
}

function run(request: ExecRequest, socket: Socket, translate: (text: string) => string, baseEnv: NodeJS.ProcessEnv): ChildProcess {
  const [command, ...args] = request.argv.map(translate);
  const cwd = request.cwd === undefined ? undefined : translate(request.cwd);
  const env = { ...baseEnv, ...Object.fromEntries(Object.entries(request.env).map(([key, value]) => [key, translate(value)])) };
  const asOther = request.uid !== undefined && request.uid !== process.getuid?.();
  // detached: a process group of its own, which a signal frame (the job's cancellation) reaches whole.
  const child = spawn(command, args, {
    cwd: cwd !== undefined && existsSync(cwd) ? cwd : '/', env, detached: true, stdio: 'pipe', ...(asOther ? { uid: request.uid } : {}),
  });
  if (!request.stdin) child.stdin.end();
  child.stdin.on('error', () => undefined);
  child.stdout.on('data', (chunk: Buffer) => socket.write(frame(Frame.stdout, chunk)));
  child.stderr.on('data', (chunk: Buffer) => socket.write(frame(Frame.stderr, chunk)));
  let failed = false;
  child.on('error', (error: NodeJS.ErrnoException) => {
    // As docker exec: 127 for a command not found, 126 for one that cannot be run.
    failed = true;
    socket.write(frame(Frame.stderr, `exec: "${request.argv[0]}": ${error.code === 'ENOENT' ? 'executable file not found' : error.message}\n`));
    socket.end(exitFrame(error.code === 'ENOENT' ? 127 : 126));
  });
  child.on('close', (code, signal) => { if (!failed) socket.end(exitFrame(code ?? (signal ? signalCode(signal) : 1))); });
  return child;
}
