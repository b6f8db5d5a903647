// The emulator's /_admin controls that the trial, the benchmarks and the test fixtures drive it by, instead of reaching
// into its store.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { DEFAULT_PAT, startEmulator, type AdminJob, type TestEmulator } from '../support/emulator.js';
import type { AgentWrite } from '../../emulator/src/types.js';

let emulator: TestEmulator;
const basic = { Authorization: `Basic ${Buffer.from(`:${DEFAULT_PAT.token}`).toString('base64')}`, 'Content-Type': 'application/json' };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const publicKey = publicKeyOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);

/** Registers an agent over REST, as the agent's configure step does; resolves to its id. */
async function register(poolId: number, name: string, systemCapabilities?: Record<string, string>, headers = basic): Promise<number> {
  const agent = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${poolId}/agents?api-version=7.1`, {
    method: 'POST', headers, body: JSON.stringify({ name, systemCapabilities, authorization: { publicKey } }),
  });
  assert.equal(agent.status, 200);
  return ((await agent.json()) as { id: number }).id;
}

/** A raw admin call, for what the typed client would never send. */
const adminCall = (method: string, path: string, body?: string) =>
  fetch(`${emulator.url}/_admin${path}`, { method, headers: { 'Content-Type': 'application/json' }, body });

before(async () => {
  emulator = await startEmulator({ pools: ['P'] });
  // A pool with no agent rejects every job: one registered agent, offline, keeps them queued.
  await register(1, 'offline-1');
});
after(() => emulator.stop());

test('PATs: one added works with its scopes until it is revoked; revoking one that is not there is refused', async () => {
  await emulator.admin.addPat({ token: 'pat-to-revoke', user: 'leaving@emulated.example', scopes: ['vso.agentpools'] });
  const pools = () => fetch(`${emulator.orgUrl}/_apis/distributedtask/pools`, { headers: { Authorization: `Basic ${Buffer.from(':pat-to-revoke').toString('base64')}` } });
  assert.equal((await pools()).status, 200);
  await emulator.admin.revokePat('pat-to-revoke');
  assert.equal((await pools()).status, 401);
  assert.equal((await adminCall('POST', '/pats/revoke', JSON.stringify({ token: 'pat-to-revoke' }))).status, 404);
  assert.equal((await adminCall('POST', '/pats/revoke', JSON.stringify({ token: 7 }))).status, 404);
});

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
    const response = await adminCall('POST', '/tokens', JSON.stringify(malformed));
    assert.equal(response.status, 400, JSON.stringify(malformed));
  }
  assert.equal((await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools`, { headers: bearer('x') })).status, 401);
});

test('jobs: a job a pipeline run queued names that run as its owner and its project; a job queued here has no owner', async () => {
  const pipeline = await emulator.admin.createPipeline({ project: 'Admin', name: 'Sample', pool: 'P', script: 'true' });
  const response = await fetch(`${emulator.orgUrl}/${pipeline.projectId}/_apis/pipelines/${pipeline.id}/runs?api-version=7.1`, {
    method: 'POST', headers: basic, body: '{}',
  });
  assert.equal(response.status, 200);
  const run = (await response.json()) as { id: number; name: string };
  const direct = await emulator.admin.queueJob({ pool: 'P', script: 'true' });
  assert.ok('requestId' in direct);
  const jobs = await emulator.admin.jobs();
  assert.deepEqual(jobs.filter((job) => job.requestId !== direct.requestId).map((job) => [job.owner, job.projectId]), [[{ id: run.id, name: run.name }, pipeline.projectId]]);
  assert.equal(jobs.find((job) => job.requestId === direct.requestId)?.owner, undefined);
});

