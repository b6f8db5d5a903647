// Service behaviours the product relies on: job-request list shapes, PAT scopes, api-version rules, extension data etags, faults.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { agentPackage, unpackAgent } from '../support/agent-package.js';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from '../support/emulator.js';

let emulator: TestEmulator;
const basic = (pat: string) => ({ Authorization: `Basic ${Buffer.from(`:${pat}`).toString('base64')}` });

async function call(method: string, path: string, options: { pat?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${emulator.orgUrl}${path}`, {
    method, headers: { ...basic(options.pat ?? 'emulator-pat'), 'Content-Type': 'application/json', ...options.headers },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test reads of loosely shaped JSON answers
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) as Record<string, any> : undefined };
}

before(async () => {
  emulator = await startEmulator({ pools: ['P'], pollTimeoutMs: 100 });
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const agent = await call('POST', '/_apis/distributedtask/pools/1/agents?api-version=7.1', { body: { name: 'offline-1', authorization: { publicKey: publicKeyOf(key) } } });
  assert.equal(agent.status, 200);
});
after(() => emulator.stop());

test('job requests: completedRequestCount=0 lists only unfinished ones with matchedAgents; $top wins, drops matchedAgents, caps at 200', async () => {
  const queued = [];
  for (let i = 0; i < 3; i++) queued.push(await emulator.admin.queueJob({ pool: 'P', script: 'true' }));
  const first = queued[0];
  assert.ok('requestId' in first);
  await emulator.admin.cancelJob(first.requestId);
  const pending = await call('GET', '/_apis/distributedtask/pools/1/jobrequests?completedRequestCount=0');
  assert.equal(pending.json?.count, 2);
  assert.deepEqual(pending.json?.value[0].matchedAgents.map((a: { name: string }) => a.name), ['offline-1']);
  assert.equal(pending.json?.value[0].demands.length, 0);
  const top = await call('GET', '/_apis/distributedtask/pools/1/jobrequests?$top=250&completedRequestCount=0');
  assert.equal(top.json?.count, 3);
  assert.equal(top.json?.value.some((r: Record<string, unknown>) => 'matchedAgents' in r), false);
  assert.equal(top.json?.value.find((r: { requestId: number }) => r.requestId === first.requestId).result, 'canceled');
  for (let i = 0; i < 200; i++) await emulator.admin.queueJob({ pool: 'P', script: 'true' });
  assert.equal((await call('GET', '/_apis/distributedtask/pools/1/jobrequests?$top=1000')).json?.count, 200);
});

// KEDA's azure-pipelines scaler (pkg/scalers/azure_pipelines_scaler.go, v2.21.0) sends GETs with Basic ":<PAT>", no
// api-version and no Accept header, and decodes the answers into Go structs: a member of another JSON type, or a time
// that is not RFC 3339, fails its whole poll. These are the members it declares, with the JSON type Go accepts.
const kedaJobRequestTypes: Record<string, 'number' | 'string' | 'object' | 'array'> = {
  requestId: 'number', queueTime: 'string', assignTime: 'string', receiveTime: 'string', lockedUntil: 'string', serviceOwner: 'string',
  hostId: 'string', result: 'string', scopeId: 'string', planType: 'string', planId: 'string', jobId: 'string', demands: 'array',
  reservedAgent: 'object', definition: 'object', owner: 'object', data: 'object', poolId: 'number', orchestrationId: 'string',
  priority: 'number', matchedAgents: 'array',
};
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

test('KEDA\'s scaler calls: the pool by name, then job requests by $top or completedRequestCount=0, in the types its structs take', async () => {
  await emulator.admin.createPool('Keda Pool');
  const kedaGet = async (path: string) => {
    const response = await fetch(`${emulator.orgUrl}${path}`, { headers: basic('emulator-pat') });
    assert.equal(response.status, 200, path);
    return { text: await response.text() };
  };
  const pools = JSON.parse((await kedaGet(`/_apis/distributedtask/pools?poolName=${encodeURIComponent('keda pool')}`)).text);
  assert.equal(pools.value.length, 1);
  const poolId: number = pools.value[0].id;
  assert.equal(typeof poolId, 'number');
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  assert.equal((await call('POST', `/_apis/distributedtask/pools/${poolId}/agents?api-version=7.1`, {
    body: { name: 'keda-placeholder', authorization: { publicKey: publicKeyOf(key) }, systemCapabilities: { 'Agent.Version': '4.266.2' } },
  })).status, 200);
  const done = await emulator.admin.queueJob({ pool: poolId, script: 'true' });
  assert.ok('requestId' in done);
  await emulator.admin.cancelJob(done.requestId);
  await emulator.admin.queueJob({ pool: poolId, script: 'true', demands: ['Agent.Version -gtVersion 2.0'] });
  const since = Math.max(0, ...(await emulator.admin.requests()).map((entry) => entry.seq));
  const top = await kedaGet(`/_apis/distributedtask/pools/${poolId}/jobrequests?$top=250`);
  const unfinished = await kedaGet(`/_apis/distributedtask/pools/${poolId}/jobrequests?completedRequestCount=0`);
  const lists = { top: JSON.parse(top.text), unfinished: JSON.parse(unfinished.text) };
  assert.deepEqual([lists.top.count, lists.unfinished.count], [2, 1], 'finished requests come with $top only');
  for (const request of [...lists.top.value, ...lists.unfinished.value] as Record<string, unknown>[]) {
    for (const [member, value] of Object.entries(request)) {
      const type = kedaJobRequestTypes[member];
      if (type === undefined || value === null) continue;
      assert.equal(Array.isArray(value) ? 'array' : typeof value, type, member);
      if (member.endsWith('Time') || member === 'lockedUntil') assert.match(value as string, rfc3339, member);
    }
  }
  assert.equal(lists.top.value.find((r: { requestId: number }) => r.requestId === done.requestId).result, 'canceled');
  assert.deepEqual(lists.unfinished.value[0].demands, ['Agent.Version -gtVersion 2.0']);
  assert.deepEqual(lists.unfinished.value[0].matchedAgents.map((a: { name: string }) => a.name), ['keda-placeholder']);
  // The request log says what each answer cost: the bytes of its body.
  const served = (await emulator.admin.requests(since)).filter((entry) => entry.path.endsWith('/jobrequests'));
  assert.deepEqual(served.map((entry) => entry.bytes), [Buffer.byteLength(top.text), Buffer.byteLength(unfinished.text)]);
});

test('PAT scopes: a read-only PAT reads pools but gets 403 on agent management; an unknown PAT gets 401', async () => {
  await emulator.admin.addPat({ token: 'read-only', scopes: ['vso.agentpools'] });
  assert.equal((await call('GET', '/_apis/distributedtask/pools', { pat: 'read-only' })).status, 200);
  const denied = await call('DELETE', '/_apis/distributedtask/pools/1/agents/1?api-version=7.1', { pat: 'read-only' });
  assert.equal(denied.status, 403);
  assert.equal(denied.json?.typeKey, 'UnauthorizedRequestException');
  const unknown = await call('GET', '/_apis/distributedtask/pools', { pat: 'nope' });
  assert.equal(unknown.status, 401);
  assert.match(unknown.json?.message, /TF400813/);
});

test('api-version: required on writes, accepted from the Accept header, -preview needed above the released version', async () => {
  assert.equal((await call('POST', '/_apis/distributedtask/pools', { body: { name: 'A' } })).json?.typeKey, 'VssVersionNotSpecifiedException');
  assert.equal((await call('POST', '/_apis/distributedtask/pools', { body: { name: 'A' }, headers: { Accept: 'application/json; api-version=7.1' } })).status, 200);
  assert.equal((await call('GET', '/_apis/distributedtask/pools?api-version=7.2')).json?.typeKey, 'VssInvalidPreviewVersionException');
  assert.equal((await call('GET', '/_apis/distributedtask/pools?api-version=7.2-preview.1')).status, 200);
  assert.equal((await call('GET', '/_apis/distributedtask/pools?api-version=9.0')).json?.typeKey, 'VssVersionOutOfRangeException');
});

test('extension data: missing collection 404, create/duplicate, __etag concurrency, -1 last write wins, User/Me per identity', async () => {
  const docs = '/_apis/ExtensionManagement/InstalledExtensions/pub/ext/Data/Scopes/Default/Current/Collections/pools/Documents';
  const v = '?api-version=7.1-preview.1';
  assert.equal((await call('GET', docs + v)).json?.typeKey, 'DocumentCollectionDoesNotExistException');
  const created = await call('POST', docs + v, { body: { id: 'p1', size: 2 } });
  assert.equal(created.json?.__etag, 1);
  assert.equal((await call('POST', docs + v, { body: { id: 'p1' } })).status, 409);
  assert.equal((await call('PUT', docs + v, { body: { id: 'p1', size: 3, __etag: 1 } })).json?.__etag, 2);
  const stale = await call('PUT', docs + v, { body: { id: 'p1', size: 4, __etag: 1 } });
  assert.equal(stale.json?.typeKey, 'InvalidDocumentVersionException');
  assert.equal((await call('PUT', docs + v, { body: { id: 'p1', size: 5, __etag: -1 } })).json?.size, 5);
  assert.equal((await call('GET', docs + v)).json?.count, 1);
  assert.equal((await call('DELETE', `${docs}/p1${v}`)).status, 204);
  assert.equal((await call('PATCH', docs + v, { body: { id: 'p1' } })).json?.typeKey, 'DocumentDoesNotExistException');
  await emulator.admin.addPat({ token: 'other-user', user: 'someone@else', scopes: ['vso.extension.data_write'] });
  const mine = docs.replace('Default/Current', 'User/Me');
  await call('PUT', mine + v, { body: { id: 'pref', value: 'a' } });
  assert.equal((await call('GET', mine + v, { pat: 'other-user' })).status, 404);
});

test('faults: 429 with Retry-After and X-RateLimit-*, 5xx for N requests, latency, and the request log counts them', async () => {
  await emulator.admin.clearRequests();
  await emulator.admin.addFault({ path: '/pools$', kind: 'rateLimit', retryAfterSeconds: 7, count: 1 });
  const limited = await call('GET', '/_apis/distributedtask/pools');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '7');
  assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
  assert.ok(limited.headers.get('x-ratelimit-reset'));
  assert.match(limited.json?.message, /TF400733/);
  assert.equal((await call('GET', '/_apis/distributedtask/pools')).status, 200);
  await emulator.admin.addFault({ path: '/pools/1$', kind: 'error', status: 503, count: 2 });
  assert.deepEqual([(await call('GET', '/_apis/distributedtask/pools/1')).status, (await call('GET', '/_apis/distributedtask/pools/1')).status,
    (await call('GET', '/_apis/distributedtask/pools/1')).status], [503, 503, 200]);
  await emulator.admin.addFault({ path: '/agents$', kind: 'latency', delayMs: 300, count: 1 });
  const started = Date.now();
  assert.equal((await call('GET', '/_apis/distributedtask/pools/1/agents')).status, 200);
  assert.ok(Date.now() - started >= 290);
  await emulator.admin.addFault({ path: '/agents$', kind: 'drop', count: 1 });
  await assert.rejects(call('GET', '/_apis/distributedtask/pools/1/agents'));
  const served = await emulator.admin.requests();
  assert.deepEqual(served.map((entry) => entry.status), [429, 200, 503, 503, 200, 200, 0]);
  assert.ok(served.every((entry) => entry.auth === 'basic'));
});

test('a job keeps the name of its agent after that registration is deleted (the single-use rule retires it at once)', async () => {
  const own = await startEmulator({ pools: ['Retired'], pollTimeoutMs: 500, agentPackage: await agentPackage() });
  const agentRoot = await unpackAgent('retired-agent-');
  try {
    const config = spawn(join(agentRoot, 'config.sh'), ['--unattended', '--url', own.orgUrl, '--auth', 'pat', '--token', DEFAULT_PAT.token, '--pool', 'Retired',
      '--agent', 'slot-0', '--work', '_work', '--acceptTeeEula'], { env: { ...process.env, AGENT_ALLOW_RUNASROOT: '1' }, stdio: 'ignore' });
    assert.equal(await new Promise((resolve) => config.on('close', resolve)), 0);
    const run = spawn(join(agentRoot, 'run.sh'), ['--once'], { env: { ...process.env, AGENT_ALLOW_RUNASROOT: '1', AGENT_DOUBLE_POLL_BACKOFF_MS: '100' }, stdio: 'ignore' });
    const exited = new Promise((resolve) => run.on('close', resolve));
    const queued = await own.admin.queueJob({ pool: 'Retired', script: 'true' });
    assert.ok('requestId' in queued, JSON.stringify(queued));
    assert.equal((await own.admin.waitForJob(queued.requestId, 60_000)).result, 'succeeded');
    await exited;
    const [agent] = await own.admin.agents('Retired');
    const deleted = await fetch(`${own.orgUrl}/_apis/distributedtask/pools/${String(queued.poolId)}/agents/${String(agent.id)}?api-version=7.1`, { method: 'DELETE', headers: basic(DEFAULT_PAT.token) });
    assert.equal(deleted.status, 204);
    assert.deepEqual(await own.admin.agents('Retired'), []);
    const job = await own.admin.job(queued.requestId);
    assert.equal(job.agentName, 'slot-0');
    assert.equal(job.agentId, agent.id);
  } finally {
    await own.stop();
    rmSync(agentRoot, { recursive: true, force: true });
  }
});

test('agents: capabilities only when asked, by list or by id; a session sets them and its start and end change statusChangedOn', async () => {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const registered = await call('POST', '/_apis/distributedtask/pools/1/agents?api-version=7.1', { body: { name: 'caps-1', authorization: { publicKey: publicKeyOf(key) }, systemCapabilities: { sh: '/bin/sh' } } });
  const id = registered.json!.id as number;
  const listed = async (query: string) => ((await call('GET', `/_apis/distributedtask/pools/1/agents?agentName=caps-1&includeAssignedRequest=true${query}`)).json!.value as Array<Record<string, unknown>>)[0];
  for (const query of ['', '&includeCapabilities=false']) {
    const lean = await listed(query);
    assert.equal('systemCapabilities' in lean || 'userCapabilities' in lean, false, `no capabilities with '${query}'`);
    assert.equal(typeof lean.statusChangedOn, 'string', 'the date of its last status change comes all the same');
  }
  assert.deepEqual((await listed('&includeCapabilities=true')).systemCapabilities, { sh: '/bin/sh' });
  const byId = async (query: string) => (await call('GET', `/_apis/distributedtask/pools/1/agents/${id}?api-version=7.1${query}`)).json!;
  assert.equal('systemCapabilities' in await byId(''), false);
  assert.deepEqual((await byId('&includeCapabilities=true')).systemCapabilities, { sh: '/bin/sh' });
  // An agent reports its capabilities with its session, which is a status change; so is the session's end.
  const registeredOn = (await byId('')).statusChangedOn as string;
  const session = await call('POST', '/_apis/distributedtask/pools/1/sessions?api-version=7.1-preview.1', { body: { ownerName: 'caps-1', agent: { id }, systemCapabilities: { sh: '/bin/sh', other: 'yes' } } });
  assert.equal(session.status, 201);
  const online = await byId('&includeCapabilities=true');
  assert.equal(online.status, 'online');
  assert.deepEqual(online.systemCapabilities, { sh: '/bin/sh', other: 'yes' });
  assert.ok(Date.parse(online.statusChangedOn as string) > Date.parse(registeredOn), `${online.statusChangedOn as string} after ${registeredOn}`);
  assert.equal((await call('DELETE', `/_apis/distributedtask/pools/1/sessions/${session.json!.sessionId as string}?api-version=7.1-preview.1`)).status, 204);
  const offline = await byId('');
  assert.equal(offline.status, 'offline');
  assert.ok(Date.parse(offline.statusChangedOn as string) > Date.parse(online.statusChangedOn as string));
});

test('agents: a session refused (another is open, as for a copied key while the agent runs) changes neither capabilities nor status date', async () => {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const registered = await call('POST', '/_apis/distributedtask/pools/1/agents?api-version=7.1', { body: { name: 'caps-2', authorization: { publicKey: publicKeyOf(key) }, systemCapabilities: { sh: '/bin/sh' } } });
  const id = registered.json!.id as number;
  const open = (systemCapabilities: Record<string, string>) =>
    call('POST', '/_apis/distributedtask/pools/1/sessions?api-version=7.1-preview.1', { body: { ownerName: 'caps-2', agent: { id }, systemCapabilities } });
  const read = async () => (await call('GET', `/_apis/distributedtask/pools/1/agents/${id}?includeCapabilities=true&api-version=7.1`)).json!;
  assert.equal((await open({ sh: '/bin/sh', runner: 'real' })).status, 201);
  const before = await read();
  const refused = await open({ sh: '/bin/sh', runner: 'forged' });
  assert.equal(refused.status, 409);
  const after = await read();
  assert.deepEqual(after.systemCapabilities, { sh: '/bin/sh', runner: 'real' }, 'what the refused session reported is not kept');
  assert.equal(after.statusChangedOn, before.statusChangedOn);
  assert.equal(after.status, 'online');
});
