// The emulator's /_admin controls that the trial and the benchmarks drive it by, instead of reaching into its store.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from '../support/emulator.js';

let emulator: TestEmulator;
const basic = { Authorization: `Basic ${Buffer.from(`:${DEFAULT_PAT.token}`).toString('base64')}`, 'Content-Type': 'application/json' };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

before(async () => {
  emulator = await startEmulator({ pools: ['P'] });
  // A pool with no agent rejects every job: one registered agent, offline, keeps them queued.
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const agent = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/1/agents?api-version=7.1`, {
    method: 'POST', headers: basic, body: JSON.stringify({ name: 'offline-1', authorization: { publicKey: publicKeyOf(key) } }),
  });
  assert.equal(agent.status, 200);
});
after(() => emulator.stop());

test('tokens: a Bearer token stands for its user with only its scopes, until it expires; a malformed one is refused', async () => {
  await emulator.admin.addToken({ token: 'page-token', user: 'reader@emulated.example', scopes: ['vso.agentpools'], expiresInSeconds: 0.5 });
  const since = Math.max(0, ...(await emulator.admin.requests()).map((entry) => entry.seq));
  const pools = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools`, { headers: bearer('page-token') });
  assert.equal(pools.status, 200);
  assert.deepEqual((await emulator.admin.requests(since)).map((entry) => [entry.auth, entry.principal]), [['bearer', 'pat:reader@emulated.example']]);
  // Its scopes read pools, and manage no agent.
  const remove = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/1/agents/1?api-version=7.1`, { method: 'DELETE', headers: bearer('page-token') });
  assert.equal(remove.status, 403);
  await sleep(600);
  assert.equal((await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools`, { headers: bearer('page-token') })).status, 401);

  for (const malformed of [{}, { token: '' }, { token: 'a b' }, { token: 'x', scopes: 'vso.agentpools' }, { token: 'x', expiresInSeconds: 'soon' }, { token: 'x', expiresInSeconds: 0 }]) {
    const response = await fetch(`${emulator.url}/_admin/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(malformed) });
    assert.equal(response.status, 400, JSON.stringify(malformed));
  }
  assert.equal((await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools`, { headers: bearer('x') })).status, 401);
});

test('jobs: a job a pipeline run queued names that run as its owner; a job queued here has none', async () => {
  const pipeline = await emulator.admin.createPipeline({ project: 'Admin', name: 'Sample', pool: 'P', script: 'true' });
  const response = await fetch(`${emulator.orgUrl}/${pipeline.projectId}/_apis/pipelines/${pipeline.id}/runs?api-version=7.1`, {
    method: 'POST', headers: basic, body: '{}',
  });
  assert.equal(response.status, 200);
  const run = (await response.json()) as { id: number; name: string };
  const direct = await emulator.admin.queueJob({ pool: 'P', script: 'true' });
  assert.ok('requestId' in direct);
  const jobs = await emulator.admin.jobs();
  assert.deepEqual(jobs.filter((job) => job.requestId !== direct.requestId).map((job) => job.owner), [{ id: run.id, name: run.name }]);
  assert.equal(jobs.find((job) => job.requestId === direct.requestId)?.owner, undefined);
});
