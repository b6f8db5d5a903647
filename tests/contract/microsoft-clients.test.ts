// The emulator driven only through Microsoft's own clients: azure-devops-node-api for the calls the tasks make, and
// azure-devops-extension-api exactly as the hub calls it. Each answer must come back typed as the client promises it.
import '../support/extension-api-globals.js';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { getPersonalAccessTokenHandler, WebApi } from 'azure-devops-node-api';
import * as NodeTaskAgent from 'azure-devops-node-api/interfaces/TaskAgentInterfaces.js';
import * as BrowserTaskAgent from 'azure-devops-extension-api/TaskAgent';
import * as BrowserPipelines from 'azure-devops-extension-api/Pipelines';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import * as wire from '../../emulator/src/wire.js';
import { loadRunnerPools, RunnerTaskAgentClient } from '../../hub/src/services/AzureDevOpsReads.js';
import { RunnerPoolError } from '../../hub/src/services/RunnerPoolService.js';
import { snapshotCollection, type PoolSnapshot } from '../../src/core/model.js';
import { DEFAULT_PAT, startEmulator, type TestEmulator } from '../support/emulator.js';
import { clientOptions, extensionDataManager } from '../support/extension-api.js';
import { extension, issueUserToken, seedRunnerPool, type SeededPool } from '../support/hub-fixture.js';

let emulator: TestEmulator;
let pool: SeededPool;
/** The job linux-1 runs, and the one it failed before. */
let running: number;
let failed: number;
const publicKey = publicKeyOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);

before(async () => {
  emulator = await startEmulator({ sessionExpiryMs: 30 * 60_000 });
  pool = await seedRunnerPool(emulator, {
    poolName: 'Linux Private', runnerName: 'linux', queued: 2,
    slots: [{ state: 'idle' }, { state: 'busy' }, { state: 'offline' }, { state: 'disabled' }],
  });
  const jobs = await emulator.admin.jobs();
  failed = jobs.find((job) => job.result === 'failed')!.requestId;
  running = jobs.find((job) => job.state === 'running')!.requestId;
});
after(() => emulator.stop());

