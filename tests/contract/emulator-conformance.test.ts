// Every emulator answer on a route the official 7.1 specs cover validates against the spec's schema (with the live deviations noted).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { publicKeyOf } from '../../emulator/agent/settings.js';
import { startEmulator, type TestEmulator } from '../support/emulator.js';
import { findOperation, loadSpec, queryNames, validate, type Schema, type Spec } from '../support/spec-schema.js';

/** Where the live service (and the agent) differ from the spec's typing; each is documented in emulator/README.md. */
const LIVE_DEVIATIONS: Record<string, Schema> = {
  // Job request demands are plain strings ("java", "Agent.Version -gtVersion 2.182.1"), not {name, value}.
  Demand: { type: 'string' },
  // byte[] members are base64 strings on the wire.
  TaskAgentPublicKey: { type: 'object', properties: { exponent: { type: 'string' }, modulus: { type: 'string' } } },
  // ReferenceLinks serialise as the dictionary itself: {"self": {"href": ...}}.
  ReferenceLinks: { type: 'object', additionalProperties: { type: 'object' } },
};

const taskAgent = loadSpec('distributedTask_7.1_taskAgent.json', LIVE_DEVIATIONS);
const pipelines = loadSpec('pipelines_7.1_pipelines.json', LIVE_DEVIATIONS);
const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

let emulator: TestEmulator;
const auth = { Authorization: `Basic ${Buffer.from(':emulator-pat').toString('base64')}` };
const checked: string[] = [];

before(async () => {
  emulator = await startEmulator({ pools: ['Conformance'], pollTimeoutMs: 100 });
});
after(() => emulator.stop());

/** Calls the emulator and validates the 200 answer against the spec operation the path maps to. */
async function conforms(spec: Spec, method: string, pathAndQuery: string, body?: unknown, apiVersionInHeader = false): Promise<unknown> {
  const url = new URL(`${emulator.orgUrl}${pathAndQuery}`);
  if (!apiVersionInHeader) url.searchParams.set('api-version', '7.1');
  const version = apiVersionInHeader ? '; api-version=7.1' : '';
  const response = await fetch(url, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...auth, Accept: `application/json${version}`, ...(body === undefined ? {} : { 'Content-Type': `application/json${version}` }) },
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${method} ${pathAndQuery}: ${text}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json(;|$)/);
  const query = [...url.searchParams.keys()].filter((name) => name !== 'api-version');
  const { template, operation } = findOperation(spec, method, `/${url.pathname.split('/').slice(1).join('/')}`.replace(/^\/[^/]+/, '/{organization}'), query);
  const declared = queryNames(operation).map((name) => name.toLowerCase());
  for (const name of query) assert.ok(declared.includes(name.toLowerCase()), `${template} does not declare query parameter ${name}`);
  const schema = operation.responses['200']?.schema;
  assert.ok(schema, `${method} ${template} has no 200 schema`);
  const json = JSON.parse(text) as unknown;
  let errors: string[];
  if (schema.type === 'array') {
    const envelope = json as { count: number; value: unknown[] };
    assert.ok(Array.isArray(envelope.value), 'list answers use the {count, value} envelope');
    assert.equal(envelope.count, envelope.value.length);
    assert.ok(envelope.value.length > 0, `${method} ${pathAndQuery} returned an empty list, which validates nothing`);
    errors = validate(spec, schema, envelope.value);
  } else {
    errors = validate(spec, schema, json);
  }
  assert.deepEqual(errors, [], `${method} ${template}`);
  checked.push(`${method} ${template}`);
  return json;
}

