// dockerMode podContainers' setting and rules: what the pod offers (AZP_POD_CONTAINERS), which sibling an image maps
// to, and which of the agent's mounts the pod gives (the shim itself runs in tests/component/pod-containers.test.ts).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { checkMount, readPodContainers, siblingFor } from '../../../runner/pod-containers.js';
import { normalizeImage } from '../../../src/core/index.js';
import { SettingError } from '../../../runner/settings.js';

const setting = (value: unknown) => ({ AZP_POD_CONTAINERS: typeof value === 'string' ? value : JSON.stringify(value) });
const pod = readPodContainers(setting({
  agentDir: '/azp/agent', socketDir: '/azp/pod-containers', stateFile: '/tmp/state.json',
  containers: [{ name: 'build', image: 'debian:12' }, { name: 'redis', image: 'docker.io/library/redis:7', role: 'service' }],
}));

it('reads the pod\'s offer with its defaults: work under the agent, job role, a service named by its container', () => {
  assert.deepEqual(pod, {
    agentDir: '/azp/agent', workDir: '/azp/agent/_work', toolDir: '/azp/agent/_work/_tool', socketDir: '/azp/pod-containers', stateFile: '/tmp/state.json',
    containers: [{ name: 'build', image: 'debian:12', role: 'job', aliases: ['build'] }, { name: 'redis', image: 'redis:7', role: 'service', aliases: ['redis'] }],
  });
});

it('refuses a missing or wrong setting with one line naming it and what is wrong', () => {
  const base = { agentDir: '/azp/agent', socketDir: '/s', containers: [{ name: 'build', image: 'debian:12' }] };
  const cases: [Record<string, string>, string][] = [
    [{}, 'AZP_POD_CONTAINERS is not set'],
    [setting('{'), 'AZP_POD_CONTAINERS is not JSON: '],
    [setting({ ...base, agentDir: 'azp' }), 'AZP_POD_CONTAINERS needs agentDir, an absolute path'],
    [setting({ ...base, containers: [] }), 'AZP_POD_CONTAINERS needs containers, a non-empty list'],
    [setting({ ...base, containers: [{ name: 'Build', image: 'x' }] }), 'AZP_POD_CONTAINERS containers[0].name must be a container name'],
    [setting({ ...base, containers: [{ name: 'b', image: 'x', role: 'sidecar' }] }), 'AZP_POD_CONTAINERS containers[0].role must be job or service'],
    [setting({ ...base, containers: [{ name: 'a', image: 'debian' }, { name: 'b', image: 'debian:latest' }] }), 'AZP_POD_CONTAINERS offers image debian:latest twice'],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => readPodContainers(env), (error: unknown) => error instanceof SettingError && error.message.startsWith(message) && error.message.endsWith('(set by the runner pod\'s manifest for dockerMode podContainers)'), message);
  }
});

it('reads image references as Docker does, so the agent\'s spelling maps to the pod\'s', () => {
  assert.equal(normalizeImage('debian'), 'debian:latest');
  assert.equal(normalizeImage('docker.io/library/debian:12'), 'debian:12');
  assert.equal(normalizeImage('registry.example:5000/team/build'), 'registry.example:5000/team/build:latest');
  assert.equal(normalizeImage('team/build@sha256:abc'), 'team/build@sha256:abc');
});

it('maps an image to the sibling offering it in that role, or says what the runner offers', () => {
  assert.equal(siblingFor(pod, 'library/debian:12', 'job').name, 'build');
  assert.throws(() => siblingFor(pod, 'alpine:3'), { message: 'the image alpine:3 is not offered by this runner (dockerMode podContainers); it offers debian:12 (container), redis:7 (service redis)' });
  assert.throws(() => siblingFor(pod, 'redis:7', 'job'), /^Error: the image redis:7 is offered by this runner as a service, not as a job container;/);
});

it('takes the agent\'s own mounts and refuses one the pod does not give', () => {
  for (const volume of ['/azp/agent/_work/1:/__w/1', '/azp/agent/_work/_temp:/__w/_temp', '/azp/agent/_work/_tool:/__t', '/azp/agent/externals:/__a/externals:ro', '/azp/agent/_work/.taskkey:/__w/.taskkey']) {
    assert.doesNotThrow(() => checkMount(pod, volume), volume);
  }
  assert.throws(() => checkMount(pod, '/azp/agent/_work/1:/src'), { message: 'the job asks to mount /azp/agent/_work/1 at /src, but a podContainers runner\'s containers share only /azp/agent/_work/_tool at /__t, /azp/agent/_work at /__w, /azp/agent/externals at /__a/externals' });
  assert.throws(() => checkMount(pod, '/data'), /^Error: the job asks to mount a volume at \/data, but/);
  assert.throws(() => checkMount(pod, '/var/run/docker.sock:/var/run/docker.sock'), /mapDockerSocket\), but dockerMode podContainers has no Docker engine/);
});
