// The exec helper (runner/exec-server.ts) as a hostile client of its socket meets it: a refusal ends the connection,
// and nothing sent after it, in the same write or later, runs (the whole helper with the shim: component
// pod-containers.test.ts).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { Frame, frame, readFrames } from '../../../runner/exec-protocol.js';
import { startExecServer } from '../../../runner/exec-server.js';

const dir = mkdtempSync(join(tmpdir(), 'exec-server-'));
const socketPath = join(dir, 'build.sock');
let server: Server;
before(async () => {
  server = await startExecServer({ socket: socketPath, log: () => {} });
});
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Sends `frames` in one write; the frames the helper answers until it closes, as `<type>:<payload>`. */
const ask = (...frames: Buffer[]) => new Promise<string[]>((resolve) => {
  const socket = connect(socketPath);
  const answer: string[] = [];
  readFrames(socket, (type, payload) => void answer.push(`${String.fromCharCode(type)}:${payload.toString()}`), () => answer.push('too large'));
  socket.on('close', () => resolve(answer));
  socket.write(Buffer.concat(frames));
});

it('runs nothing that follows a refusal, whether it came in the same write or not', async () => {
  const marker = join(dir, 'ran');
  const request = frame(Frame.request, JSON.stringify({ argv: ['touch', marker], env: {}, stdin: false }));
  assert.deepEqual(await ask(frame(Frame.stdin, 'x'), request), ['F:the first frame must be a request, not type 0x49']);
  assert.deepEqual(await ask(frame(Frame.request, '{"argv":'), request), ['F:malformed request: the request is not JSON']);
  // Refused while a command runs: the command is ended, and the request behind it is not taken as a new one.
  const running = frame(Frame.request, JSON.stringify({ argv: ['sleep', '5'], env: {}, stdin: true }));
  assert.deepEqual(await ask(running, frame(0x5a, 'z'), request), ['F:unexpected frame type 0x5a']);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(!existsSync(marker), 'a request after a refusal ran its command');
  assert.deepEqual(await ask(request), ['C:\u0000\u0000\u0000\u0000'], 'the helper still serves');
  assert.ok(existsSync(marker));
});

it('holds a container\'s environment for the requests naming it, and runs nothing for a container it does not know', async () => {
  const marker = join(dir, 'unknown-ran');
  const exit0 = 'C:\u0000\u0000\u0000\u0000';
  const print = (container: string | undefined, env = {}) => frame(Frame.request, JSON.stringify({ argv: ['sh', '-c', 'printf %s "$HELD/$OWN"; touch "$MARK"'], container, env: { MARK: marker, ...env }, stdin: false }));
  assert.deepEqual(await ask(frame(Frame.environment, JSON.stringify({ container: 'c1', env: { HELD: 'held', OWN: 'create' } }))), [exit0]);
  assert.deepEqual(await ask(print('c1', { OWN: 'exec' })), ['O:held/exec', exit0], 'the exec\'s own -e comes last');
  assert.deepEqual(await ask(print(undefined)), ['O:/', exit0], 'a request naming no container gets none');
  assert.ok(existsSync(marker));
  rmSync(marker);
  // After a restart the helper holds nothing: a request for the job's container is refused, not run without its env.
  assert.deepEqual(await ask(print('c2')), ['F:this helper holds no environment for container c2: was the container restarted since the job\'s docker create?']);
  // An environment frame is answered alone: a request written behind it is not taken.
  assert.deepEqual(await ask(frame(Frame.environment, JSON.stringify({ container: 'c2', env: {} })), print('c2')), [exit0]);
  assert.deepEqual(await ask(frame(Frame.environment, JSON.stringify({ container: 'c3', env: { X: 1 } }))), ['F:malformed environment: env must map names to strings']);
  assert.deepEqual(await ask(frame(Frame.environment, JSON.stringify({ env: {} }))), ['F:malformed environment: container must be a container id']);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(!existsSync(marker), 'no refused or unread request ran');
});
