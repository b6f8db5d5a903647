// The exec helper's protocol (docs/container-jobs.md, "The exec helper"): frames of one type byte, a 4-byte big-endian
// length and the payload, both ways over one Unix socket connection per command.
import type { Socket } from 'node:net';

/**
 * The frame types. To the helper: a container's environment or a request, then stdin, its end, a signal; back:
 * stdout, stderr, the exit code, a refusal.
 */
export const Frame = {
  environment: 0x56, // 'V' JSON ContainerEnvironment, first and alone: answered by an exit code of 0
  request: 0x52, // 'R' JSON ExecRequest, first and once
  stdin: 0x49, // 'I' bytes
  stdinEnd: 0x45, // 'E' empty
  signal: 0x4b, // 'K' a signal name, passed to the command's process group
  stdout: 0x4f, // 'O' bytes
  stderr: 0x58, // 'X' bytes
  exit: 0x43, // 'C' the exit code, 4 bytes big-endian
  refused: 0x46, // 'F' why the request was refused (nothing ran); the helper then closes
} as const;

export interface ExecRequest {
  /** The command and its arguments; no shell. */
  argv: string[];
  /** The working directory; the helper starts in `/` when it does not exist (no user home is created unprivileged). */
  cwd?: string;
  /** The uid to run as (`docker exec -u`): only the helper's own, unless the helper runs as root. */
  uid?: number;
  /** The container (its id from `docker create`) whose environment the helper holds and adds; unknown: refused. */
  container?: string;
  /** Added last (`docker exec -e`). */
  env: Record<string, string>;
  /** Whether stdin frames follow (`docker exec -i`); without it the command's stdin is empty. */
  stdin: boolean;
}

/**
 * A job container's environment (`docker create -e`), handed over at `create` and held in the helper's memory only:
 * the job's variables, secrets mapped by the pipeline included, never go to a file.
 */
export interface ContainerEnvironment {
  container: string;
  env: Record<string, string>;
}

/** The largest frame either side accepts: a request (an env) or a chunk of output. */
export const maxFrame = 1 << 20;

export function frame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(type, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export function exitFrame(code: number): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(code, 0);
  return frame(Frame.exit, body);
}

/**
 * Calls `onFrame` for each whole frame arriving on `socket`; a frame over `maxFrame` calls `onTooLarge` and stops.
 * Returns what stops it at once: no further frame is handed over, not even the rest of the chunk being read.
 */
export function readFrames(socket: Socket, onFrame: (type: number, payload: Buffer) => void, onTooLarge: () => void): () => void {
  let pending: Buffer = Buffer.alloc(0);
  let stopped = false;
  const onData = (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5 && !stopped) {
      const length = pending.readUInt32BE(1);
      if (length > maxFrame) {
        socket.off('data', onData);
        onTooLarge();
        return;
      }
      if (pending.length < 5 + length) return;
      const type = pending[0];
      const payload = pending.subarray(5, 5 + length);
      pending = pending.subarray(5 + length);
      onFrame(type, payload);
    }
  };
  socket.on('data', onData);
  return () => {
    stopped = true;
    socket.off('data', onData);
  };
}

function parseJson<T>(payload: Buffer): Partial<T> {
  try {
    return (JSON.parse(payload.toString('utf8')) ?? {}) as Partial<T>;
  } catch {
    throw new Error('the request is not JSON');
  }
}

function checkEnv(env: unknown): Record<string, string> {
  if (typeof env !== 'object' || env === null || !Object.values(env).every((v) => typeof v === 'string')) throw new Error('env must map names to strings');
  return env as Record<string, string>;
}

function checkContainer(container: unknown): string | undefined {
  if (container !== undefined && (typeof container !== 'string' || container === '')) throw new Error('container must be a container id');
  return container;
}

/** Parses and checks a request frame's JSON, or throws saying what is wrong with it. */
export function parseRequest(payload: Buffer): ExecRequest {
  const request = parseJson<ExecRequest>(payload);
  if (!Array.isArray(request.argv) || request.argv.length === 0 || !request.argv.every((arg) => typeof arg === 'string')) throw new Error('argv must be a non-empty list of strings');
  if (request.cwd !== undefined && typeof request.cwd !== 'string') throw new Error('cwd must be a string');
  if (request.uid !== undefined && !(Number.isInteger(request.uid) && request.uid >= 0)) throw new Error('uid must be a non-negative integer');
  const env = checkEnv(request.env);
  if (typeof request.stdin !== 'boolean') throw new Error('stdin must be true or false');
  return { argv: request.argv, cwd: request.cwd, uid: request.uid, container: checkContainer(request.container), env, stdin: request.stdin };
}

/** Parses and checks an environment frame's JSON, or throws saying what is wrong with it. */
export function parseEnvironment(payload: Buffer): ContainerEnvironment {
  const given = parseJson<ContainerEnvironment>(payload);
  const container = checkContainer(given.container);
  if (container === undefined) throw new Error('container must be a container id');
  return { container, env: checkEnv(given.env) };
}
