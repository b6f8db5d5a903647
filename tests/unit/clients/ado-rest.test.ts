// The Azure DevOps client against a real HTTP server: what a 404 means for each call, and one retry policy bounded
// by a time budget per call (a watch pass waits on it; the next pass tries again).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { lookup } from 'node:dns/promises';
import { callBudgetMs, RestAdoClient } from '../../../src/clients/ado-rest.js';
import { AdoError } from '../../../src/core/ports/ado.js';

let server: Server;
let origin = '';
const calls: string[] = [];
// What the server answers, by the first part of the path after the organization.
let answer: (method: string) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({ status: 404 });

before(async () => {
  server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url?.split('?')[0]}`);
    const reply = answer(req.method ?? '');
    if (reply === 'hang') return;
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify({ message: `answer ${reply.status}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => new Promise<void>((resolve) => {
  server.closeAllConnections();
  server.close(() => resolve());
}));

// A reserved name no resolver finds; a machine whose resolver gives no answer at all cannot show NXDOMAIN.
const nxdomain = 'no-such-organization.invalid';
const resolverAnswers = (await lookup(nxdomain).catch((e: { code?: string }) => e.code)) === 'ENOTFOUND';

/** A client on a virtual clock: its waits pass at once and move the clock. */
function virtualClient(budgetMs?: number, organizationUrl = origin) {
  let time = 1_000_000;
  const client = new RestAdoClient({
    organizationUrl, token: 'pat', log: () => {}, now: () => time, budgetMs,
    sleep: async (ms) => {
      time += ms;
    },
    extension: { publisher: 'p', id: 'e' },
  });
  return { client, elapsed: () => time - 1_000_000 };
}

const rejection = async (call: Promise<unknown>): Promise<AdoError> => {
  const error = await call.then(() => assert.fail('the call succeeded'), (e: unknown) => e);
  assert.ok(error instanceof AdoError, String(error));
  return error;
};

describe('Azure DevOps client', { timeout: 20_000 }, () => {
  it('reads a 404 to a GET as absent, and fails a PATCH or PUT that hits one', async () => {
    answer = () => ({ status: 404 });
    const { client } = virtualClient();
    assert.equal(await client.findPool('Linux'), undefined);
    assert.deepEqual(await client.listAgents(7), []);
    assert.equal((await rejection(client.setAgentEnabled(7, 3, false))).status, 404);
    const put = await rejection(client.publishSnapshot({ id: 'n.r' } as never));
    assert.equal(put.status, 404);
    assert.match(put.message, /^Azure DevOps answered 404 to PUT ExtensionManagement\/InstalledExtensions\/p\/e\//);
  });

  it('reads a 404 to a DELETE of an agent as already deleted', async () => {
    answer = () => ({ status: 404 });
    assert.equal(await virtualClient().client.deleteAgent(7, 3), false);
    answer = () => ({ status: 204 });
    assert.equal(await virtualClient().client.deleteAgent(7, 3), true);
  });

  it('retries a 5xx with back-off and gives up within the budget, with that status', async () => {
    answer = () => ({ status: 503 });
    calls.length = 0;
    const { client, elapsed } = virtualClient();
    const error = await rejection(client.listAgents(7));
    assert.equal(error.status, 503);
    assert.match(error.message, /^Azure DevOps answered 503 to GET distributedtask\/pools\/7\/agents: answer 503 \(gave up after 6 attempt\(s\) in 31 s\)$/);
    assert.equal(calls.length, 6);
    assert.ok(elapsed() <= callBudgetMs, `${elapsed()} ms`);
  });

  it('gives up at once on a Retry-After longer than the budget', async () => {
    answer = () => ({ status: 429, headers: { 'retry-after': '120' } });
    calls.length = 0;
    const { client, elapsed } = virtualClient();
    const error = await rejection(client.listAgents(7));
    assert.equal(error.status, 429);
    assert.match(error.message, /asks to wait 120 s before GET distributedtask\/pools\/7\/agents, longer than a call may take/);
    assert.equal(calls.length, 1);
    assert.equal(elapsed(), 0);
  });

  it('fails at once on a port fetch will not use: no attempt can ever be sent', async () => {
    const blocked = virtualClient(undefined, 'http://127.0.0.1:1');
    const error = await rejection(blocked.client.findPool('Linux'));
    assert.match(error.message, /^Cannot reach Azure DevOps at http:\/\/127\.0\.0\.1:1: fetch failed \(bad port\) \(gave up after 1 attempt\(s\) in 0 s\)$/);
    assert.equal(blocked.elapsed(), 0);
  });

  it('fails at once on a name that does not exist (NXDOMAIN)', { skip: !resolverAnswers && 'this machine\'s resolver gives no answer for .invalid names' }, async () => {
    const missing = virtualClient(undefined, `https://${nxdomain}/contoso`);
    const error = await rejection(missing.client.findPool('Linux'));
    assert.match(error.message, /ENOTFOUND.*\(gave up after 1 attempt\(s\) in 0 s\)$/);
    assert.equal(missing.elapsed(), 0);
  });

  it('tries a refused connection for seconds, not the whole budget: a server restarting is back by then', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = virtualClient(undefined, `http://127.0.0.1:${port}`);
    const error = await rejection(refused.client.findPool('Linux'));
    assert.equal(error.status, 0);
    assert.match(error.message, /ECONNREFUSED.*\(gave up after 3 attempt\(s\) in 3 s\)$/);
    assert.equal(refused.elapsed(), 3000);
  });

  it('ends a call to a server that never answers when its budget runs out, as no answer', async () => {
    answer = () => 'hang';
    const client = new RestAdoClient({ organizationUrl: origin, token: 'pat', log: () => {}, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)), budgetMs: 1500 });
    const started = Date.now();
    const error = await rejection(client.findPool('Linux'));
    assert.equal(error.status, 0);
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  });
});
