// The Kubernetes client's errors against a real HTTP server: what the API server's Status names (its details) reaches
// the flows as data, so that they tell a missing namespace from its kind, never from the wording of its message.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { KubeApiError, replacedSince } from '../../../src/core/ports/kube.js';
import { kubeClientAt } from '../../support/kube-client-at.js';

let server: Server;
let origin = '';
let answer = {};

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead((answer as { code?: number }).code ?? 404, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const statefulSet = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'linux', namespace: 'runners' } };
const refusal = () => kubeClientAt(origin).create(statefulSet, 'test').then(() => assert.fail('created'), (error: unknown) => error as KubeApiError);

describe('an error the API server answers', { timeout: 10_000 }, () => {
  it('carries what its Status names', async () => {
    // The API server's answer to a create in a namespace that does not exist.
    answer = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'namespaces "runners" not found', reason: 'NotFound', details: { name: 'runners', kind: 'namespaces' }, code: 404 };
    const error = await refusal();
    assert.ok(error instanceof KubeApiError);
    assert.equal(error.status, 404);
    assert.deepEqual(error.details, { kind: 'namespaces', name: 'runners' });
  });

  it('keeps only text from a Status that holds something else there', async () => {
    answer = { kind: 'Status', reason: 'NotFound', details: { kind: { toString: 'namespaces' }, name: ['runners'] } };
    assert.deepEqual((await refusal()).details, { kind: undefined, name: undefined });
    answer = { kind: 'Status', reason: 'NotFound', details: null };
    assert.deepEqual((await refusal()).details, { kind: undefined, name: undefined });
  });

  it('names the fields an invalid write named: a patch aimed at a pod since replaced under its name', async () => {
    // What kube-apiserver 1.36 answered a merge patch carrying another incarnation's metadata.uid.
    const cause = { reason: 'FieldValueInvalid', message: 'Invalid value: "0000": field is immutable', field: 'metadata.uid' };
    answer = { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Pod "linux-0" is invalid: metadata.uid: Invalid value: "0000": field is immutable', reason: 'Invalid', details: { name: 'linux-0', kind: 'Pod', causes: [cause, cause] }, code: 422 };
    const error = await refusal();
    assert.equal(error.status, 422);
    assert.deepEqual(error.details.fields, ['metadata.uid', 'metadata.uid']);
    assert.equal(replacedSince(error), true);
    answer = { ...answer, details: { name: 'linux-0', kind: 'Pod', causes: [{ ...cause, field: 'spec.schedulingGates[1].name' }] } };
    assert.equal(replacedSince(await refusal()), false, 'another invalid field is a real refusal');
  });
});
