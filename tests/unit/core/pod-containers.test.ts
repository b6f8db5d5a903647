// dockerMode podContainers in DeployRunnerPool: the jobContainers and serviceContainers inputs, and the pod they give —
// read back with the runner's own code (runner/pod-containers.ts), as the shim in the agent's container reads it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Container, V1PodSpec, V1VolumeMount } from '@kubernetes/client-node';
import { InputError, InputReader } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { renderStatefulSet, runnerContainerNames } from '../../../src/core/manifests/index.js';
import type { DockerMode, RunnerPoolSpec } from '../../../src/core/model.js';
import { podMounts, readPodContainers } from '../../../runner/pod-containers.js';
import { socketOf } from '../../../runner/docker-shim.js';
import { MemoryHost } from '../../support/memory-host.js';
import { podSecurityViolations } from '../../support/pod-security.js';

const base = { kubernetesServiceConnection: 'K8S', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/contoso', image: 'registry.example.com/runner:1', personalAccessToken: 'pat-value-123' };
const read = (inputs: Record<string, string>) => readDeployOptions(new InputReader(new MemoryHost({ ...base, ...inputs })));
/** The problems of a deploy's inputs, as `input: message` lines. */
function problems(inputs: Record<string, string>): string[] {
  try {
    read(inputs);
  } catch (caught) {
    if (caught instanceof InputError) return caught.problems.map((p) => `${p.input}: ${p.message}`);
    throw caught;
  }
  return [];
}
const podOf = (spec: RunnerPoolSpec): V1PodSpec => renderStatefulSet(spec).spec!.template.spec!;

const offer = {
  dockerMode: 'podContainers',
  jobContainers: 'build=debian:12 cpuRequest=500m memoryRequest=512Mi memoryLimit=2Gi\n# a comment\n\ntools=registry.example.com/team/node-tools:20',
  serviceContainers: 'redis=docker.io/library/redis:7 aliases=cache,redis.local cpuLimit=1\ndb=postgres:16 envFrom=db-credentials env.POSTGRES_USER=app env.POSTGRES_DB=test',
};
const { pool } = read(offer);
const pod = podOf(pool);
const agent = pod.containers.find((c) => c.name === 'agent')!;
const sidecar = (name: string) => pod.initContainers!.find((c) => c.name === name)!;
const env = (name: string) => agent.env!.find((e) => e.name === name)?.value;

describe('the jobContainers and serviceContainers inputs', () => {
  it('read one container a line with its resources, a service with its aliases', () => {
    assert.deepEqual(pool.podContainers, [
      { name: 'build', image: 'debian:12', role: 'job', aliases: [], env: {}, envFrom: [], resources: { cpuRequest: '500m', memoryRequest: '512Mi', memoryLimit: '2Gi' } },
      { name: 'tools', image: 'registry.example.com/team/node-tools:20', role: 'job', aliases: [], env: {}, envFrom: [], resources: {} },
      { name: 'redis', image: 'docker.io/library/redis:7', role: 'service', aliases: ['cache', 'redis.local'], env: {}, envFrom: [], resources: { cpuLimit: '1' } },
      { name: 'db', image: 'postgres:16', role: 'service', aliases: [], env: { POSTGRES_USER: 'app', POSTGRES_DB: 'test' }, envFrom: ['db-credentials'], resources: {} },
    ]);
  });

  it('collect every problem, each naming its input and its line', () => {
    assert.deepEqual(problems({
      dockerMode: 'podContainers',
      jobContainers: [
        'build=debian:12', 'debian:12', 'Build=debian:12', 'agent=x:1', 'bad=Debian', 'lim=debian:11 cpuRequest=2 cpuLimit=1 memoryRequest=1Gi memoryLimit=512Mi',
        'q=debian:10 memoryLimit=lots', 'opt=debian:9 aliases=x', 'again=docker.io/library/debian:12', 'build=ubuntu:24.04',
      ].join('\n'),
      serviceContainers: 'redis=redis:7 aliases=cache,Bad_Alias\ncache2=redis:8 aliases=build\nexternals=valkey:8',
    }), [
      "jobContainers: line 2 ('debian:12'): must start with name=image, such as build=debian:12.",
      "jobContainers: line 3 ('Build=debian:12'): the name must be a lowercase DNS label (a-z, 0-9 and -, starting and ending with a letter or digit); got 'Build'.",
      "jobContainers: line 4 ('agent=x:1'): the name agent is the runner's own container's (register, agent, recycle, docker, externals are taken).",
      "jobContainers: line 5 ('bad=Debian'): the image must be an image reference such as registry.example.com/runner:1.0 or repo@sha256:<digest> (lowercase repository); got 'Debian'.",
      "jobContainers: line 6 ('lim=debian:11 cpuRequest=2 cpuLimit=1 memoryRequest=1Gi memoryLimit=512Mi'): cpuRequest (2) must not exceed cpuLimit (1).",
      "jobContainers: line 6 ('lim=debian:11 cpuRequest=2 cpuLimit=1 memoryRequest=1Gi memoryLimit=512Mi'): memoryRequest (1Gi) must not exceed memoryLimit (512Mi).",
      "jobContainers: line 7 ('q=debian:10 memoryLimit=lots'): memoryLimit must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi; got 'lots'.",
      "jobContainers: line 8 ('opt=debian:9 aliases=x'): 'aliases=x' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=.",
      "serviceContainers: line 1 ('redis=redis:7 aliases=cache,Bad_Alias'): the alias must be a lowercase DNS subdomain (a-z, 0-9, - and ., at most 253 characters), such as runner-pat or runner.pat; got 'Bad_Alias'.",
      "serviceContainers: line 3 ('externals=valkey:8'): the name externals is the runner's own container's (register, agent, recycle, docker, externals are taken).",
      "jobContainers: line 9 ('again=docker.io/library/debian:12'): the image docker.io/library/debian:12 is taken by build in jobContainers.",
      "jobContainers: line 10 ('build=ubuntu:24.04'): the name build is taken by build in jobContainers.",
      "serviceContainers: line 2 ('cache2=redis:8 aliases=build'): the alias build is taken by build in jobContainers.",
    ]);
    // A service's env: names checked, a Secret's name checked, a value never repeated in a problem (it belongs in a
    // Secret if it is one).
    assert.deepEqual(problems({
      dockerMode: 'podContainers',
      jobContainers: 'build=debian:12 env.X=1 envFrom=s',
      serviceContainers: 'db=postgres:16 env.1X=hunter2 env.OK=a env.OK=b envFrom=Bad_Secret,good env.=c envFrom=',
    }), [
      "jobContainers: line 1 ('build=debian:12 env.X=… envFrom=s'): 'env.X=…' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=.",
      "jobContainers: line 1 ('build=debian:12 env.X=… envFrom=s'): 'envFrom=s' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=.",
      "serviceContainers: line 1 ('db=postgres:16 env.1X=… env.OK=… env.OK=… envFrom=Bad_Secret,good env.=… envFrom='): env.1X: '1X' is not a variable name (letters, digits and _, not starting with a digit).",
      "serviceContainers: line 1 ('db=postgres:16 env.1X=… env.OK=… env.OK=… envFrom=Bad_Secret,good env.=… envFrom='): env.OK is given twice.",
      "serviceContainers: line 1 ('db=postgres:16 env.1X=… env.OK=… env.OK=… envFrom=Bad_Secret,good env.=… envFrom='): envFrom: the Secret's name must be a lowercase DNS subdomain (a-z, 0-9, - and ., at most 253 characters), such as runner-pat or runner.pat; got 'Bad_Secret'.",
      "serviceContainers: line 1 ('db=postgres:16 env.1X=… env.OK=… env.OK=… envFrom=Bad_Secret,good env.=… envFrom='): env.: '' is not a variable name (letters, digits and _, not starting with a digit).",
      "serviceContainers: line 1 ('db=postgres:16 env.1X=… env.OK=… env.OK=… envFrom=Bad_Secret,good env.=… envFrom='): envFrom needs the name of a Secret in the runner's namespace.",
      'jobContainers: or serviceContainers must offer at least one container with dockerMode podContainers (one name=image a line).',
    ]);
    // One image offered as a job container and a service, and a service's alias that is another service's name.
    assert.deepEqual(problems({ dockerMode: 'podContainers', jobContainers: 'build=redis:7', serviceContainers: 'redis=redis:7\ncache=valkey:8 aliases=redis' }), [
      "serviceContainers: line 1 ('redis=redis:7'): the image redis:7 is taken by build in jobContainers.",
      "serviceContainers: line 2 ('cache=valkey:8 aliases=redis'): the alias redis is taken by redis in serviceContainers.",
    ]);
  });

  it('quote a wrong line with every value that may be a secret left out: an env. name mistyped, a value with a space', () => {
    const secret = /hunter|two/;
    const lines = [
      'db=postgres:16 POSTGRES_PASSWORD=hunter2', 'db=postgres:16 Env.POSTGRES_PASSWORD=hunter2', 'db=postgres:16 env.POSTGRES_PASSWORD=hunter2 two',
      'db=postgres:16 env.1BAD=hunter2', 'db=postgres:16 =hunter2 cpuLimit=lots', 'db=postgres:16 env.P=hunter2\tenv.P=hunter3',
    ];
    lines.forEach((line, index) => {
      const found = problems({ dockerMode: 'podContainers', jobContainers: 'build=debian:12', serviceContainers: line });
      assert.ok(found.length > 0 && found.every((p) => p.startsWith(`serviceContainers: line 1 (`)), `${index}: ${found.join(' | ')}`);
      assert.deepEqual(found.filter((p) => secret.test(p)), [], `line ${index}`);
    });
    // What cannot be a secret stays, so the user still sees which option is wrong.
    assert.deepEqual(problems({ dockerMode: 'podContainers', jobContainers: 'build=debian:12', serviceContainers: 'db=postgres:16 aliases=pg envFrom=db ready=tcp:5432 readyTimeout=9 cpuLimit=lots X=y stray' }), [
      "serviceContainers: line 1 ('db=postgres:16 aliases=pg envFrom=db ready=tcp:5432 readyTimeout=9 cpuLimit=lots X=… …'): cpuLimit must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi; got 'lots'.",
      "serviceContainers: line 1 ('db=postgres:16 aliases=pg envFrom=db ready=tcp:5432 readyTimeout=9 cpuLimit=lots X=… …'): 'X=…' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=, aliases=, envFrom=, env.NAME=, ready=, readyTimeout=.",
      "serviceContainers: line 1 ('db=postgres:16 aliases=pg envFrom=db ready=tcp:5432 readyTimeout=9 cpuLimit=lots X=… …'): '…' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=, aliases=, envFrom=, env.NAME=, ready=, readyTimeout=.",
    ]);
  });

  it('read when a service is ready: a port that accepts connections, an HTTP path that answers, or a command', () => {
    const { pool: ready } = read({
      dockerMode: 'podContainers',
      serviceContainers: 'db=postgres:16 ready=exec:pg_isready,-U,app,-h,127.0.0.1 readyTimeout=120\nweb=nginx:1 ready=http:8080/health?deep=1\nroot=caddy:2 ready=http:80\ncache=redis:7 ready=tcp:6379\nplain=valkey:8',
    });
    assert.deepEqual(ready.podContainers!.map((c) => [c.name, c.ready]), [
      ['db', { probe: { kind: 'exec', command: ['pg_isready', '-U', 'app', '-h', '127.0.0.1'] }, timeoutSeconds: 120 }],
      ['web', { probe: { kind: 'http', port: 8080, path: '/health?deep=1' }, timeoutSeconds: 300 }],
      ['root', { probe: { kind: 'http', port: 80, path: '/' }, timeoutSeconds: 300 }],
      ['cache', { probe: { kind: 'tcp', port: 6379 }, timeoutSeconds: 300 }],
      ['plain', undefined],
    ]);
  });

  it('refuse a readiness a service cannot have, every problem named, and none for a job container', () => {
    const lines = [
      'a=x:1 ready=tcp:0', 'b=x:2 ready=tcp:65536', 'c=x:3 ready=tcp:054', 'd=x:4 ready=tcp:54a', 'e=x:5 ready=http:8080health',
      'f=x:6 ready=http:evil.example:80/x', 'g=x:7 ready=http:80/a\u0007b', 'h=x:8 ready=exec:', 'i=x:9 ready=exec:a,,b',
      'j=x:10 ready=grpc:50051', 'k=x:11 ready=', 'l=x:12 ready=tcp:1 ready=tcp:2', 'm=x:13 ready=tcp:1 readyTimeout=0',
      'n=x:14 ready=tcp:1 readyTimeout=3601', 'o=x:15 ready=tcp:1 readyTimeout=5s readyTimeout=6', 'p=x:16 readyTimeout=10',
      'q=x:17 ready=exec:sh,-c,\u001b[2J', 'r=x:18 ready=http:80/h\u00e9', 'fine=valkey:8 ready=tcp:6379 readyTimeout=3600',
    ];
    const wrong = (line: number, text: string, message: string) => `serviceContainers: line ${line} ('${text}'): ${message}.`;
    const kinds = 'ready= must be tcp:<port>, http:<port>[/path] or exec:<command>[,<argument>…]';
    const port = (got: string) => `ready=: the port must be a number from 1 to 65535; got '${got}'`;
    const timeout = (got: string) => `readyTimeout= must be a whole number of seconds from 1 to 3600; got '${got}'`;
    assert.deepEqual(problems({ dockerMode: 'podContainers', jobContainers: 'build=debian:12 ready=tcp:1 readyTimeout=5', serviceContainers: lines.join('\n') }), [
      "jobContainers: line 1 ('build=debian:12 ready=tcp:1 readyTimeout=5'): 'ready=tcp:1' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=.",
      "jobContainers: line 1 ('build=debian:12 ready=tcp:1 readyTimeout=5'): 'readyTimeout=5' is not one of cpuRequest=, memoryRequest=, cpuLimit=, memoryLimit=.",
      wrong(1, lines[0], port('0')),
      wrong(2, lines[1], port('65536')),
      wrong(3, lines[2], port('054')),
      wrong(4, lines[3], port('54a')),
      wrong(5, lines[4], port('8080health')),
      wrong(6, lines[5], port('evil.example:80')),
      wrong(7, 'g=x:7 ready=http:80/a\\u0007b', 'ready=: the path must be printable ASCII without spaces, starting with /; got \'/a\\u0007b\''),
      wrong(8, lines[7], 'ready=: exec: needs a command'),
      wrong(9, lines[8], 'ready=: exec: an empty argument (two commas in a row, or one at either end) in \'a,,b\''),
      wrong(10, lines[9], `${kinds}; got 'grpc:50051'`),
      wrong(11, lines[10], `${kinds}; got ''`),
      wrong(12, lines[11], 'ready= is given twice'),
      wrong(13, lines[12], timeout('0')),
      wrong(14, lines[13], timeout('3601')),
      wrong(15, lines[14], timeout('5s')),
      wrong(15, lines[14], 'readyTimeout= is given twice'),
      wrong(16, lines[15], 'readyTimeout= needs ready= (what the service is waited for)'),
      wrong(17, 'q=x:17 ready=exec:sh,-c,\\u001b[2J', 'ready=: exec: the command holds a control character'),
      wrong(18, lines[17], 'ready=: the path must be printable ASCII without spaces, starting with /; got \'/h\u00e9\''),
    ]);
  });

  it('need a container with podContainers and allow none with another mode', () => {
    assert.deepEqual(problems({ dockerMode: 'podContainers', jobContainers: '# none yet' }), [
      'jobContainers: or serviceContainers must offer at least one container with dockerMode podContainers (one name=image a line).',
    ]);
    for (const dockerMode of ['none', 'dind'] as const) {
      assert.deepEqual(problems({ dockerMode, jobContainers: 'build=debian:12', serviceContainers: 'redis=redis:7' }), [
        `jobContainers: is for dockerMode podContainers only; dockerMode is ${dockerMode}.`,
        `serviceContainers: is for dockerMode podContainers only; dockerMode is ${dockerMode}.`,
      ]);
    }
    assert.equal(read({}).pool.podContainers, undefined);
  });

  it('keep the capabilities it advertises from the env input', () => {
    assert.deepEqual(problems({ ...offer, env: 'RUNNER_CONTAINER_BUILD=ubuntu:24.04\nRUNNER_SERVICE_X=y' }), [
      'env: RUNNER_CONTAINER_BUILD is set by the task itself and cannot be overridden.',
      'env: RUNNER_SERVICE_X is set by the task itself and cannot be overridden.',
    ]);
  });
});

/** The volume and the path inside it that `path` is at in `container`: the deepest of its mounts holding the path. */
function resolve(container: V1Container, path: string): { volume: string; inside: string; readOnly: boolean } | undefined {
  const holding = (mount: V1VolumeMount) => path === mount.mountPath || path.startsWith(`${mount.mountPath}/`);
  const mount = (container.volumeMounts ?? []).filter(holding).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  return { volume: mount.name, inside: `${mount.subPath ?? ''}${path.slice(mount.mountPath.length)}`, readOnly: mount.readOnly === true };
}

describe('the podContainers pod', () => {
  const setting = readPodContainers({ AZP_POD_CONTAINERS: env('AZP_POD_CONTAINERS') });
  const jobContainers = setting.containers.filter((c) => c.role === 'job').map((c) => sidecar(c.name));

  it('gives the agent the setting its runner reads, naming every offered container', () => {
    assert.deepEqual(setting.containers, [
      { name: 'build', image: 'debian:12', role: 'job', aliases: ['build'] },
      { name: 'tools', image: 'registry.example.com/team/node-tools:20', role: 'job', aliases: ['tools'] },
      { name: 'redis', image: 'redis:7', role: 'service', aliases: ['redis', 'cache', 'redis.local'] },
      { name: 'db', image: 'postgres:16', role: 'service', aliases: ['db'] },
    ]);
    assert.equal(env('AGENT_TOOLSDIRECTORY'), setting.toolDir, 'the agent\'s tool folder is the one the setting shares at /__t');
    assert.equal(env('AZP_WORK'), setting.workDir);
    // start.sh puts the shim first on the image's own PATH: a PATH here would drop a derived image's entries.
    assert.deepEqual(agent.env!.filter((e) => e.name === 'PATH'), []);
  });

  it('resolves every mount path the shim uses to the same volume in the agent and each job container', () => {
    const shared = [...podMounts(setting), { agent: setting.socketDir, container: setting.socketDir }];
    for (const { agent: agentPath, container: containerPath } of shared) {
      const inAgent = resolve(agent, agentPath);
      assert.ok(inAgent, `the agent has ${agentPath} on a volume`);
      assert.ok(pod.volumes!.some((v) => v.name === inAgent.volume && v.emptyDir), `${agentPath} is on one of the pod's own emptyDirs`);
      for (const job of jobContainers) assert.deepEqual(resolve(job, containerPath), inAgent, `${job.name}'s ${containerPath} is the agent's ${agentPath}`);
    }
    // The exec helper listens where the shim connects, and runs on the shared Node and runner.js.
    for (const job of jobContainers) {
      const [node, runner, command, socket] = job.command!;
      assert.deepEqual([command, socket], ['exec-server', socketOf(setting, job.name)]);
      assert.deepEqual([resolve(job, node)?.volume, resolve(job, runner)?.volume], ['externals', 'externals']);
      assert.deepEqual(resolve(agent, `${setting.agentDir}/externals/node24/bin/node`)?.volume, 'externals', 'the shim\'s Node in the agent is the shared one');
    }
  });

  it('runs each offered container as a native sidecar, so the pod still ends with its agent\'s one job', () => {
    assert.deepEqual(pod.containers.map((c) => c.name), ['agent']);
    assert.deepEqual(pod.initContainers!.map((c) => [c.name, c.restartPolicy]), [['register', undefined], ['externals', undefined], ['build', 'Always'], ['tools', 'Always'], ['redis', 'Always'], ['db', 'Always']]);
    // The init container fills the shared externals (start.sh share-externals), the only one that may write them.
    const [mode, target] = sidecar('externals').args!;
    assert.deepEqual([mode, resolve(sidecar('externals'), target)], ['share-externals', { volume: 'externals', inside: '', readOnly: false }]);
    assert.deepEqual(sidecar('build').resources, { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '2Gi' } });
    // A service runs its image's own command and has nothing of the job.
    assert.deepEqual([sidecar('redis').command, sidecar('redis').volumeMounts], [undefined, undefined]);
    assert.deepEqual(pod.hostAliases, [{ ip: '127.0.0.1', hostnames: ['redis', 'cache', 'redis.local', 'db'] }]);
  });

  it('gives a service with ready= a startup probe, so the agent starts once the service answers, and no other container one', () => {
    const probed = podOf(read({
      dockerMode: 'podContainers',
      jobContainers: 'build=debian:12',
      serviceContainers: 'db=postgres:16 ready=exec:pg_isready,-U,app readyTimeout=90\nweb=nginx:1 ready=http:8080/health\ncache=redis:7 ready=tcp:6379\nplain=valkey:8',
    }).pool);
    const probeOf = (name: string) => probed.initContainers!.find((c) => c.name === name)!.startupProbe;
    assert.deepEqual(probeOf('db'), { exec: { command: ['pg_isready', '-U', 'app'] }, periodSeconds: 1, failureThreshold: 90 });
    assert.deepEqual(probeOf('web'), { httpGet: { port: 8080, path: '/health' }, periodSeconds: 1, failureThreshold: 300 });
    assert.deepEqual(probeOf('cache'), { tcpSocket: { port: 6379 }, periodSeconds: 1, failureThreshold: 300 });
    assert.deepEqual([probeOf('plain'), probeOf('build')], [undefined, undefined]);
    // A native sidecar's startup probe is what holds the agent back; a readiness or liveness probe would not.
    for (const container of [...probed.initContainers!, ...probed.containers]) {
      assert.deepEqual([container.readinessProbe, container.livenessProbe], [undefined, undefined], container.name);
    }
    // The kubelet probes the pod's own address: no probe names another host for the node to reach.
    assert.ok(!JSON.stringify(probed).includes('"host"'));
    assert.deepEqual(podSecurityViolations(probed, 'restricted'), []);
    // …which the checker would refuse, as Pod Security baseline does from Kubernetes 1.34.
    const reaching = structuredClone(probed);
    reaching.initContainers!.find((c) => c.name === 'web')!.startupProbe!.httpGet!.host = '169.254.169.254';
    reaching.initContainers!.find((c) => c.name === 'cache')!.startupProbe!.tcpSocket!.host = '10.0.0.1';
    assert.deepEqual(podSecurityViolations(reaching, 'baseline'), ['container web: startupProbe host', 'container cache: startupProbe host']);
  });

  it('gives a service its env: plain values, and a Secret\'s keys by reference, out of reach of the job\'s steps', () => {
    assert.deepEqual([sidecar('db').env, sidecar('db').envFrom], [
      [{ name: 'POSTGRES_USER', value: 'app' }, { name: 'POSTGRES_DB', value: 'test' }],
      [{ secretRef: { name: 'db-credentials' } }],
    ]);
    assert.deepEqual([sidecar('redis').env, sidecar('redis').envFrom], [undefined, undefined]);
    // Only the service references the Secret: not the agent, whose steps read its env, nor a job container.
    const referencing = [...pod.initContainers!, ...pod.containers].filter((c) => JSON.stringify(c).includes('db-credentials')).map((c) => c.name);
    assert.deepEqual(referencing, ['db']);
    assert.ok(!JSON.stringify(agent).includes('POSTGRES_'), 'nor do the plain values reach the agent');
  });

  it('gives a service its env values as written: the kubelet expands none of them, nor reads a Secret\'s key into another', () => {
    // The kubelet turns $$ into $ and $(NAME) into NAME's value (an envFrom Secret's key too) unless each $ is doubled.
    const { pool: dollars } = read({ dockerMode: 'podContainers', serviceContainers: 'db=postgres:16 envFrom=db-credentials env.P=a$$b env.URL=x$(POSTGRES_PASSWORD) env.T=$' });
    assert.deepEqual(dollars.podContainers![0].env, { P: 'a$$b', URL: 'x$(POSTGRES_PASSWORD)', T: '$' });
    assert.deepEqual(podOf(dollars).initContainers!.find((c) => c.name === 'db')!.env, [
      { name: 'P', value: 'a$$$$b' }, { name: 'URL', value: 'x$$(POSTGRES_PASSWORD)' }, { name: 'T', value: '$$' },
    ]);
  });

  it('gives no offered container the agent\'s registration, its key or a Kubernetes token', () => {
    const { pool: widest } = read({ ...offer, podRecycling: 'sidecar' });
    const spec = podOf(widest);
    assert.equal(spec.automountServiceAccountToken, false);
    for (const container of spec.initContainers!.filter((c) => !['register', 'recycle'].includes(c.name))) {
      const volumes = (container.volumeMounts ?? []).map((m) => m.name);
      assert.deepEqual(volumes.filter((v) => ['config', 'registration', 'recycle', 'recycle-credential'].includes(v)), [], container.name);
      assert.ok((container.volumeMounts ?? []).every((m) => m.name !== 'externals' || m.readOnly || container.name === 'externals'), `${container.name} cannot change the shared Node`);
    }
    assert.ok(agent.volumeMounts!.find((m) => m.name === 'externals')?.readOnly, 'nor can the agent\'s job steps');
  });

  it('advertises each offered image as a capability a demand can name, from the registration on', () => {
    const offered = (container: V1Container) => container.env!.filter((e) => e.name.startsWith('RUNNER_CONTAINER_') || e.name.startsWith('RUNNER_SERVICE_'));
    assert.deepEqual(offered(sidecar('register')), offered(agent), 'a job queued before the agent\'s session is not refused');
    assert.deepEqual(offered(agent), [
      { name: 'RUNNER_CONTAINER_BUILD', value: 'debian:12' },
      { name: 'RUNNER_CONTAINER_TOOLS', value: 'registry.example.com/team/node-tools:20' },
      { name: 'RUNNER_SERVICE_REDIS', value: 'docker.io/library/redis:7' },
      { name: 'RUNNER_SERVICE_DB', value: 'postgres:16' },
    ]);
  });
});

