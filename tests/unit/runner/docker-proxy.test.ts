// hostSocket's docker sidecar: what it adds to the objects a job creates (the whole proxy runs against a real engine
// in tests/e2e/docker-jobs.test.ts).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineCall, podLabel, readDockerProxySettings, startDockerProxy, withPodLabel } from '../../../runner/docker-proxy.js';
import { SettingError } from '../../../runner/settings.js';

it('labels a create call with the pod\'s UID and keeps the job\'s own labels and settings', () => {
  assert.deepEqual(JSON.parse(withPodLabel('{"Image":"x","Labels":{"team":"a"}}', 'uid-1')), { Image: 'x', Labels: { team: 'a', [podLabel]: 'uid-1' } });
  assert.deepEqual(JSON.parse(withPodLabel('{"Image":"x","Labels":null}', 'uid-1')), { Image: 'x', Labels: { [podLabel]: 'uid-1' } });
  assert.deepEqual(JSON.parse(withPodLabel('', 'uid-1')), { Labels: { [podLabel]: 'uid-1' } }, 'volume create may send no body');
});

it('overrides a label a job set to pass for another pod', () => {
  assert.deepEqual(JSON.parse(withPodLabel(JSON.stringify({ Labels: { [podLabel]: 'someone-else' } }), 'uid-1')).Labels, { [podLabel]: 'uid-1' });
});

it('reads its sockets and pod UID from the manifest\'s environment, or names every one missing', () => {
  const env = { AZP_DOCKER_SOCKET: '/var/run/docker.sock', AZP_DOCKER_PROXY_SOCKET: '/azp/docker/docker.sock', RUNNER_POD_UID: 'uid-1' };
  assert.deepEqual(readDockerProxySettings(env), { upstream: '/var/run/docker.sock', listen: '/azp/docker/docker.sock', podUid: 'uid-1' });
  assert.throws(() => readDockerProxySettings({ AZP_DOCKER_SOCKET: '/var/run/docker.sock' }),
    (error: unknown) => error instanceof SettingError && /needs AZP_DOCKER_PROXY_SOCKET, RUNNER_POD_UID \(set by the runner pod's manifest\)/.test(error.message));
});

it('passes calls to the engine, labels what they create, and at stop removes exactly what carries its label', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'docker-proxy-'));
  const calls: string[] = [];
  const created: unknown[] = [];
  // A stand-in engine: it lists one labelled container, network and volume whatever the filter, and records the filter.
  const engine = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      calls.push(`${request.method} ${decodeURIComponent(request.url ?? '')}`);
      if (request.url?.startsWith('/v1.41/containers/create')) created.push(JSON.parse(body));
      const lists: Record<string, unknown> = { '/containers/json': [{ Id: 'c1', Names: ['/left'] }], '/networks': [{ Id: 'n1', Name: 'net' }], '/volumes': { Volumes: [{ Name: 'vol' }] } };
      const list = Object.entries(lists).find(([path]) => request.url?.startsWith(path));
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(list ? list[1] : { ok: true }));
    });
  });
  const upstream = join(dir, 'engine.sock');
  await new Promise<void>((resolve) => engine.listen(upstream, resolve));
  const proxy = await startDockerProxy({ upstream, listen: join(dir, 'proxy.sock'), podUid: 'uid-1', log: () => {} });
  try {
    const answer = await engineCall(join(dir, 'proxy.sock'), 'POST', '/v1.41/containers/create?name=x', JSON.stringify({ Image: 'i', Labels: { team: 'a' } }));
    assert.equal(answer.status, 200);
    assert.deepEqual(created, [{ Image: 'i', Labels: { team: 'a', [podLabel]: 'uid-1' } }]);
    calls.length = 0;
    await proxy.stop();
    const filter = `filters={"label":["${podLabel}=uid-1"]}`;
    assert.deepEqual(calls, [
      `GET /containers/json?all=1&${filter}`, 'DELETE /containers/c1?force=1&v=1',
      `GET /networks?${filter}`, 'DELETE /networks/n1',
      `GET /volumes?${filter}`, 'DELETE /volumes/vol',
    ]);
  } finally {
    await proxy.stop().catch(() => {}); // again after a failed assertion: the sockets must close for the run to end
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it('refuses a container job\'s create at once, naming the modes that run it, and passes a step\'s own docker run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'docker-proxy-'));
  const created: unknown[] = [];
  const engine = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      if (request.url?.includes('/containers/create')) created.push(JSON.parse(body));
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ Id: 'c1' }));
    });
  });
  const upstream = join(dir, 'engine.sock');
  await new Promise<void>((resolve) => engine.listen(upstream, resolve));
  const proxy = await startDockerProxy({ upstream, listen: join(dir, 'proxy.sock'), podUid: 'uid-1', log: () => {} });
  const create = (hostConfig: unknown) => engineCall(join(dir, 'proxy.sock'), 'POST', '/v1.41/containers/create?name=x', JSON.stringify({ Image: 'debian:12', HostConfig: hostConfig }));
  try {
    // As the agent creates a job container (DockerCommandManager: `docker create -v …`), and the same mount by --mount.
    const agentBinds = { Binds: ['/azp/work/1:/__w/1', '/azp/agent/externals:/__a/externals:ro'] };
    for (const hostConfig of [agentBinds, { Mounts: [{ Type: 'bind', Source: '/azp/agent/externals', Target: '/__a/externals', ReadOnly: true }] }]) {
      const answer = await create(hostConfig);
      assert.equal(answer.status, 400);
      assert.match(JSON.parse(answer.body).message, /^dockerMode hostSocket cannot run container jobs .*dockerMode dind or podContainers$/);
    }
    assert.deepEqual(created, [], 'the engine never saw a container job\'s create');
    // A step's own `docker run -v "$PWD:/src"`, and one with no mount at all.
    for (const hostConfig of [{ Binds: ['/azp/work/1/s:/src'] }, undefined]) assert.equal((await create(hostConfig)).status, 201);
    assert.equal(created.length, 2);
  } finally {
    await proxy.stop().catch(() => {});
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
