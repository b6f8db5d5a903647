// The Kubernetes client's DELETE against a real HTTP server: its DeleteOptions (the UID precondition, the grace
// period) must reach the server. Node sends a DELETE body with neither Content-Length nor chunked encoding unless told
// the length, and a server (Go's, Node's) then reads no body at all: the API server deleted by name, with the pod's
// whole grace period, whatever the options said.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { kubeClientAt } from '../../support/kube-client-at.js';

let server: Server;
let origin = '';
const received: Array<{ method?: string; body: string }> = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","status":"Success"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('a delete with options', { timeout: 10_000 }, () => {
  it('reaches the server with its UID precondition and grace period', async () => {
    assert.equal(await kubeClientAt(origin).delete({ apiVersion: 'v1', kind: 'Pod', namespace: 'n', name: 'p' }, 'uid-1', 5), true);
    assert.equal(received.length, 1);
    assert.equal(received[0].method, 'DELETE');
    assert.deepEqual(JSON.parse(received[0].body || '{}'), { preconditions: { uid: 'uid-1' }, gracePeriodSeconds: 5 });
  });
});
