// The agent OAuth path: RS256 client assertions verified against the registered key, token issue, Bearer challenge.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { clientAssertion, VssClient } from '../../emulator/agent/client.js';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { verifyClientAssertion } from '../../emulator/src/auth.js';
import type { Agent } from '../../emulator/src/types.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const audience = 'http://127.0.0.1:1/org/_apis/oauth2/token';
const agent = { id: 7, clientId: 'c1d2e3f4-0000-0000-0000-000000000007', publicKey: publicKeyOf(key) } as Agent;

test('verifies a well-formed assertion and names the agent', () => {
  assert.equal(verifyClientAssertion(clientAssertion(agent.clientId, audience, key), [agent], audience).id, 7);
});

test('rejects a wrong key, audience, expiry or algorithm', () => {
  assert.throws(() => verifyClientAssertion(clientAssertion(agent.clientId, audience, other), [agent], audience), /signature/);
  assert.throws(() => verifyClientAssertion(clientAssertion(agent.clientId, 'http://elsewhere/token', key), [agent], audience), /audience/);
  assert.throws(() => verifyClientAssertion(clientAssertion(agent.clientId, audience, key, Date.now() - 3_600_000), [agent], audience), /expired/);
  assert.throws(() => verifyClientAssertion(clientAssertion('unknown', audience, key), [agent], audience), /Unknown client/);
  const [, claims, signature] = clientAssertion(agent.clientId, audience, key).split('.');
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${claims}.${signature}`;
  assert.throws(() => verifyClientAssertion(none, [agent], audience), /algorithm/);
});

let emulator: TestEmulator;
before(async () => {
  emulator = await startEmulator({ pools: ['P'], pollTimeoutMs: 200 });
});
after(() => emulator.stop());

test('registration returns OAuth data; the agent then works with a Bearer token and no PAT', async () => {
  const pat = new VssClient(emulator.orgUrl, { kind: 'basic', user: 'VstsAgent', password: 'emulator-pat' }, 'test');
  await pat.connect();
  const registered = await pat.send<{ id: number; authorization: { clientId: string; authorizationUrl: string } }>('POST', 'e298ef32-5878-4cab-993c-043836571f42', {
    routeValues: { poolId: 1 }, body: { name: 'oauth-agent', version: '4.999.0', authorization: { publicKey: publicKeyOf(key) } },
  });
  assert.ok(registered);
  assert.match(registered.authorization.clientId, /^[0-9a-f-]{36}$/);
  // Without credentials the service answers 401 with a Bearer challenge, which is what makes the client fetch a token.
  const anonymous = await fetch(`${emulator.orgUrl}/_apis/connectionData`);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer /);
  assert.equal((await anonymous.json() as { typeKey: string }).typeKey, 'UnauthorizedRequestException');
  const oauth = new VssClient(emulator.orgUrl, { kind: 'oauth', clientId: registered.authorization.clientId, authorizationUrl: registered.authorization.authorizationUrl, oauthEndpointUrl: registered.authorization.authorizationUrl, key }, 'test');
  await oauth.connect();
  const session = await oauth.send<{ sessionId: string }>('POST', '134e239e-2df3-4794-a6f6-24f1f19ec8dc', { routeValues: { poolId: 1 }, body: { ownerName: 'x', agent: { id: registered.id } } });
  assert.match(session?.sessionId ?? '', /^[0-9a-f-]{36}$/);
  const served = await emulator.admin.requests();
  assert.deepEqual(served.filter((entry) => entry.path.endsWith('/sessions')).map((entry) => [entry.status, entry.auth, entry.principal]), [[201, 'bearer', `agent:${registered.id}`]]);
  // An agent token is not a PAT: it cannot manage agents.
  await assert.rejects(oauth.send('DELETE', 'e298ef32-5878-4cab-993c-043836571f42', { routeValues: { poolId: 1, agentId: registered.id } }), /Access denied/);
});

test('a token request signed with another key is refused with invalid_client', async () => {
  // An agent registered with `key`: its client id, as the registration answers it.
  const registration = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/1/agents?api-version=7.1`, {
    method: 'POST', headers: { Authorization: `Basic ${Buffer.from(':emulator-pat').toString('base64')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'keyed-agent', authorization: { publicKey: publicKeyOf(key) } }),
  });
  const { authorization } = (await registration.json()) as { authorization: { clientId: string } };
  const tokenRequest = (signer: typeof key) => fetch(emulator.authorizationUrl, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(authorization.clientId, emulator.authorizationUrl, signer),
    }),
  });
  const response = await tokenRequest(other);
  assert.equal(response.status, 401);
  assert.equal((await response.json() as { error: string }).error, 'invalid_client');
  assert.equal((await tokenRequest(key)).status, 200, 'the same client with its own key gets a token');
});
