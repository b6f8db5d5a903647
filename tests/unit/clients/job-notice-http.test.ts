// The autoscaler's notice port on loopback, as a hostile pod would use it: only a small, well-formed `{ agentId }` is
// passed on; junk, a large body, another path or method, a sender that trickles or sends nothing are turned away,
// quickly, and one address holding connections keeps no other's notice out.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startJobNoticeServer, type JobNoticeServer } from '../../../src/clients/job-notice-http.js';

let server: JobNoticeServer;
const heard: number[] = [];
const senders: string[] = [];
let stopListening: () => void;

before(async () => {
  server = await startJobNoticeServer(0, (port) => `http://127.0.0.1:${port}/job-started`, '127.0.0.1');
  stopListening = server.listen((agentId, from) => {
    heard.push(agentId);
    senders.push(from);
  });
});
after(() => server.close());

const post = async (body: string, path = '/job-started', method = 'POST') => {
  try {
    return (await fetch(`http://127.0.0.1:${server.port}${path}`, { method, ...(method === 'POST' && { body }) })).status;
  } catch {
    return 'cut';
  }
};

describe('the autoscaler\'s notice port', () => {
  it('passes on the agent id of a well-formed notice, known or not, with the same answer', async () => {
    assert.equal(server.url, `http://127.0.0.1:${server.port}/job-started`);
    heard.length = 0;
    assert.equal(await post('{"agentId":42}'), 202);
    assert.equal(await post('{"agentId":999999}'), 202);
    assert.deepEqual(heard, [42, 999999]);
  });

  it('says which address each notice came from, an IPv4 peer as a pod\'s IP is written', async () => {
    senders.length = 0;
    assert.equal(await post('{"agentId":7}'), 202);
    assert.deepEqual(senders, ['127.0.0.1']);
    // Over a dual-stack listener an IPv4 peer arrives as ::ffff:127.0.0.1.
    const dual = await startJobNoticeServer(0, (port) => `http://127.0.0.1:${port}/job-started`, '::');
    const from: string[] = [];
    dual.listen((_agentId, address) => from.push(address));
    try {
      assert.equal((await fetch(`http://127.0.0.1:${dual.port}/job-started`, { method: 'POST', body: '{"agentId":7}' })).status, 202);
      assert.deepEqual(from, ['127.0.0.1']);
    } finally {
      await dual.close();
    }
  });

  it('passes on nothing else', async () => {
    heard.length = 0;
    for (const body of ['{', '[]', 'null', '{"agentId":"42"}', '{"agentId":-1}', '{"agentId":0}', '{"agentId":1.5}', '{"agentId":42,"more":1}', '{}']) {
      assert.equal(await post(body), 400, body);
    }
    assert.equal(await post('{"agentId":42}', '/metrics'), 404);
    assert.equal(await post('', '/job-started', 'GET'), 405);
    assert.ok([413, 'cut'].includes(await post(`{"agentId":42,"pad":"${'x'.repeat(100_000)}"}`)), 'a large body is cut');
    assert.deepEqual(heard, []);
  });

  it('cuts a sender that trickles within a few seconds', async () => {
    const started = Date.now();
    const socket = connect(server.port, '127.0.0.1');
    socket.write('POST /job-started HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{');
    const trickle = setInterval(() => socket.write(' '), 200);
    await new Promise((resolve) => socket.on('close', resolve).on('error', resolve));
    clearInterval(trickle);
    assert.ok(Date.now() - started < 4000, `cut after ${Date.now() - started} ms`);
  });

  /** A socket to the notice port from `localAddress` (any of 127.0.0.0/8 is loopback: another pod's address). */
  const open = (localAddress: string, first?: string) => new Promise<{ socket: Socket; closed: Promise<number> }>((resolve) => {
    const started = Date.now();
    const socket = connect({ port: server.port, host: '127.0.0.1', localAddress });
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
    socket.on('error', () => {});
    socket.on('connect', () => {
      if (first !== undefined) socket.write(first);
      resolve({ socket, closed });
    });
  });

  it('cuts a connection that sends nothing, or headers that never end, within its deadline', async () => {
    const idle = await open('127.0.0.3');
    const partial = await open('127.0.0.4', 'POST /job-started HTTP/1.1\r\nHost: x\r\n');
    const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 4000));
    for (const { socket, closed } of [idle, partial]) {
      const after = await Promise.race([closed, timeout]);
      socket.destroy();
      assert.ok(after < 3000, `cut after ${after} ms`);
    }
  });

  /** A genuine notice gets through while other connections are held open, which are closed afterwards. */
  async function assertNoticeHeardWhile(held: Array<{ socket: { destroy(): void } }>): Promise<void> {
    try {
      assert.equal(await post('{"agentId":7}'), 202);
      assert.deepEqual(heard, [7]);
    } finally {
      for (const { socket } of held) socket.destroy();
    }
  }

  it('passes on a pod\'s notice while another pod holds every connection it can', async () => {
    heard.length = 0;
    await assertNoticeHeardWhile(await Promise.all(Array.from({ length: 32 }, () => open('127.0.0.2'))));
  });

  it('passes on a pod\'s notice while many other pods each hold every connection they can', async () => {
    heard.length = 0;
    const addresses = Array.from({ length: 64 }, (_, index) => `127.0.1.${index + 1}`);
    await assertNoticeHeardWhile(await Promise.all(addresses.flatMap((address) => [open(address), open(address)])));
  });

  it('passes on one notice per connection, however many requests it pipelines', async () => {
    heard.length = 0;
    const body = '{"agentId":7}';
    const { socket, closed } = await open('127.0.0.4', `POST /job-started HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`.repeat(5000));
    socket.resume();
    await closed;
    assert.equal(heard.length, 1, 'notices passed on');
  });

  it('passes nothing on once the loop stops listening', async () => {
    heard.length = 0;
    stopListening();
    assert.equal(await post('{"agentId":42}'), 202);
    assert.deepEqual(heard, []);
  });
});