test('sessions: an agent comes online and goes offline as its listener would; a job handed over and never taken goes back', async () => {
  const pool = await emulator.admin.createPool('Sessions');
  const agentId = await register(pool.id, 'listener-1');
  const status = async () => (await emulator.admin.agents(pool.id)).map((agent) => agent.status);
  await emulator.admin.openSession(agentId);
  assert.deepEqual(await status(), ['online']);
  // One session per agent, as the service answers a second listener.
  assert.equal((await adminCall('POST', `/agents/${agentId}/session`)).status, 409);
  const job = await emulator.admin.queueJob({ pool: pool.id, script: 'true' }) as AdminJob;
  assert.deepEqual([job.state, job.agentName], ['assigned', 'listener-1']);
  await emulator.admin.endSession(agentId);
  assert.deepEqual(await status(), ['offline']);
  assert.deepEqual([(await emulator.admin.job(job.requestId)).state, (await emulator.admin.job(job.requestId)).agentId], ['queued', undefined]);
  assert.equal((await adminCall('DELETE', `/agents/${agentId}/session`)).status, 409, 'no session to end');
  for (const method of ['POST', 'DELETE']) assert.equal((await adminCall(method, '/agents/999/session')).status, 404, method);
  await emulator.admin.cancelJob(job.requestId);
});

