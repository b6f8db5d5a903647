// hostSocket's docker sidecar: what it adds to the objects a job creates (the whole proxy runs against a real engine
// in tests/e2e/docker-jobs.test.ts).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { podLabel, readDockerProxySettings, withPodLabel } from '../../../runner/docker-proxy.js';
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