test('pools and agents conform to distributedTask 7.1', async () => {
  await conforms(taskAgent, 'GET', '/_apis/distributedtask/pools?poolName=Conformance&poolType=automation');
  await conforms(taskAgent, 'GET', '/_apis/distributedtask/pools', undefined, true);
  const created = await conforms(taskAgent, 'POST', '/_apis/distributedtask/pools', { name: 'Second' }) as { id: number };
  await conforms(taskAgent, 'GET', `/_apis/distributedtask/pools/${created.id}`);
  const agent = await conforms(taskAgent, 'POST', '/_apis/distributedtask/pools/1/agents', {
    name: 'conf-1', version: '4.999.0', osDescription: 'Linux', authorization: { publicKey: publicKeyOf(key) }, systemCapabilities: { sh: '/bin/sh' },
  }) as { id: number };
  // Bring the agent online and give it a finished and an assigned job, so the request members are validated too.
  const session = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/1/sessions?api-version=7.1-preview.1`, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ ownerName: 'x', agent: { id: agent.id } }),
  });
  assert.equal(session.status, 201);
  const first = await emulator.admin.queueJob({ pool: 1, script: 'true', demands: ['sh'] });
  assert.ok('requestId' in first);
  const finish = await fetch(`${emulator.orgUrl}/_apis/distributedtask/pools/1/jobrequests/${first.requestId}?lockToken=00000000-0000-0000-0000-000000000000`, {
    method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/json; api-version=5.1-preview.1' }, body: JSON.stringify({ requestId: first.requestId, result: 'succeeded', finishTime: new Date().toISOString() }),
  });
  assert.equal(finish.status, 200);
  await emulator.admin.queueJob({ pool: 1, script: 'true', demands: ['sh -equals /bin/sh'] });
  const listed = await conforms(taskAgent, 'GET', '/_apis/distributedtask/pools/1/agents?agentName=conf-1&includeCapabilities=true&includeAssignedRequest=true&includeLastCompletedRequest=true&demands=sh') as { value: Record<string, unknown>[] };
  assert.ok(listed.value[0].assignedRequest && listed.value[0].lastCompletedRequest && listed.value[0].systemCapabilities);
  await conforms(taskAgent, 'GET', `/_apis/distributedtask/pools/1/agents/${agent.id}?includeCapabilities=true&includeAssignedRequest=true`);
  assert.equal(await conforms(taskAgent, 'GET', `/_apis/distributedtask/pools/1/agents/${agent.id}?isCheckPermissions=true`), true);
  await conforms(taskAgent, 'PUT', `/_apis/distributedtask/pools/1/agents/${agent.id}`, { id: agent.id, name: 'conf-1', authorization: { publicKey: publicKeyOf(key) } });
  const disabled = await conforms(taskAgent, 'PATCH', `/_apis/distributedtask/pools/1/agents/${agent.id}`, { id: agent.id, enabled: false }) as { enabled: boolean };
  assert.equal(disabled.enabled, false);
});

test('pipeline runs conform to pipelines 7.1', async () => {
  const pipeline = await emulator.admin.createPipeline({ project: 'Proj', name: 'build', pool: 'Conformance', script: 'true' });
  const run = await conforms(pipelines, 'POST', `/Proj/_apis/pipelines/${pipeline.id}/runs`, { templateParameters: {}, variables: { v: { value: '1' } } }) as { id: number; state: string };
  assert.equal(run.state, 'inProgress');
  await conforms(pipelines, 'GET', `/Proj/_apis/pipelines/${pipeline.id}/runs`);
  await conforms(pipelines, 'GET', `/Proj/_apis/pipelines/${pipeline.id}/runs/${run.id}`);
});

test('every covered spec route was exercised', () => {
  assert.deepEqual([...new Set(checked)].sort(), [
    'GET /{organization}/_apis/distributedtask/pools',
    'GET /{organization}/_apis/distributedtask/pools/{poolId}',
    'GET /{organization}/_apis/distributedtask/pools/{poolId}/agents',
    'GET /{organization}/_apis/distributedtask/pools/{poolId}/agents/{agentId}',
    'GET /{organization}/_apis/distributedtask/pools/{poolId}/agents/{agentId}?',
    'GET /{organization}/_apis/distributedtask/pools?',
    'GET /{organization}/{project}/_apis/pipelines/{pipelineId}/runs',
    'GET /{organization}/{project}/_apis/pipelines/{pipelineId}/runs/{runId}',
    'PATCH /{organization}/_apis/distributedtask/pools/{poolId}/agents/{agentId}',
    'POST /{organization}/_apis/distributedtask/pools',
    'POST /{organization}/_apis/distributedtask/pools/{poolId}/agents',
    'POST /{organization}/{project}/_apis/pipelines/{pipelineId}/runs',
    'PUT /{organization}/_apis/distributedtask/pools/{poolId}/agents/{agentId}',
  ]);
});
