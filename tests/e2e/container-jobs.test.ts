// E2E: container jobs (`container:`, `services:`, `target:`) on a dockerMode podContainers runner, on the real cluster,
// in a namespace that enforces Pod Security `restricted`. One pool, deployed once: the job container is the Debian base
// the runner image is built on (by digest), the service that base with a tiny TCP server (nothing is pulled). Each job
// takes its own pod, so the tests run in order on the one slot: a YAML-like job, an image the runner does not offer,
// the pods ending after their job, a hostile step in the job container. The service gets a plain variable and a
// Secret's key from its serviceContainers line, and its ready= check (a startup probe on its port); the job container
// the pipeline's env.
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kubectl, kubectlJson, waitFor } from '../support/cluster.js';
import { buildServiceImage, LocalImages, servicePort } from '../support/container-jobs.js';
import { deployDockerPool, dockerPool, dockerSlot, idlePod, runJob } from '../support/docker-jobs.js';
import { credentialProbe, probeField } from '../support/pool-jobs.js';
import { run } from '../support/process.js';
import { BASE_IMAGE } from '../support/runner-image.js';
import { createNamespace, deleteNamespace, startPoolWorld, type PoolWorld } from '../support/runner-pool.js';
import type { AdminJob } from '../support/emulator.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const NS = 'adr-container-jobs-e2e';
const MODE = 'podContainers';
const slot = dockerSlot(MODE);
const leak = /LEAK-|KUBERNETES-TOKEN|KUBELET-OPEN|APISERVER-OPEN|WROTE-EXTERNALS/;
/** The Secret the service takes its token from (envFrom), which only the service's container may see. */
const serviceSecret = 'adr-service-env';
const serviceToken = randomBytes(16).toString('hex');
/** What a step that could see the service's env would print. */
const serviceEnvProbe = (where: string) => `test -n "\${SERVICE_TOKEN:-}" && echo "LEAK-SERVICE-SECRET-${where}"`;

let world: PoolWorld;
/** The runner's Debian base in the cluster's registry, by digest: the offered job container. */
let jobImage: string;
/** That base with a TCP server as its command: the offered service. */
let serviceImage: string;
/** Images this file added to the local engine. */
const localImages = new LocalImages();
/** The pods the jobs ran in, in order, and when the last job finished. */
const podUids: string[] = [];
let lastJob: AdminJob | undefined;

/** The API server's own admission of a pod with `spec` in the namespace, without creating it (server-side dry run). */
async function admission(spec: Any): Promise<{ code: number; stderr: string }> {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'psa-check' }, spec };
  return run(world.cluster.kubectlPath, ['create', '--dry-run=server', '-n', NS, '-f', '-'],
    { input: JSON.stringify(pod), env: { ...process.env, KUBECONFIG: world.cluster.kubeconfig } });
}

const seconds = (from: string | undefined, to: string | undefined) => (Date.parse(to ?? '') - Date.parse(from ?? '')) / 1000;

