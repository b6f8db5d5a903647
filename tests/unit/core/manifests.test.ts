// The runner pool's rendered objects: the properties the product's promises rest on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadAll } from 'js-yaml';
import { renderRunnerPool, renderStatefulSet } from '../../../src/core/manifests/index.js';
import { manifestFile } from '../../../src/core/manifest-file.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { deployRunnerPool } from '../../../src/flows/deploy-pool.js';
import { autoscalerKeyMaker } from '../../../src/clients/autoscaler-keys.js';
import { InputReader } from '../../../src/core/inputs.js';
import type { RunnerPoolSpec } from '../../../src/core/model.js';
import { MemoryHost } from '../../support/memory-host.js';
import { MemoryFiles } from '../../support/memory-files.js';

const spec: RunnerPoolSpec = {
  namespace: 'runners',
  runnerName: 'linux',
  poolName: 'Linux Private',
  organizationUrl: 'https://dev.azure.com/contoso',
  replicas: 3,
  image: 'registry.example.com/runner@sha256:' + 'a'.repeat(64),
  credential: { kind: 'pat', token: 'pat-value-123' },
  resources: { cpuRequest: '500m', memoryLimit: '2Gi' },
  nodeSelector: { agentpool: 'ci' },
  tolerations: [],
  env: { TOOL_HOME: '/opt/tool' },
  dockerMode: 'none',
  podRecycling: 'restartRules',
  priority: 0,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const podSpec = (s: RunnerPoolSpec): Any => (renderStatefulSet(s).spec as Any).template.spec;

describe('runner pool manifests', () => {
  it('is a StatefulSet that never stalls and never kills a running job on update', () => {
    const sts = renderStatefulSet(spec).spec as Any;
    assert.equal(sts.replicas, 3);
    assert.equal(sts.podManagementPolicy, 'Parallel');
    assert.deepEqual(sts.updateStrategy, { type: 'OnDelete' });
    assert.equal(sts.template.metadata.annotations['cluster-autoscaler.kubernetes.io/safe-to-evict'], 'false');
  });

  it('replaces the pod whenever its agent has run, and backs off only on failures before it runs', () => {
    const agent = podSpec(spec).containers[0];
    assert.equal(agent.name, 'agent');
    assert.equal(agent.restartPolicy, 'Never');
    assert.deepEqual(agent.restartPolicyRules, [{ action: 'Restart', exitCodes: { operator: 'In', values: [78] } }]);
  });

  it('with the recycle sidecar, only the sidecar holds a Kubernetes token, allowed to delete the pool\'s pods', () => {
    const recycling = { ...spec, podRecycling: 'sidecar' as const };
    const pod = podSpec(recycling);
    const agent = pod.containers[0];
    assert.equal(agent.restartPolicy, undefined, 'the agent waits for the sidecar instead of exiting');
    assert.equal(agent.restartPolicyRules, undefined);
    assert.ok(agent.env.some((e: Any) => e.name === 'AZP_RECYCLE_DIR'));
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.serviceAccountName, 'linux-recycler');
    const tokenVolume = pod.volumes.find((v: Any) => v.projected?.sources.some((s: Any) => s.serviceAccountToken));
    const sidecar = pod.initContainers.find((c: Any) => c.name === 'recycle');
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.deepEqual(sidecar.args, ['recycle']);
    const mountsToken = (c: Any) => (c.volumeMounts ?? []).some((m: Any) => m.name === tokenVolume.name);
    assert.deepEqual([...pod.initContainers, ...pod.containers].filter(mountsToken).map((c: Any) => c.name), ['recycle']);
    const objects = renderRunnerPool(recycling);
    assert.deepEqual(objects.map((o) => o.kind), ['Secret', 'ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy', 'PodDisruptionBudget', 'StatefulSet']);
    const role = objects.find((o) => o.kind === 'Role') as Any;
    assert.deepEqual(role.rules.map((r: Any) => [r.resources, r.verbs]), [[['pods'], ['delete']]]);
    assert.equal(role.rules[0].resourceNames[0], 'linux-0');
    assert.ok(role.rules[0].resourceNames.every((n: string) => /^linux-\d+$/.test(n)));
    assert.equal((objects.find((o) => o.kind === 'ServiceAccount') as Any).automountServiceAccountToken, false);
  });

  it('runs non-root with no Kubernetes token and no credential in the agent container', () => {
    const pod = podSpec(spec);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 10001);
    const agent = pod.containers[0];
    assert.equal(agent.securityContext.allowPrivilegeEscalation, false);
    const agentText = JSON.stringify(agent);
    assert.doesNotMatch(agentText, /registration|AZP_TOKEN|secret/i);
    const register = pod.initContainers.find((c: Any) => c.name === 'register');
    assert.ok(register.volumeMounts.some((m: Any) => m.name === 'registration' && m.readOnly));
    assert.ok(register.env.some((e: Any) => e.name === 'AZP_TOKEN_FILE'));
  });

  it('registers with every variable the agent reports, so its capabilities are whole before its session', () => {
    const modes = [spec, { ...spec, podRecycling: 'sidecar' as const }, { ...spec, env: { TOOL_HOME: '/opt/tool', GPU: 'a100' } },
      ...(['hostSocket', 'dind', 'buildah'] as const).map((dockerMode) => ({ ...spec, dockerMode }))];
    for (const pool of modes) {
      const pod = podSpec(pool);
      const register = pod.initContainers.find((c: Any) => c.name === 'register');
      const registerEnv = JSON.stringify(register.env);
      const missing = (pod.containers[0].env as Any[]).filter((e) => !registerEnv.includes(JSON.stringify(e))).map((e) => e.name);
      // The recycle sidecar's folder is for the run alone (start.sh refuses it in register mode, ignores it as a capability).
      assert.deepEqual(missing, pool.podRecycling === 'sidecar' ? ['AZP_RECYCLE_DIR'] : [], `${pool.dockerMode}/${pool.podRecycling}`);
    }
  });

  it('passes the pod identity to the agent so it becomes agent capabilities', () => {
    const env = podSpec(spec).containers[0].env as Any[];
    const byName = Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]));
    assert.equal(byName.RUNNER_POD_NAME, 'metadata.name');
    assert.equal(byName.RUNNER_POD_UID, 'metadata.uid');
    assert.equal(byName.RUNNER_NODE_NAME, 'spec.nodeName');
    assert.equal(byName.RUNNER_IMAGE, spec.image);
    assert.equal(byName.AZP_AGENT_NAME, 'metadata.name');
    assert.equal(byName.TOOL_HOME, '/opt/tool');
  });

  it('keeps the PAT in a Secret, and a service principal\'s id outside the file mount', () => {
    const [secret] = renderRunnerPool(spec);
    assert.equal(secret.kind, 'Secret');
    assert.deepEqual(secret.stringData, { token: 'pat-value-123' });
    const sp = renderRunnerPool({ ...spec, credential: { kind: 'servicePrincipal', tenantId: 't', clientId: 'c', clientSecret: 's' } });
    assert.deepEqual(sp[0].stringData, { clientId: 'c', tenantId: 't', clientSecret: 's' });
    assert.deepEqual(renderRunnerPool({ ...spec, credential: { kind: 'existingSecret', secretName: 'mine' } }).map((o) => o.kind), ['NetworkPolicy', 'PodDisruptionBudget', 'StatefulSet']);
  });

  it('adds docker only when asked', () => {
    const pod = podSpec(spec);
    assert.deepEqual(pod.initContainers.map((c: Any) => c.name), ['register']);
    assert.ok(!pod.containers[0].env.some((e: Any) => /^(DOCKER_HOST|BUILDAH_ISOLATION)$/.test(e.name)));
    assert.deepEqual(pod.volumes.map((v: Any) => v.name), ['config', 'work', 'registration']);
  });

  it('dind: a privileged engine sidecar on the pod\'s loopback only, of the image asked for; the agent stays unprivileged', () => {
    const pod = podSpec({ ...spec, dockerMode: 'dind', dindImage: 'registry.example.com/dind:1' });
    const sidecar = pod.initContainers.find((c: Any) => c.name === 'docker');
    assert.equal(sidecar.image, 'registry.example.com/dind:1');
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.equal(sidecar.securityContext.privileged, true);
    // `dockerd` first: docker:dind's entrypoint adds tcp://0.0.0.0:2375 when given options only.
    assert.deepEqual(sidecar.args, ['dockerd', '--host=tcp://127.0.0.1:2375', '--tls=false']);
    assert.deepEqual(sidecar.startupProbe.exec.command, ['docker', '--host=tcp://127.0.0.1:2375', 'version']);
    assert.deepEqual(pod.volumes.find((v: Any) => v.name === 'docker-data'), { name: 'docker-data', emptyDir: {} });
    const agent = pod.containers[0];
    assert.ok(agent.env.some((e: Any) => e.name === 'DOCKER_HOST' && e.value === 'tcp://127.0.0.1:2375'));
    assert.deepEqual(agent.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    assert.equal(podSpec({ ...spec, dockerMode: 'dind' }).initContainers.find((c: Any) => c.name === 'docker').image, 'docker:28-dind', 'upstream by default');
  });

  it('dind: the engine sees every folder the agent\'s `docker create` mounts at the agent\'s own path, the externals read-only', () => {
    const pod = podSpec({ ...spec, dockerMode: 'dind' });
    // The agent binds its work folder (the job's, _temp, _tasks, _tool, .taskkey) and its externals (Node for the
    // steps) into a container job's containers; the engine resolves those sources in its own container.
    assert.deepEqual(pod.initContainers.map((c: Any) => c.name), ['register', 'externals', 'docker'], 'the externals are copied before the engine starts');
    const externals = pod.initContainers.find((c: Any) => c.name === 'externals');
    assert.deepEqual(externals.args, ['share-externals', '/azp/shared-externals']);
    assert.deepEqual(externals.volumeMounts, [{ name: 'externals', mountPath: '/azp/shared-externals' }]);
    assert.deepEqual(externals.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const engine = pod.initContainers.find((c: Any) => c.name === 'docker');
    assert.deepEqual(engine.volumeMounts, [
      { name: 'work', mountPath: '/azp/work' },
      { name: 'externals', mountPath: '/azp/agent/externals', readOnly: true },
      { name: 'docker-data', mountPath: '/var/lib/docker' },
    ]);
    assert.deepEqual(pod.volumes.find((v: Any) => v.name === 'externals'), { name: 'externals', emptyDir: {} });
    // No AGENT_TOOLSDIRECTORY: the agent's tool folder is its work folder's _tool, which the engine sees already.
    assert.ok(!pod.containers[0].env.some((e: Any) => e.name === 'AGENT_TOOLSDIRECTORY'));
    // The agent keeps its image's externals, the same files as the copy: the engine's are never the agent's.
    assert.ok(!pod.containers[0].volumeMounts.some((m: Any) => m.name === 'externals'));
  });

  it('hostSocket: only the docker sidecar mounts the node\'s socket, with its group; the agent talks to the sidecar', () => {
    const pod = podSpec({ ...spec, dockerMode: 'hostSocket', dockerSocketGroupId: 998 });
    assert.deepEqual(pod.securityContext.supplementalGroups, [998]);
    assert.deepEqual(pod.volumes.find((v: Any) => v.name === 'docker-socket').hostPath, { path: '/var/run/docker.sock', type: 'Socket' });
    const sidecar = pod.initContainers.find((c: Any) => c.name === 'docker');
    assert.equal(sidecar.image, spec.image);
    assert.deepEqual(sidecar.args, ['docker-proxy']);
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.ok(sidecar.volumeMounts.some((m: Any) => m.name === 'docker-socket'));
    assert.ok(sidecar.env.some((e: Any) => e.name === 'RUNNER_POD_UID' && e.valueFrom.fieldRef.fieldPath === 'metadata.uid'));
    assert.deepEqual(sidecar.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    const agent = pod.containers[0];
    assert.ok(!agent.volumeMounts.some((m: Any) => m.name === 'docker-socket'));
    assert.ok(agent.env.some((e: Any) => e.name === 'DOCKER_HOST' && e.value === 'unix:///azp/docker/docker.sock'));
  });

  it('buildah: no sidecar; the agent may raise SETUID/SETGID through newuidmap, under the seccomp profile asked for', () => {
    const pod = podSpec({ ...spec, dockerMode: 'buildah', buildahSeccompProfile: { type: 'Localhost', localhostProfile: 'azure-devops-runner/buildah.json' } });
    assert.deepEqual(pod.initContainers.map((c: Any) => c.name), ['register']);
    const agent = pod.containers[0];
    assert.deepEqual(agent.securityContext, {
      allowPrivilegeEscalation: true,
      capabilities: { drop: ['ALL'], add: ['SETUID', 'SETGID'] },
      seccompProfile: { type: 'Localhost', localhostProfile: 'azure-devops-runner/buildah.json' },
    });
    assert.deepEqual(pod.initContainers[0].securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } }, 'the register step keeps dropAll');
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' }, 'the other containers keep RuntimeDefault');
    assert.ok(agent.env.some((e: Any) => e.name === 'BUILDAH_ISOLATION' && e.value === 'chroot'));
    assert.ok(agent.env.some((e: Any) => e.name === 'STORAGE_DRIVER' && e.value === 'vfs'));
  });

  it('writes no secret value into the rendered file, and says how to create the Secret', () => {
    const options = readDeployOptions(new InputReader(new MemoryHost({ kubernetesServiceConnection: 'x', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'pat-value-123' })));
    const text = manifestFile(options.pool);
    assert.doesNotMatch(text, /pat-value-123/);
    assert.match(text, /create secret generic linux-registration/);
    const docs = loadAll(text) as Any[];
    assert.deepEqual(docs.map((d) => d.kind), ['NetworkPolicy', 'PodDisruptionBudget', 'StatefulSet']);
    assert.deepEqual(docs[2], JSON.parse(JSON.stringify(renderStatefulSet(options.pool))));
  });

  it('renders the recycle sidecar\'s objects when asked, and says how to get it otherwise', () => {
    const inputs = { kubernetesServiceConnection: 'x', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p' };
    const rules = readDeployOptions(new InputReader(new MemoryHost(inputs)));
    assert.match(manifestFile(rules.pool), /podRecycling: sidecar/);
    const sidecar = readDeployOptions(new InputReader(new MemoryHost({ ...inputs, podRecycling: 'sidecar' })));
    const docs = loadAll(manifestFile(sidecar.pool)) as Any[];
    assert.deepEqual(docs.map((d) => d.kind), ['ServiceAccount', 'Role', 'RoleBinding', 'NetworkPolicy', 'PodDisruptionBudget', 'StatefulSet']);
    assert.ok(docs[5].spec.template.spec.initContainers.some((c: Any) => c.name === 'recycle'));
  });

  it('render writes the file and never opens the cluster', async () => {
    const host = new MemoryHost({}, {}, { 'Agent.TempDirectory': '/tmp' });
    const files = new MemoryFiles();
    files.directories.add('/tmp');
    const options = readDeployOptions(
      new InputReader(new MemoryHost({ kubernetesServiceConnection: 'x', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p', action: 'render', manifestPath: '/tmp/m.yaml', dockerMode: 'dind' })),
    );
    const result = await deployRunnerPool(options, {
      host,
      connect: () => assert.fail('render must not connect'),
      files,
      clock: { now: () => 0, sleep: async () => {} },
      keys: autoscalerKeyMaker,
    });
    assert.equal(result.manifestPath, '/tmp/m.yaml');
    assert.match(files.read('/tmp/m.yaml'), /kind: StatefulSet/);
    assert.match(host.warnings[0], /privileged Docker sidecar/);
  });

  it('warns about buildah without a seccomp filter, not with a node\'s profile', async () => {
    const inputs = { kubernetesServiceConnection: 'x', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p', action: 'render', manifestPath: '/tmp/m.yaml', dockerMode: 'buildah' };
    const warnings = async (extra: Record<string, string>) => {
      const host = new MemoryHost({}, {}, { 'Agent.TempDirectory': '/tmp' });
      const files = new MemoryFiles();
      files.directories.add('/tmp');
      await deployRunnerPool(readDeployOptions(new InputReader(new MemoryHost({ ...inputs, ...extra }))), { host, connect: () => assert.fail('render must not connect'), files, clock: { now: () => 0, sleep: async () => {} }, keys: autoscalerKeyMaker });
      return host.warnings;
    };
    assert.match((await warnings({}))[0], /without a seccomp filter \(Unconfined\), which Pod Security baseline refuses/);
    assert.deepEqual(await warnings({ buildahSeccompProfile: 'localhost/azure-devops-runner/buildah.json' }), []);
  });
});
