// The autoscaler's calls to runner pods (src/clients/runner-handshake-http.ts) against pods that misbehave, on
// loopback: a slow or chatty pod costs a call its deadline at most, and only a sealed request is opened.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { autoscalerKeyMaker, loadAutoscalerKeys } from '../../../src/clients/autoscaler-keys.js';
import { httpRunnerHandshake } from '../../../src/clients/runner-handshake-http.js';

const keys = autoscalerKeyMaker.make();
const dir = mkdtempSync(join(tmpdir(), 'handshake-client-'));
writeFileSync(join(dir, 'signing-key'), keys.private.signing);
writeFileSync(join(dir, 'encryption-key'), keys.private.encryption);
const servers: Server[] = [];
after(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** A pod on loopback that answers with `respond`; the client's calls to it. */
async function pod(respond: Parameters<typeof createServer>[1]) {
  const server = createServer(respond);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return httpRunnerHandshake(loadAutoscalerKeys(dir, keys.public), { port: (server.address() as AddressInfo).port, deadlineMs: 500 });
}

describe('the autoscaler\'s calls to a runner pod', () => {
  it('give up on a pod that trickles its answer, at the whole call\'s deadline', async () => {
    const client = await pod((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const drip = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(drip));
    });
    const started = Date.now();
    await assert.rejects(client.request('127.0.0.1'), /no whole answer from 127\.0\.0\.1:\d+ within 0\.5 s/);
    assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
  });

  it('give up on a pod that never answers a grant', async () => {
    const client = await pod(() => {});
    const grant = { agentId: 1, agentName: 'a', poolId: 1, poolName: 'p', serverUrl: 'u', clientId: 'c', authorizationUrl: 'u', oauthEndpointUrl: 'u' };
    await assert.rejects(client.grant('127.0.0.1', grant, { podName: 'a', podUid: 'u', publicKey: { exponent: 'AQAB', modulus: 'x' }, keyId: 'k', nonce: 'n', systemCapabilities: {} }), /within 0\.5 s/);
  });

  it('read no more than 64 KiB', async () => {
    const client = await pod((_req, res) => res.writeHead(200).end(`"${'x'.repeat(70 * 1024)}"`));
    await assert.rejects(client.request('127.0.0.1'), /answered more than 65536 bytes/);
  });

  it('open only a request sealed to the autoscaler\'s key: a plain one is refused', async () => {
    const plain = await pod((_req, res) => res.writeHead(200).end(JSON.stringify({ podName: 'linux-0', podUid: 'u0', systemCapabilities: {} })));
    await assert.rejects(plain.request('127.0.0.1'), /serves no sealed registration request/);
    const forged = await pod((_req, res) => res.writeHead(200).end(JSON.stringify({ version: 1, key: 'A'.repeat(43), iv: 'A'.repeat(16), data: 'A'.repeat(40) })));
    await assert.rejects(forged.request('127.0.0.1'), /not sealed to this autoscaler's key/);
  });

  it('see no request where no helper listens, or where it has ended', async () => {
    assert.equal(await (await pod((_req, res) => res.writeHead(404).end())).request('127.0.0.1'), undefined);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    assert.equal(await httpRunnerHandshake(loadAutoscalerKeys(dir, keys.public), { port }).request('127.0.0.1'), undefined);
  });

  it('refuse to start with keys that are not the pods\'', () => {
    assert.throws(() => loadAutoscalerKeys(dir, autoscalerKeyMaker.make().public), /not those the runner pods were given/);
    writeFileSync(join(dir, 'signing-key'), keys.private.encryption);
    assert.throws(() => loadAutoscalerKeys(dir, keys.public), /does not hold an Ed25519 and an X25519 private key/);
    writeFileSync(join(dir, 'signing-key'), keys.private.signing);
  });
});
