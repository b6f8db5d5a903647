// Both clients against a real HTTP server that drops the connection halfway through its answer: the call must end
// with a "no answer" error (status 0, which a watching ScaleRunnerPool retries), never hang.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { kubeClientAt } from '../../support/kube-client-at.js';
import { KubeApiError } from '../../../src/core/ports/kube.js';
import { RestAdoClient } from '../../../src/clients/ado-rest.js';
import { AdoError } from '../../../src/core/ports/ado.js';

let server: Server;
let origin = '';

before(async () => {
  // Headers and the start of a JSON body, then the connection is cut.
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.write('{"kind":"Pod","metadata":{"na', () => res.socket?.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('an answer cut off halfway', { timeout: 10_000 }, () => {
  it('ends a Kubernetes call with an "unreachable" error', async () => {
    const error = await kubeClientAt(origin).get({ apiVersion: 'v1', kind: 'Pod', namespace: 'n', name: 'p' }).then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof KubeApiError, String(error));
    assert.equal(error.status, 0);
    assert.match(error.message, /^cannot reach the cluster at http:\/\/127\.0\.0\.1:\d+: \w/);
  });

  it('ends an Azure DevOps call with a "cannot reach" error within its time budget', async () => {
    const client = new RestAdoClient({ organizationUrl: origin, token: 'pat-unused', sleep: async () => {}, log: () => {}, budgetMs: 1000 });
    const error = await client.findPool('Linux').then(
      () => assert.fail('the call succeeded'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof AdoError, String(error));
    assert.equal(error.status, 0);
    assert.match(error.message, /Cannot reach Azure DevOps at http:\/\/127\.0\.0\.1:\d+/);
  });
});