describe('Pod Security', () => {
  const specOf = (inputs: Record<string, string>) => podOf(read(inputs).pool);
  const levels = (spec: V1PodSpec) => (['baseline', 'restricted'] as const).filter((level) => podSecurityViolations(spec, level).length === 0);

  it('admits podContainers at restricted, with or without the autoscaler and the recycle sidecar', () => {
    for (const inputs of [offer, { ...offer, podRecycling: 'sidecar' }, { ...offer, autoscaling: 'inCluster' }]) {
      assert.deepEqual(podSecurityViolations(specOf(inputs), 'restricted'), []);
    }
  });

  it('is checked by a checker that refuses what the API server refuses (tests/e2e/docker-jobs.test.ts)', () => {
    const modes: Record<string, Record<string, string>> = {
      none: {},
      hostSocket: { dockerMode: 'hostSocket' },
      dind: { dockerMode: 'dind' },
      'buildah, node profile': { dockerMode: 'buildah', buildahSeccompProfile: 'localhost/azure-devops-runner/buildah.json' },
      'buildah, Unconfined': { dockerMode: 'buildah' },
    };
    const passes = Object.fromEntries(Object.entries(modes).map(([name, inputs]) => [name, levels(specOf(inputs))]));
    assert.deepEqual(passes, { none: ['baseline', 'restricted'], hostSocket: [], dind: [], 'buildah, node profile': ['baseline'], 'buildah, Unconfined': [] });
    assert.deepEqual(podSecurityViolations(specOf(modes.dind), 'restricted').filter((v) => v.startsWith('container docker:')), [
      'container docker: privileged', 'container docker: allowPrivilegeEscalation not false', 'container docker: runAsNonRoot not true', 'container docker: does not drop ALL capabilities',
    ]);
  });
});

it('reserves the name of every container the runner itself runs, in every mode', () => {
  const modes: DockerMode[] = ['none', 'hostSocket', 'dind', 'buildah', 'podContainers'];
  for (const dockerMode of modes) {
    for (const podRecycling of ['restartRules', 'sidecar']) {
      const spec = podOf(read({ ...(dockerMode === 'podContainers' ? offer : { dockerMode }), podRecycling }).pool);
      const own = [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.name).filter((name) => !['build', 'tools', 'redis', 'db'].includes(name));
      for (const name of own) assert.ok((runnerContainerNames as readonly string[]).includes(name), `${dockerMode}: ${name} is reserved`);
    }
  }
});