describe('Container jobs on a podContainers runner', { timeout: 10 * 60_000 }, () => {
  before(async () => {
    world = await startPoolWorld(dockerPool(MODE), 'container-jobs-e2e');
    await createNamespace(NS);
    await kubectl(['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=restricted']);
    jobImage = await localImages.push(BASE_IMAGE, 'adr-container-job:bookworm');
    serviceImage = await localImages.push(await buildServiceImage(localImages), 'adr-container-service:e2e');
    await kubectl(['create', 'secret', 'generic', serviceSecret, '-n', NS, `--from-literal=SERVICE_TOKEN=${serviceToken}`]);
    const started = Date.now();
    const deployed = await deployDockerPool(world, NS, MODE, {
      jobContainers: `build=${jobImage}`,
      serviceContainers: `cache=${serviceImage} aliases=kv env.SERVICE_GREETING=hello envFrom=${serviceSecret} ready=tcp:${servicePort}`,
    });
    assert.equal(deployed.result, 'Succeeded', deployed.message);
    console.log(`podContainers pool deployed and rolled out in ${(Date.now() - started) / 1000} s`);
  });

  after(async () => {
    await deleteNamespace(NS);
    await localImages.remove();
    await world?.stop();
  });

  it('a YAML-like job: steps in the job container and on the host share the workspace; the service answers on its alias', async () => {
    const { job, log } = await runJob(world, MODE, {
      name: 'container-job',
      // The agent advertises what its pod offers: the job lands only where its images are.
      demands: [`RUNNER_CONTAINER_BUILD -equals ${jobImage}`, `RUNNER_SERVICE_CACHE -equals ${serviceImage}`],
      // The job container's env, as a pipeline's `container: env:` gives it: through the shim to its exec helper.
      containers: { build: { image: jobImage, env: { JOB_GREETING: 'from the pipeline' } }, cache: { image: serviceImage, ports: [String(servicePort)] } },
      container: 'build',
      services: { kv: 'cache' },
      steps: [
        { displayName: 'host writes', target: 'host', script: [
          'echo "pod-uid=$RUNNER_POD_UID host-sources=$BUILD_SOURCESDIRECTORY host-agent=$(test -d /azp/agent && echo yes || echo no)"',
          serviceEnvProbe('ON-THE-HOST'),
          'echo "from the host" >"$BUILD_SOURCESDIRECTORY/host.txt"',
        ].join('\n') },
        { displayName: 'in the job container', script: [
          '. /etc/os-release',
          'echo "container-os=$ID-$VERSION_CODENAME container-uid=$(id -u) container-pwd=$(pwd) container-sources=$BUILD_SOURCESDIRECTORY"',
          // PID 1 of the job container is its exec helper; the agent's folder is not there.
          'echo "container-pid1=$(tr "\\0" " " </proc/1/cmdline) container-agent=$(test -d /azp/agent && echo yes || echo no)"',
          'echo "container-read=$(cat host.txt)"',
          'echo "container-env=$JOB_GREETING"',
          serviceEnvProbe('IN-THE-JOB-CONTAINER'),
          'echo "from the container" >container.txt',
          `timeout 10 bash -c 'exec 3<>/dev/tcp/kv/$AGENT_SERVICES_KV_PORTS_${servicePort} && read -r line <&3 && echo "service-said=$line"'`,
        ].join('\n') },
        { displayName: 'host reads', target: 'host', script: 'echo "host-read=$(cat "$BUILD_SOURCESDIRECTORY/container.txt") owner=$(stat -c %u "$BUILD_SOURCESDIRECTORY/container.txt")"' },
      ],
    }, 180_000);
    lastJob = job;
    assert.equal(job.result, 'succeeded', log);
    assert.equal(job.agentName, slot);
    assert.match(log, /offered by this runner's pod/, 'the agent\'s docker is the shim');
    podUids.push(probeField(log, 'pod-uid')!);

    const build = probeField(log, 'host-sources')?.match(/^\/azp\/work\/(\d+)\/s$/)?.[1];
    assert.ok(build, `the host step ran in the agent's work folder: ${log}`);
    assert.equal(probeField(log, 'host-agent'), 'yes');
    assert.equal(probeField(log, 'container-os'), 'debian-bookworm');
    assert.equal(probeField(log, 'container-uid'), '10001', 'the pod\'s uid, the agent\'s');
    assert.equal(probeField(log, 'container-pwd'), `/__w/${build}/s`, '/__w is the job\'s work folder');
    assert.equal(probeField(log, 'container-sources'), `/__w/${build}/s`);
    assert.match(log, /container-pid1=\S*node \S*runner\.js exec-server /);
    assert.equal(probeField(log, 'container-agent'), 'no');
    assert.match(log, /container-read=from the host/);
    assert.match(log, /host-read=from the container owner=10001/);
    assert.match(log, /container-env=from the pipeline/, 'the job container\'s env reached its step');
    assert.match(log, new RegExp(`service-said=service-answers uid=10001 greeting=hello token-length=${serviceToken.length}`), 'the service got its line\'s env and its Secret\'s key');
    assert.doesNotMatch(log, leak, log);
  });

  it('a job naming an image the runner does not offer fails within seconds, with the line listing what it offers', async () => {
    podUids.push((await idlePod(world, NS, MODE, podUids.at(-1))).metadata.uid);
    const { job, log } = await runJob(world, MODE, {
      name: 'unoffered', containers: { build: { image: 'alpine:3' } }, container: 'build', steps: [{ script: 'echo never-ran' }],
    }, 120_000);
    lastJob = job;
    assert.equal(job.result, 'failed', log);
    const took = seconds(job.receiveTime, job.finishTime);
    console.log(`the unoffered image failed its job ${took} s after the agent took it`);
    assert.ok(took < 60, `${took} s`);
    assert.ok(log.includes(`the image alpine:3 is not offered by this runner (dockerMode podContainers); it offers ${jobImage} (container), ${serviceImage} (service cache/kv)`), log);
    assert.doesNotMatch(log, /^never-ran$/m);
  });

  it('each pod ends after its one job, sidecars included, and Pod Security restricted admits it', async () => {
    const ended = lastJob?.finishTime;
    // The slot's next pod is created once the last one is gone, all its containers with it: a sidecar that outlived
    // the agent would hold the pod for its 60 s grace period.
    const uid = await waitFor(`a new ${slot}`, 120_000, async () => {
      const found = (await kubectl(['get', 'pod', slot, '-n', NS, '--ignore-not-found', '-o', 'jsonpath={.metadata.uid}'])).trim();
      return found !== '' && found !== podUids.at(-1) ? found : undefined;
    });
    const replaced = seconds(ended, new Date().toISOString());
    console.log(`${slot} replaced ${replaced} s after its job ended`);
    assert.ok(replaced < 45, `the pod outlived its job by ${replaced} s`);
    podUids.push(uid);
    assert.equal(new Set(podUids).size, podUids.length, `a new pod for every job: ${podUids.join(', ')}`);
    const pods = await kubectlJson<Any>(['get', 'pods', '-n', NS]);
    assert.deepEqual(pods.items.map((p: Any) => p.metadata.uid), [uid], 'nothing else is left in the namespace');

    // Admitted where restricted is enforced, every offered container a sidecar of it; asked again without creating
    // anything, the API server has no warning for it, and refuses it with a privileged sidecar (the level is enforced).
    const pod = await idlePod(world, NS, MODE, podUids.at(-2));
    assert.equal(pod.metadata.uid, uid);
    const sidecars = pod.spec.initContainers.filter((c: Any) => c.restartPolicy === 'Always').map((c: Any) => c.name);
    assert.deepEqual(sidecars, ['build', 'cache']);
    // The service's ready= is its startup probe, passed before the agent started.
    const cache = pod.spec.initContainers.find((c: Any) => c.name === 'cache');
    assert.deepEqual(cache.startupProbe.tcpSocket, { port: servicePort });
    assert.equal(pod.status.initContainerStatuses.find((c: Any) => c.name === 'cache')?.started, true);
    const admitted = await admission(pod.spec);
    assert.equal(admitted.code, 0, admitted.stderr);
    assert.doesNotMatch(admitted.stderr, /warning/i);
    const privileged = structuredClone(pod.spec);
    privileged.initContainers.find((c: Any) => c.name === 'cache').securityContext = { privileged: true };
    const refused = await admission(privileged);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /violates PodSecurity "restricted/);
  });

  it('a hostile step in the job container reaches none of the agent\'s key files and no Kubernetes token', async () => {
    const keyFiles = ['.agent', '.credentials', '.credentials_rsaparams'].flatMap((name) => ['/azp/agent', '/azp/config', '/__a'].map((dir) => `${dir}/${name}`));
    const hostile = [
      `echo "probe-pid1=$(tr "\\0" " " </proc/1/cmdline)"`,
      ...credentialProbe(world),
      // The agent's registration where the agent keeps it, and under /__a, the agent's root as a job container sees it.
      ...keyFiles.map((path) => `test -e ${path} && echo "LEAK-KEY-FILE ${path}"`),
      'find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o \\( -name ".credentials*" -o -name .agent \\) -print 2>/dev/null | sed "s/^/LEAK-KEY-FILE /"',
      'grep -rqaF "$secret" /__w /__t /__a /azp /tmp /etc /home /root /var /run 2>/dev/null && echo "LEAK-FILE"',
      'test -e /var/run/secrets/kubernetes.io && echo "KUBERNETES-TOKEN-DIR"',
      serviceEnvProbe('IN-THE-HOSTILE-STEP'),
      // No process of the agent's container is in sight (the pod shares no process namespace).
      'for p in /proc/[0-9]*; do grep -qa Agent.Listener "$p/cmdline" 2>/dev/null && echo "LEAK-AGENT-PROCESS $p"; done',
      'echo "probe-saw processes=$(ls -d /proc/[0-9]* | wc -l) workspace-files=$(find /__w -type f | wc -l)"',
      // The externals are the agent's own Node and handlers: a job that could change them would run as the agent.
      'touch /__a/externals/planted 2>/dev/null && echo "WROTE-EXTERNALS"',
      'echo "externals=$(test -w /__a/externals && echo writable || echo read-only)"',
      // Anonymous, the API server refuses whatever a step asks.
      'api="https://${KUBERNETES_SERVICE_HOST:-kubernetes.default.svc}:${KUBERNETES_SERVICE_PORT:-443}"',
      `code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 10 "$api/api/v1/namespaces/${NS}/pods")`,
      'case "$code" in 401|403) echo "apiserver=refused-$code" ;; 000) echo "apiserver=unreachable" ;; *) echo "APISERVER-OPEN-$code" ;; esac',
      'echo done-probe',
    ].join('\n');
    const { job, log } = await runJob(world, MODE, { name: 'hostile', containers: { build: { image: jobImage } }, container: 'build', steps: [{ script: hostile }] }, 180_000);
    assert.equal(job.result, 'succeeded', log);
    assert.match(log, /done-probe/);
    assert.match(log, /probe-pid1=\S*node \S*runner\.js exec-server /, 'the probe ran in the job container');
    assert.doesNotMatch(log, leak, log);
    assert.match(log, /kubelet=(refused-40[13]|unreachable)/, 'the probe tried the kubelet');
    assert.match(log, /apiserver=(refused-40[13]|unreachable)/, 'the probe tried the API server');
    assert.equal(probeField(log, 'externals'), 'read-only');
    assert.ok(Number(probeField(log, 'workspace-files')) > 0, 'the probe saw the shared workspace');
  });
});