/** Registers an agent that is no runner (no RUNNER_NAME capability). */
async function registerPlainAgent(name: string): Promise<number> {
  const response = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/${pool.poolId}/agents?api-version=7.1`, {
    method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`:${DEFAULT_PAT.token}`).toString('base64')}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, version: '4.266.2', systemCapabilities: { sh: '/bin/sh' }, authorization: { publicKey } }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { id: number }).id;
}

type ListedAgent = { id: number; name: string; enabled: boolean; statusChangedOn: string };
/** The pool's agents as the emulator's admin API lists them. */
const listed = async () => (await emulator.admin.agents(pool.poolId)) as ListedAgent[];
const agentNamed = async (name: string) => (await listed()).find((agent) => agent.name === name)!;

describe('azure-devops-node-api, for the calls the tasks make', () => {
  const connection = () => new WebApi(emulator.orgUrl, getPersonalAccessTokenHandler(DEFAULT_PAT.token));

  it('finds its areas through resource areas and area discovery, and the pool by name and numeric poolType', async () => {
    await emulator.admin.clearRequests();
    const taskAgent = await connection().getTaskAgentApi();
    const [found, ...more] = await taskAgent.getAgentPools('linux private', undefined, NodeTaskAgent.TaskAgentPoolType.Automation);
    assert.deepEqual(more, []);
    assert.equal(found.id, pool.poolId);
    assert.equal(found.poolType, NodeTaskAgent.TaskAgentPoolType.Automation);
    assert.ok(found.createdOn instanceof Date && !Number.isNaN(found.createdOn.getTime()));
    assert.deepEqual(await taskAgent.getAgentPools('Linux Private', undefined, NodeTaskAgent.TaskAgentPoolType.Deployment), []);
    const served = (await emulator.admin.requests()).map((request) => `${request.method} ${request.path.replace(/^\/[^/]+/, '')} ${request.status}`);
    assert.deepEqual(served.slice(0, 3), ['OPTIONS /_apis/Location 200', 'GET /_apis/ResourceAreas 200', 'OPTIONS /_apis/distributedtask 200']);
    assert.ok(served.includes('GET /_apis/distributedtask/pools 200'));
  });

  it('lists the agents with capabilities and assigned requests: enums, dates and the running job', async () => {
    const agents = await (await connection().getTaskAgentApi()).getAgents(pool.poolId, undefined, true, true);
    const byName = Object.fromEntries(agents.map((agent) => [agent.name, agent]));
    assert.deepEqual(['linux-0', 'linux-1', 'linux-2', 'linux-3'].map((name) => byName[name].status),
      [NodeTaskAgent.TaskAgentStatus.Online, NodeTaskAgent.TaskAgentStatus.Online, NodeTaskAgent.TaskAgentStatus.Offline, NodeTaskAgent.TaskAgentStatus.Online]);
    assert.equal(byName['linux-3'].enabled, false);
    assert.equal(byName['linux-1'].systemCapabilities?.RUNNER_NAME, 'linux');
    assert.ok(byName['linux-1'].statusChangedOn instanceof Date);
    assert.equal(byName['linux-1'].assignedRequest?.requestId, running);
    assert.ok(byName['linux-1'].assignedRequest?.receiveTime instanceof Date);
    assert.equal(byName['linux-0'].assignedRequest, undefined);
  });

  it('lists the unfinished job requests with completedRequestCount=0, and finished ones with their result', async () => {
    const taskAgent = await connection().getTaskAgentApi();
    const unfinished = await taskAgent.getAgentRequestsForAgents(pool.poolId, undefined, 0);
    assert.deepEqual(unfinished.map((request) => request.requestId ?? 0).sort((a, b) => a - b), [running, running + 1, running + 2]);
    assert.ok(unfinished.every((request) => request.queueTime instanceof Date && request.result === undefined));
    const all = await taskAgent.getAgentRequests(pool.poolId, 50);
    const last = all.find((request) => request.requestId === failed);
    assert.equal(last?.result, NodeTaskAgent.TaskResult.Failed);
    assert.ok(last?.finishTime instanceof Date);
  });

  it('disables and enables an agent', async () => {
    const taskAgent = await connection().getTaskAgentApi();
    const agent = await agentNamed('linux-0');
    const disabled = await taskAgent.updateAgent({ id: agent.id, enabled: false }, pool.poolId, agent.id);
    assert.equal(disabled.enabled, false);
    assert.equal((await agentNamed('linux-0')).enabled, false);
    assert.equal((await taskAgent.updateAgent({ id: agent.id, enabled: true }, pool.poolId, agent.id)).enabled, true);
  });

  it('refuses to delete an agent running a job (400 TaskAgentJobStillRunningException) and deletes an idle one', async () => {
    const taskAgent = await connection().getTaskAgentApi();
    const busy = await agentNamed('linux-1');
    await assert.rejects(taskAgent.deleteAgent(pool.poolId, busy.id), (error: { statusCode?: number; message: string; result?: { typeKey?: string } }) => {
      assert.equal(error.statusCode, 400);
      assert.equal(error.result?.typeKey, 'TaskAgentJobStillRunningException');
      assert.equal(error.message, 'Agent "linux-1" is running a job for pool "Linux Private"');
      return true;
    });
    assert.ok((await listed()).some((agent) => agent.id === busy.id));
    assert.equal((await emulator.admin.job(running)).result, undefined, 'the job runs on');
    const plain = await registerPlainAgent('plain-to-delete');
    await taskAgent.deleteAgent(pool.poolId, plain);
    assert.equal((await listed()).some((agent) => agent.id === plain), false);
  });

  it('upserts a pool snapshot document, last write wins', async () => {
    const extensionManagement = await connection().getExtensionManagementApi();
    const snapshot: PoolSnapshot = {
      id: 'ci.node', runnerName: 'node', namespace: 'ci', poolName: 'Linux Private', organizationUrl: emulator.orgUrl,
      publishedAt: new Date().toISOString(), publishedBy: 'ScaleRunnerPool', replicas: 0, pods: [],
    };
    const write = (replicas: number) => extensionManagement.setDocumentByName({ ...snapshot, replicas, __etag: -1 }, extension.publisher, extension.id, 'Default', 'Current', snapshotCollection);
    const first = await write(1);
    const second = await write(2);
    assert.equal(second.__etag, first.__etag + 1);
    const stored = await extensionManagement.getDocumentsByName(extension.publisher, extension.id, 'Default', 'Current', snapshotCollection);
    assert.equal(stored.find((document: { id: string }) => document.id === 'ci.node')?.replicas, 2);
  });

  it('with a wrong PAT, fails with 401 on its first call, not with a missing api location', async () => {
    const wrong = new WebApi(emulator.orgUrl, getPersonalAccessTokenHandler('not-a-pat'));
    await assert.rejects(wrong.getTaskAgentApi(), (error: { statusCode?: number; message: string }) => {
      assert.equal(error.statusCode, 401);
      assert.match(error.message, /TF400813/);
      return true;
    });
  });
});

describe('azure-devops-extension-api, as the hub calls it', () => {
  const readScopes = ['vso.agentpools', 'vso.extension.data'];
  const load = (token: string) => loadRunnerPools(new RunnerTaskAgentClient(clientOptions(emulator.orgUrl, token)), async () => extensionDataManager(emulator.orgUrl, token));

  it('loads the runner agents, their jobs, the queue and the snapshots from the production formats', async () => {
    await registerPlainAgent('plain-not-a-runner');
    const data = await load(await issueUserToken(emulator, readScopes));
    const byName = Object.fromEntries(data.agents.map((agent) => [agent.name, agent]));
    assert.deepEqual(Object.keys(byName).sort(), ['linux-0', 'linux-1', 'linux-2', 'linux-3'], 'the demands filter leaves the plain agent out');
    assert.deepEqual(['linux-0', 'linux-1', 'linux-2', 'linux-3'].map((name) => [byName[name].status, byName[name].enabled]),
      [['online', true], ['online', true], ['offline', true], ['online', false]]);
    const busy = byName['linux-1'];
    const [runningJob, failedJob] = [await emulator.admin.job(running), await emulator.admin.job(failed)];
    assert.equal(busy.busyWith, running);
    assert.equal(busy.runningJob?.time, runningJob.receiveTime);
    assert.equal(busy.runningJob?.url, `${emulator.orgUrl}/${runningJob.projectId}/_build/results?buildId=${running}`);
    assert.deepEqual([busy.lastJob?.requestId, busy.lastJob?.result, busy.lastJob?.time], [failed, 'failed', failedJob.finishTime]);
    assert.equal(busy.statusChangedOn, (await agentNamed('linux-1')).statusChangedOn);
    // The job requests as the pool's rule reads them: demands as strings, the running one reserved and assigned.
    const jobs = await data.jobRequestsByPool['Linux Private'];
    assert.deepEqual(jobs.map((job) => [job.requestId, job.name, job.demands, job.reservedAgentName, job.assignTime === undefined]).sort(),
      [[running, `CI · ${runningJob.owner?.name}`, [], 'linux-1', false],
        [running + 1, 'emulated · Waiting 1', ['waits-for-linux'], undefined, true], [running + 2, 'emulated · Waiting 2', ['waits-for-linux'], undefined, true]]);
    assert.equal(jobs.find((job) => job.requestId === running)?.assignTime, runningJob.assignTime);
    assert.deepEqual(data.snapshots.map((snapshot) => snapshot.id).sort(), ['azure-pipelines.linux', 'ci.node']);
  });

  it('gets bare arrays, numeric enums and Dates from the client', async () => {
    const client = new RunnerTaskAgentClient(clientOptions(emulator.orgUrl, await issueUserToken(emulator, readScopes)));
    const pools = await client.getAgentPools();
    assert.ok(Array.isArray(pools));
    assert.equal(pools[0].poolType, BrowserTaskAgent.TaskAgentPoolType.Automation);
    assert.ok(pools[0].createdOn instanceof Date);
    const agents = await client.getAgents(pool.poolId, 'linux-2');
    assert.deepEqual(agents.map((agent) => agent.status), [BrowserTaskAgent.TaskAgentStatus.Offline]);
    assert.ok(agents[0].createdOn instanceof Date);
    const requests = await client.getUnfinishedRequests(pool.poolId);
    assert.ok(Array.isArray(requests) && requests.length === 3 && requests.every((request) => request.queueTime instanceof Date));
  });

  it('fails with typed errors carrying the status: 403 for a missing scope, per data source, and 401 for a bad token', async () => {
    const failure = async (token: string) => {
      try {
        await load(token);
      } catch (error) {
        assert.ok(error instanceof RunnerPoolError);
        return [error.source, error.status];
      }
      assert.fail('the load succeeded');
    };
    assert.deepEqual(await failure(await issueUserToken(emulator, ['vso.extension.data'])), ['agentPools', 403]);
    assert.deepEqual(await failure(await issueUserToken(emulator, ['vso.agentpools'])), ['extensionData', 403]);
    assert.deepEqual(await failure('not-a-token'), ['agentPools', 401]);
  });
});

describe('the emulator\'s enum numbers are the clients\'', () => {
  const pascal = (name: string) => name[0].toUpperCase() + name.slice(1);
  const pairs: [string, wire.EnumMembers, Record<string, unknown>, Record<string, number> | undefined][] = [
    ['TaskAgentStatus', wire.TaskAgentStatus, BrowserTaskAgent.TaskAgentStatus, NodeTaskAgent.TypeInfo.TaskAgentStatus.enumValues],
    ['TaskResult', wire.TaskResult, BrowserTaskAgent.TaskResult, NodeTaskAgent.TypeInfo.TaskResult.enumValues],
    ['TaskAgentPoolType', wire.TaskAgentPoolType, BrowserTaskAgent.TaskAgentPoolType, NodeTaskAgent.TypeInfo.TaskAgentPoolType.enumValues],
    ['TaskAgentPoolOptions', wire.TaskAgentPoolOptions, BrowserTaskAgent.TaskAgentPoolOptions, NodeTaskAgent.TypeInfo.TaskAgentPoolOptions.enumValues],
    ['RunState', wire.RunState, BrowserPipelines.RunState, undefined],
    ['RunResult', wire.RunResult, BrowserPipelines.RunResult, undefined],
  ];
  for (const [enumName, emulated, browser, node] of pairs) {
    it(enumName, () => {
      for (const [member, value] of Object.entries(emulated)) {
        assert.equal(browser[pascal(member)], value, `azure-devops-extension-api ${enumName}.${pascal(member)}`);
        if (node) assert.equal(node[member], value, `azure-devops-node-api ${enumName}.${member}`);
      }
    });
  }
});

describe('cross-origin calls, as from the hub\'s CDN origin', () => {
  const origin = 'https://publisher.gallerycdn.vsassets.io';
  const agents = () => `${emulator.orgUrl}/_apis/distributedtask/pools/${pool.poolId}/agents`;

  it('answers a preflight without credentials, allowing the method and headers asked for', async () => {
    const response = await fetch(agents(), {
      method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,x-tfs-fedauthredirect,x-vss-reauthenticationaction' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('access-control-allow-origin'), origin);
    assert.equal(response.headers.get('access-control-allow-methods'), 'GET');
    assert.equal(response.headers.get('access-control-allow-headers'), 'authorization,x-tfs-fedauthredirect,x-vss-reauthenticationaction');
    assert.equal(await response.text(), '');
  });

  it('tells area discovery from a preflight: OPTIONS without Access-Control-Request-Method lists the area\'s locations', async () => {
    const response = await fetch(`${emulator.orgUrl}/_apis/distributedtask`, { method: 'OPTIONS', headers: { Origin: origin } });
    const body = (await response.json()) as { count: number; value: { id: string; area: string }[] };
    assert.ok(body.count > 0 && body.value.every((location) => location.area === 'distributedtask'));
    assert.equal(response.headers.get('access-control-allow-origin'), origin);
  });

  it('lets the page read answers, errors included, except a 401', async () => {
    const call = (token: string) => fetch(agents(), { headers: { Origin: origin, Authorization: `Bearer ${token}` } });
    const ok = await call(await issueUserToken(emulator, ['vso.agentpools']));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), origin);
    const denied = await call(await issueUserToken(emulator, ['vso.extension.data']));
    assert.equal(denied.status, 403);
    assert.equal(denied.headers.get('access-control-allow-origin'), origin);
    const refused = await call('not-a-token');
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});