test('jobs: the agent takes a job handed to it, and it ends with the result given; a result once given stands', async () => {
  const pool = await emulator.admin.createPool('Results');
  const agentId = await register(pool.id, 'runner-1');
  const queued = await emulator.admin.queueJob({ pool: pool.id, script: 'true' }) as AdminJob;
  // Nothing to take before an agent has the job.
  assert.equal((await adminCall('POST', `/jobs/${queued.requestId}/start`)).status, 409);
  await emulator.admin.openSession(agentId);
  assert.equal((await emulator.admin.startJob(queued.requestId)).state, 'running');
  assert.equal((await adminCall('POST', `/jobs/${queued.requestId}/start`)).status, 409, 'taken once');
  for (const body of ['', 'null', '{}', '{"result":"passed"}', '{"result":2}', '{"result":"__proto__"}', '{"result":"constructor"}']) {
    assert.equal((await adminCall('POST', `/jobs/${queued.requestId}/finish`, body)).status, 400, body);
  }
  assert.equal((await emulator.admin.job(queued.requestId)).state, 'running');
  const finished = await emulator.admin.finishJob(queued.requestId, 'failed');
  assert.deepEqual([finished.state, finished.result], ['finished', 'failed']);
  assert.equal((await adminCall('POST', `/jobs/${queued.requestId}/finish`, '{"result":"succeeded"}')).status, 409);
  assert.equal((await adminCall('POST', `/jobs/${queued.requestId}/start`)).status, 409, 'a finished job is not taken');
  assert.equal((await emulator.admin.job(queued.requestId)).result, 'failed');
  assert.equal((await adminCall('POST', '/jobs/999/finish', '{"result":"failed"}')).status, 404);
  // The service's answer names it as the agent's last job.
  const agents = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${pool.id}/agents?includeLastCompletedRequest=true&api-version=7.1`, { headers: basic });
  const [agent] = ((await agents.json()) as { value: Array<{ lastCompletedRequest?: { requestId: number; result: string } }> }).value;
  assert.deepEqual([agent.lastCompletedRequest?.requestId, agent.lastCompletedRequest?.result], [queued.requestId, 'failed']);
});

test('agent writes: every write a client made to an agent, by whom, with what it registered, kept once the agent is gone', async () => {
  await emulator.admin.addPat({ token: 'pat-second', user: 'second@emulated.example', scopes: ['vso.agentpools_manage'] });
  await emulator.admin.addPat({ token: 'pat-reader', user: 'reader@emulated.example', scopes: ['vso.agentpools'] });
  const patHeaders = (token: string) => ({ ...basic, Authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}` });
  const second = patHeaders('pat-second');
  const pool = await emulator.admin.createPool('Writes');
  const since = Math.max(0, ...(await emulator.admin.agentWrites()).map((write) => write.seq));
  const agentId = await register(pool.id, 'blue-0', { RUNNER_NAMESPACE: 'blue' });
  const agentUrl = (id: number, tail = '') => `${emulator.orgUrl}/_apis/distributedtask/pools/${pool.id}/agents/${id}${tail}?api-version=7.1`;
  const write = (method: string, id: number, body: unknown, headers = basic, tail = '') => fetch(agentUrl(id, tail), { method, headers, body: JSON.stringify(body) });
  assert.equal((await write('PATCH', agentId, { id: agentId, enabled: false }, second)).status, 200);
  assert.equal((await write('PUT', agentId, { name: 'blue-0', systemCapabilities: { RUNNER_NAMESPACE: 'green' }, authorization: { publicKey } })).status, 200);
  assert.equal((await write('PUT', agentId, { tool: 'yes' }, basic, '/usercapabilities')).status, 200);
  // Refused writes change nothing and are none: a credential refused, a scope short, a body without a key.
  assert.equal((await write('PATCH', agentId, { id: agentId, enabled: true }, patHeaders('pat-unknown'))).status, 401);
  assert.equal((await write('PATCH', agentId, { id: agentId, enabled: true }, patHeaders('pat-reader'))).status, 403);
  assert.equal((await write('PUT', agentId, { name: 'blue-0' })).status, 400);
  assert.equal((await fetch(agentUrl(agentId), { method: 'DELETE', headers: second })).status, 204);
  // Deleting the pool deletes its agents: a write to each, by whoever deleted it.
  const left = await register(pool.id, 'green-1', { RUNNER_NAMESPACE: 'green' }, second);
  const removed = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${pool.id}?api-version=7.1`, { method: 'DELETE', headers: basic });
  assert.equal(removed.status, 204);

  const writes = await emulator.admin.agentWrites(since);
  assert.deepEqual(writes.map(({ action, agentId: id, poolId, name, principal, systemCapabilities, enabled }) => ({ action, id, poolId, name, principal, systemCapabilities, enabled })), [
    { action: 'registered', id: agentId, poolId: pool.id, name: 'blue-0', principal: 'pat:tester@emulated.example', systemCapabilities: { RUNNER_NAMESPACE: 'blue' }, enabled: true },
    { action: 'updated', id: agentId, poolId: pool.id, name: 'blue-0', principal: 'pat:second@emulated.example', systemCapabilities: undefined, enabled: false },
    { action: 'replaced', id: agentId, poolId: pool.id, name: 'blue-0', principal: 'pat:tester@emulated.example', systemCapabilities: { RUNNER_NAMESPACE: 'green' }, enabled: undefined },
    { action: 'userCapabilities', id: agentId, poolId: pool.id, name: 'blue-0', principal: 'pat:tester@emulated.example', systemCapabilities: undefined, enabled: undefined },
    { action: 'deleted', id: agentId, poolId: pool.id, name: 'blue-0', principal: 'pat:second@emulated.example', systemCapabilities: undefined, enabled: undefined },
    { action: 'registered', id: left, poolId: pool.id, name: 'green-1', principal: 'pat:second@emulated.example', systemCapabilities: { RUNNER_NAMESPACE: 'green' }, enabled: true },
    { action: 'deleted', id: left, poolId: pool.id, name: 'green-1', principal: 'pat:tester@emulated.example', systemCapabilities: undefined, enabled: undefined },
  ] satisfies Array<Partial<Record<keyof AgentWrite | 'id', unknown>>>);
  assert.ok(writes.every((entry, i) => i === 0 || entry.seq > writes[i - 1].seq), 'in the order they were made');
  assert.deepEqual(await emulator.admin.agentWrites(writes.at(-1)!.seq), [], 'none after the last');
});

test('agent writes: a DELETE refused for an agent running a job is no write; a reset forgets them', async () => {
  const pool = await emulator.admin.createPool('Busy');
  const agentId = await register(pool.id, 'busy-0');
  await emulator.admin.openSession(agentId);
  const job = await emulator.admin.queueJob({ pool: pool.id, script: 'true' }) as AdminJob;
  const since = Math.max(0, ...(await emulator.admin.agentWrites()).map((write) => write.seq));
  const refused = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${pool.id}/agents/${agentId}?api-version=7.1`, { method: 'DELETE', headers: basic });
  assert.equal(refused.status, 400);
  assert.deepEqual(await emulator.admin.agentWrites(since), []);
  await emulator.admin.cancelJob(job.requestId);
  const scratch = await startEmulator({ pools: ['P'] });
  try {
    await fetch(`${scratch.orgUrl}/_apis/distributedtask/pools/1/agents?api-version=7.1`, { method: 'POST', headers: basic, body: JSON.stringify({ name: 'a', authorization: { publicKey } }) });
    assert.equal((await scratch.admin.agentWrites()).length, 1);
    await scratch.admin.reset();
    assert.deepEqual(await scratch.admin.agentWrites(), []);
  } finally {
    await scratch.stop();
  }
});
