// The in-cluster autoscaler's pure parts: its settings both ways, its objects, the registration handshake's rules, the
// poll interval, the bootstrap of a pool that has no registration yet.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { autoscalerEnvironment, readAutoscalerOptions } from '../../../src/core/autoscaler-options.js';
import { renderAutoscalerAccess, renderAutoscalerDeployment, renderRunnerPool } from '../../../src/core/manifests/index.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { InputReader } from '../../../src/core/inputs.js';
import { agentSettingsFiles, grantProblem, handshakeTargets, registrationGrant, requestProblem, tokenEndpointUrl, type RegistrationRequest } from '../../../src/core/registration.js';
import { grantStatement, signedGrantProblem } from '../../../src/core/handshake-trust.js';
import { BudgetPace, backingOff, pollDelay } from '../../../src/core/poll-interval.js';
import { sharedLookName } from '../../../src/core/shared-look.js';
import { autoscalerKeyMaker } from '../../../src/clients/autoscaler-keys.js';
import { decideScale } from '../../../src/core/scale-decision.js';
import type { RunnerPoolSpec } from '../../../src/core/model.js';
import type { KubeObject } from '../../../src/core/ports/kube.js';
import { inputProblems, MemoryHost } from '../../support/memory-host.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const spec: RunnerPoolSpec = {
  namespace: 'runners', runnerName: 'linux', poolName: 'Linux Private', organizationUrl: 'https://dev.azure.com/contoso', replicas: 0,
  image: 'registry.example.com/runner:1', credential: { kind: 'pat', token: 'pat-value' }, resources: {}, nodeSelector: {}, tolerations: [], env: {},
  dockerMode: 'none', podRecycling: 'restartRules', priority: 0,
  autoscaler: { minReplicas: 1, maxReplicas: 20, standby: 2, pollSeconds: 3 }, extension: { publisher: 'contoso', id: 'runner' },
  autoscalerKeys: autoscalerKeyMaker.make(),
};

describe('the autoscaler\'s settings', () => {
  it('reads back what DeployRunnerPool writes', () => {
    const options = readAutoscalerOptions(autoscalerEnvironment(spec));
    assert.deepEqual(options, {
      namespace: 'runners', runnerName: 'linux', poolName: 'Linux Private', organizationUrl: 'https://dev.azure.com/contoso',
      settings: { minReplicas: 1, maxReplicas: 20, standby: 2, pollSeconds: 3 }, extension: { publisher: 'contoso', id: 'runner' },
      keys: spec.autoscalerKeys!.public,
    });
  });

  it('names every bad variable', () => {
    const problems = inputProblems(() => readAutoscalerOptions({
      ...autoscalerEnvironment(spec), MIN_REPLICAS: '30', POLL_SECONDS: '0', AZP_URL: 'ftp://x', EXTENSION_ID: 'nodot', AZP_AUTOSCALER_SIGNING_KEY: 'short', AZP_AUTOSCALER_ENCRYPTION_KEY: '',
    }));
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), ['AZP_AUTOSCALER_ENCRYPTION_KEY', 'AZP_AUTOSCALER_SIGNING_KEY', 'AZP_URL', 'EXTENSION_ID', 'MIN_REPLICAS', 'POLL_SECONDS']);
  });

  it('DeployRunnerPool refuses a service principal with the autoscaler, and starts the pool at its minimum', () => {
    const inputs = { kubernetesServiceConnection: 'k', poolName: 'P', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', autoscaling: 'inCluster' };
    const problems = inputProblems(() => readDeployOptions(new InputReader(new MemoryHost({ ...inputs, credentialType: 'servicePrincipal', servicePrincipalTenantId: 't', servicePrincipalClientId: 'c', servicePrincipalClientSecret: 's' }))));
    assert.ok(problems.some((p) => p.startsWith('credentialType: must be pat or existingSecret with autoscaling inCluster')));
    const options = readDeployOptions(new InputReader(new MemoryHost({ ...inputs, personalAccessToken: 'p', minReplicas: '2', maxReplicas: '9', replicas: '7' })));
    assert.deepEqual(options.pool.autoscaler, { minReplicas: 2, maxReplicas: 9, standby: 0, pollSeconds: 5 });
    assert.equal(options.pool.replicas, 2);
  });
});

describe('the autoscaler\'s objects', () => {
  const objects = renderRunnerPool(spec);
  const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);

  it('are the pool\'s, with its own ServiceAccount, Role, RoleBinding and Deployment', () => {
    assert.deepEqual(kinds, [
      'Secret/linux-registration', 'Secret/linux-autoscaler-keys', 'ServiceAccount/linux-autoscaler', 'Role/linux-autoscaler', 'RoleBinding/linux-autoscaler',
      'NetworkPolicy/linux-egress', 'NetworkPolicy/linux-handshake', 'NetworkPolicy/linux-autoscaler', 'PodDisruptionBudget/linux-busy', 'StatefulSet/linux',
      'Deployment/linux-autoscaler',
    ]);
  });

  it('may read its StatefulSet, set its scale, hold its Lease and its pool\'s shared look, label the pool\'s pods and read and record events; nothing else, and no Secret', () => {
    // Every slot a pool may have: a busy slot above a lowered maxReplicas (20 here) is still marked and registered.
    const role = renderAutoscalerAccess(spec).find((o) => o.kind === 'Role') as Any;
    assert.deepEqual(role.rules, [
      { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get'], resourceNames: ['linux'] },
      { apiGroups: ['apps'], resources: ['statefulsets/scale'], verbs: ['get', 'patch'], resourceNames: ['linux'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'patch'], resourceNames: ['linux-autoscaler', sharedLookName(spec.organizationUrl, spec.poolName)] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch', 'delete'], resourceNames: Array.from({ length: 500 }, (_, n) => `linux-${n}`) },
      { apiGroups: [''], resources: ['events'], verbs: ['list', 'create'] },
    ]);
  });

  it('runs it non-root, read-only, unprivileged, limited, alone with the PAT, never two at once', () => {
    const deployment = renderAutoscalerDeployment(spec) as Any;
    assert.equal(deployment.spec.strategy.type, 'Recreate');
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.deepEqual(container.securityContext, { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true });
    assert.ok(container.resources.requests.cpu && container.resources.limits.memory);
    assert.deepEqual(container.args, ['autoscaler']);
    assert.deepEqual(pod.volumes.filter((v: Any) => v.secret).map((v: Any) => v.secret.secretName), ['linux-registration', 'linux-autoscaler-keys']);
    // Its pods are not the runner pods' selector's, which the StatefulSet would adopt.
    assert.notEqual(deployment.spec.template.metadata.labels['app.kubernetes.io/name'], 'azure-devops-runner');
  });

  it('knows its own pod\'s IP and declares the port its runner pods\' notices come to', () => {
    const [container] = (renderAutoscalerDeployment(spec) as Any).spec.template.spec.containers;
    assert.deepEqual(container.env.find((e: Any) => e.name === 'POD_IP'), { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
    assert.deepEqual(container.ports, [{ name: 'metrics', containerPort: 9090 }, { name: 'notices', containerPort: 9091 }]);
  });

  it('keeps off the nodes of root-capable Docker-mode runner pods, of any pool: preferred by default, required, or not', () => {
    const term = {
      labelSelector: { matchExpressions: [{ key: 'azure-devops-runner/docker-mode', operator: 'In', values: ['hostSocket', 'dind', 'buildah'] }] },
      namespaceSelector: {},
      topologyKey: 'kubernetes.io/hostname',
    };
    const affinity = (antiAffinity?: RunnerPoolSpec['autoscalerAntiAffinity']) => (renderAutoscalerDeployment({ ...spec, autoscalerAntiAffinity: antiAffinity }) as Any).spec.template.spec.affinity;
    assert.deepEqual(affinity(), { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] } });
    assert.deepEqual(affinity('required'), { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } });
    assert.equal(affinity('none'), undefined);
    // The label the term selects is on the runner pods of those modes only.
    for (const dockerMode of ['none', 'hostSocket', 'dind', 'buildah'] as const) {
      const statefulSet = renderRunnerPool({ ...spec, dockerMode }).find((o) => o.kind === 'StatefulSet') as Any;
      assert.equal(statefulSet.spec.template.metadata.labels['azure-devops-runner/docker-mode'], dockerMode === 'none' ? undefined : dockerMode);
    }
    const read = (value?: string) => readDeployOptions(new InputReader(new MemoryHost({
      kubernetesServiceConnection: 'k', poolName: 'P', azureDevOpsUrl: 'https://dev.azure.com/c', image: 'r:1', personalAccessToken: 'p', autoscaling: 'inCluster',
      ...(value !== undefined && { autoscalerAntiAffinity: value }),
    }))).pool.autoscalerAntiAffinity;
    assert.equal(read(), 'preferred');
    assert.equal(read('Required'), 'required');
    assert.equal(read('none'), 'none');
  });

  it('leaves runner pods without the credential and without a register step', () => {
    const statefulSet = objects.find((o) => o.kind === 'StatefulSet') as Any;
    const pod = statefulSet.spec.template.spec;
    assert.equal(pod.initContainers, undefined);
    assert.ok(!pod.volumes.some((v: Any) => v.secret), 'no Secret volume');
    assert.ok(!JSON.stringify(pod).includes('linux-registration'));
    assert.ok(!JSON.stringify(pod).includes('linux-autoscaler-keys') && !JSON.stringify(pod).includes('PRIVATE KEY'));
    const env = (name: string) => pod.containers[0].env.find((e: Any) => e.name === name)?.value;
    assert.equal(env('AZP_REGISTRATION'), 'autoscaler');
    assert.deepEqual({ signing: env('AZP_AUTOSCALER_SIGNING_KEY'), encryption: env('AZP_AUTOSCALER_ENCRYPTION_KEY') }, spec.autoscalerKeys!.public);
    assert.equal(statefulSet.metadata.annotations['azure-devops-runner/replicas-owner'], 'autoscaler');
  });
});

describe('the registration handshake', () => {
  const runner = { runnerName: 'linux', statefulSetUid: 'sts-1' };
  const owner = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'linux', uid: 'sts-1', controller: true };
  const pod = (name: string, uid: string, phase = 'Running', ip = '10.0.0.9', restarts = 0, ownerReferences = [owner]): KubeObject => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, uid, ownerReferences }, status: { phase, podIP: ip, containerStatuses: [{ name: 'agent', restartCount: restarts }] },
  });
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const b64 = (v: string | undefined) => Buffer.from(v ?? '', 'base64url').toString('base64');
  const request = (podName: string, podUid: string): RegistrationRequest => ({
    podName, podUid, publicKey: { exponent: b64(jwk.e), modulus: b64(jwk.n) }, keyId: 'k', nonce: 'n'.repeat(43), systemCapabilities: {},
  });

  it('looks only at the runner\'s live slots that have an address', () => {
    const pods = [pod('linux-0', 'u0'), pod('linux-1', 'u1', 'Succeeded'), pod('linux-2', 'u2', 'Pending', ''), pod('other-0', 'u3'), pod('linux-3', 'u4', 'Pending', '10.0.0.4', 2)];
    assert.deepEqual(handshakeTargets(runner, pods), [{ name: 'linux-0', uid: 'u0', ip: '10.0.0.9', restarts: 0 }, { name: 'linux-3', uid: 'u4', ip: '10.0.0.4', restarts: 2 }]);
  });

  it('gives a registration only to a pod the runner\'s StatefulSet controls, whoever else made one under a slot\'s name', () => {
    const made = (ownerReferences: Array<typeof owner>) => pod('linux-0', 'u0', 'Running', '10.0.0.9', 0, ownerReferences);
    for (const ownerReferences of [[], [{ ...owner, uid: 'sts-old' }], [{ ...owner, controller: false }], [{ ...owner, kind: 'ReplicaSet' }]]) {
      assert.deepEqual(handshakeTargets(runner, [made(ownerReferences)]), [], JSON.stringify(ownerReferences));
    }
    assert.deepEqual(handshakeTargets({ runnerName: 'linux' }, [made([owner])]), [], 'none while the StatefulSet\'s UID is unknown');
    assert.equal(handshakeTargets(runner, [made([owner])]).length, 1);
  });

  it('grants only a request that names the very pod at that address, with a real key', () => {
    const [target] = handshakeTargets(runner, [pod('linux-0', 'u0')]);
    assert.equal(requestProblem(target, request('linux-0', 'u0')), undefined);
    assert.match(requestProblem(target, request('linux-0', 'someone-else'))!, /says it is linux-0 \(someone-else\), not linux-0 \(u0\)/);
    assert.match(requestProblem(target, { ...request('linux-0', 'u0'), publicKey: { exponent: 'AQAB', modulus: 'AAAA' } })!, /not an RSA key/);
  });

  it('asks for a fresh nonce in every request', () => {
    const [target] = handshakeTargets(runner, [pod('linux-0', 'u0')]);
    assert.match(requestProblem(target, { ...request('linux-0', 'u0'), nonce: 'short' })!, /nonce is not 32 bytes/);
  });

  it('signs the pod\'s UID, the nonce, the agent key and every field of the grant', () => {
    const grant = registrationGrant('https://dev.azure.com/contoso', { id: 3, name: 'Linux Private' }, { id: 7, name: 'linux-0', clientId: 'c1', authorizationUrl: 'https://vstoken.example.com/contoso/token' }, 'hosted');
    const asked = request('linux-0', 'u0');
    const statement = grantStatement(grant, asked);
    for (const [name, value] of Object.entries(grant)) {
      const changed = { ...grant, [name]: typeof value === 'number' ? value + 1 : `${value}x` };
      assert.notEqual(grantStatement(changed, asked), statement, name);
      assert.equal(signedGrantProblem({ grant: changed, signature: 'A'.repeat(86) }), undefined, name);
    }
    for (const changed of [{ podUid: 'u1' }, { nonce: 'm'.repeat(43) }, { publicKey: { ...asked.publicKey, exponent: 'AQAC' } }]) {
      assert.notEqual(grantStatement(grant, { ...asked, ...changed }), statement, Object.keys(changed)[0]);
    }
    assert.match(signedGrantProblem({ grant: { ...grant, agentId: '7' }, signature: 'A'.repeat(86) })!, /agentId is not an integer/);
    assert.match(signedGrantProblem({ grant: { ...grant, note: 'x' }, signature: 'A'.repeat(86) })!, /no signature covers: note/);
    assert.match(signedGrantProblem(grant)!, /not a signed grant/);
  });

  it('signs a notice address as part of the grant, and a grant without one as it always did', () => {
    const agent = { id: 7, name: 'linux-0', clientId: 'c1', authorizationUrl: 'https://vstoken.example.com/contoso/token' };
    const pool = { id: 3, name: 'Linux Private' };
    const url = 'http://10.0.0.2:9091/job-started';
    const asked = { ...request('linux-0', 'u0'), acceptsNoticeUrl: true };
    const plain = registrationGrant('https://dev.azure.com/contoso', pool, agent, 'hosted');
    const noticed = registrationGrant('https://dev.azure.com/contoso', pool, agent, 'hosted', { url, request: asked });
    assert.equal(noticed.noticeUrl, url);
    // Only to a pod that says it takes one: an older pod refuses a grant with a field it does not know.
    assert.equal(registrationGrant('https://dev.azure.com/contoso', pool, agent, 'hosted', { url, request: request('linux-0', 'u0') }).noticeUrl, undefined);
    assert.equal(registrationGrant('https://dev.azure.com/contoso', pool, agent, 'hosted', { request: asked }).noticeUrl, undefined);
    // A grant without one is signed exactly as before the field existed: either side of an update agrees.
    assert.deepEqual(JSON.parse(grantStatement(plain, asked)), [
      'azure-devops-runner grant v1', 'u0', asked.nonce, asked.publicKey.exponent, asked.publicKey.modulus,
      7, 'linux-0', 3, 'Linux Private', 'https://dev.azure.com/contoso', 'c1', agent.authorizationUrl, agent.authorizationUrl,
    ]);
    const statement = grantStatement(noticed, asked);
    for (const changed of [{ ...noticed, noticeUrl: 'http://10.6.6.6:9091/job-started' }, plain]) assert.notEqual(grantStatement(changed, asked), statement);
    assert.equal(signedGrantProblem({ grant: noticed, signature: 'A'.repeat(86) }), undefined);
    assert.match(signedGrantProblem({ grant: { ...noticed, noticeUrl: 9091 }, signature: 'A'.repeat(86) })!, /noticeUrl is not a string/);
    const settings = { agentName: 'linux-0', poolName: 'Linux Private', organizationUrl: 'https://dev.azure.com/contoso' };
    assert.equal(grantProblem(noticed, settings), undefined);
    for (const bad of ['https://10.0.0.2:9091/job-started', 'http://10.0.0.2:9091/elsewhere', 'not a url']) assert.match(grantProblem({ ...noticed, noticeUrl: bad }, settings)!, /noticeUrl/, bad);
    assert.deepEqual(JSON.parse(agentSettingsFiles(noticed, '/azp/work')['.job-notice']), { url, agentId: 7 });
    assert.equal(agentSettingsFiles(plain, '/azp/work')['.job-notice'], undefined);
  });

  it('hands back settings that point the agent at its own organization, and files as config.sh writes them', () => {
    const grant = registrationGrant('https://dev.azure.com/contoso', { id: 3, name: 'Linux Private' }, { id: 7, name: 'linux-0', clientId: 'c1', authorizationUrl: 'https://vstoken.example.com/contoso/token' }, 'hosted');
    assert.equal(grant.oauthEndpointUrl, 'https://vstoken.example.com/contoso/token');
    const settings = { agentName: 'linux-0', poolName: 'linux private', organizationUrl: 'https://dev.azure.com/contoso/' };
    assert.equal(grantProblem(grant, settings), undefined);
    assert.match(grantProblem(grant, { ...settings, agentName: 'linux-1' })!, /for the agent linux-0, not linux-1/);
    assert.match(grantProblem(grant, { ...settings, organizationUrl: 'https://dev.azure.com/evil' })!, /not https:\/\/dev.azure.com\/evil/);
    const files = agentSettingsFiles(grant, '/azp/work');
    assert.deepEqual(JSON.parse(files['.agent']), { agentId: 7, agentName: 'linux-0', poolId: 3, poolName: 'Linux Private', serverUrl: 'https://dev.azure.com/contoso', workFolder: '/azp/work' });
    assert.deepEqual(JSON.parse(files['.credentials']), { scheme: 'OAuth', data: { clientId: 'c1', authorizationUrl: 'https://vstoken.example.com/contoso/token', oauthEndpointUrl: 'https://vstoken.example.com/contoso/token' } });
  });

  it("gets tokens where the agent would: the service's own token host when hosted, the organization's host on premises", () => {
    const token = 'https://vstoken.dev.azure.com/_apis/oauth2/token/0ca3ddd9';
    assert.equal(tokenEndpointUrl('https://dev.azure.com/contoso', token, 'hosted'), token);
    // An on-premises server's public URL may be out of the pod's reach: scheme, host and port follow the organization URL.
    const onPremises = 'http://tfs-public:8080/tfs/_apis/oauth2/token';
    assert.equal(tokenEndpointUrl('https://tfs.corp.example/tfs/DefaultCollection', onPremises, 'onPremises'), 'https://tfs.corp.example/tfs/_apis/oauth2/token');
    assert.equal(tokenEndpointUrl('http://10.0.0.5:8080/tfs/DefaultCollection', 'https://tfs-public/tfs/_apis/oauth2/token', 'onPremises'), 'http://10.0.0.5:8080/tfs/_apis/oauth2/token');
    // A server that does not say what it is counts as on-premises.
    assert.equal(tokenEndpointUrl('https://tfs.corp.example/tfs/DefaultCollection', onPremises, undefined), 'https://tfs.corp.example/tfs/_apis/oauth2/token');
    assert.throws(() => tokenEndpointUrl('https://dev.azure.com/contoso', 'vstoken', 'hosted'), /authorization URL that is not a URL: 'vstoken'/);
  });
});

describe('scaling rules the autoscaler adds', () => {
  it('starts slot 0 once for a runner with no registration, so that jobs can queue', () => {
    const d = decideScale({ mode: 'queue', limits: { minReplicas: 0, maxReplicas: 5, standby: 0 } }, { currentReplicas: 0, busyOrdinals: [], queuedJobs: 0, registered: false });
    assert.equal(d.replicas, 1);
    assert.match(d.reason, /no registration yet, so slot 0 runs once/);
    assert.equal(decideScale({ mode: 'queue', limits: { minReplicas: 0, maxReplicas: 5, standby: 0 } }, { currentReplicas: 1, busyOrdinals: [], queuedJobs: 0, registered: true }).replicas, 0);
  });

  it('waits its interval, longer after failures and when the rate limit runs low', () => {
    assert.equal(pollDelay(5, { failures: 0 }), 5000);
    assert.equal(pollDelay(5, { failures: 0, rateLimit: { remaining: 150, limit: 200 } }), 5000);
    // The service's first headers (half used) already stretch it: (0.7 / 0.5)^3.
    assert.equal(pollDelay(5, { failures: 0, rateLimit: { remaining: 100, limit: 200 } }), 13_720);
    assert.equal(pollDelay(5, { failures: 0, rateLimit: { remaining: 50, limit: 200 } }), 109_760);
    assert.equal(pollDelay(5, { failures: 0, rateLimit: { remaining: 20, limit: 200 } }), 300_000);
    // A look retires a used registration no notice told of: a minute at most while a key is at stake.
    assert.equal(pollDelay(5, { failures: 0, rateLimit: { remaining: 20, limit: 200 }, keysAtStake: true }), 60_000);
    assert.equal(pollDelay(5, { failures: 1, rateLimit: { remaining: 0, limit: 200 }, keysAtStake: true }), 60_000);
    assert.equal(pollDelay(5, { failures: 1, rateLimit: { remaining: 0, limit: 200 } }), 300_000);
    assert.equal(pollDelay(2, { failures: 4 }), 8000);
    assert.equal(pollDelay(5, { failures: 12 }), 60_000);
  });

  it('remembers the budget\'s stretch once answers carry no headers, halving it every 150 s', () => {
    const pace = new BudgetPace();
    // A 429 says none is left: the longest stretch, capped at a minute while a key is at stake.
    assert.equal(pace.delay(5, { failures: 1, rateLimit: { remaining: 0, limit: 200 }, keysAtStake: true }, 0), 60_000);
    // The next answers carry no headers (under half used): the pace comes back by halves, not at once.
    assert.equal(pace.delay(5, { failures: 0 }, 150_000), 150_000);
    assert.equal(pace.delay(5, { failures: 0, keysAtStake: true }, 300_000), 60_000);
    assert.equal(pace.delay(5, { failures: 0 }, 600_000), 18_750);
    // An answer that asks for more counts at once, and is remembered from then.
    assert.equal(pace.delay(5, { failures: 0, rateLimit: { remaining: 50, limit: 200 } }, 600_000), 109_760);
    assert.equal(pace.delay(5, { failures: 0 }, 750_000), 54_880);
    assert.equal(pace.delay(5, { failures: 0 }, 1_200_000), 6860);
    assert.equal(pace.delay(5, { failures: 0 }, 1_650_000), 5000);
    assert.equal(new BudgetPace().delay(5, { failures: 0 }, 0), 5000);
  });

  it('remembers only the budget\'s stretch: an outage\'s backoff on a last answer near the stretch\'s threshold is not kept', () => {
    const pace = new BudgetPace();
    // Seven failed passes, the last answer (before the outage) 139 of 200 left: backoff and budget together.
    assert.equal(pace.delay(5, { failures: 7, rateLimit: { remaining: 139, limit: 200 } }, 0), 61_304);
    // Back, no headers: the pace is the interval's again (the backoff times the budget, remembered, would be 46 s here).
    assert.equal(pace.delay(5, { failures: 0 }, 60_000), 5000);
  });

  it('goes on halving a remembered stretch after the clock is set back', () => {
    const pace = new BudgetPace();
    assert.equal(pace.delay(5, { failures: 0, rateLimit: { remaining: 0, limit: 200 } }, 3_600_000), 300_000);
    assert.equal(pace.delay(5, { failures: 0 }, 0), 300_000);
    assert.equal(pace.delay(5, { failures: 0 }, 600_000), 18_750);
  });

  it('property: the remembered pace is never shorter than the last answer asks, never past the caps, and only shortens while no answer asks for more', () => {
    const step = fc.record({ after: fc.integer({ min: 0, max: 400_000 }), failures: fc.integer({ min: 0, max: 8 }), used: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }), keysAtStake: fc.boolean() });
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.array(step, { maxLength: 30 }), (pollSeconds, steps) => {
      const pace = new BudgetPace();
      let now = 0;
      let previous: { delay: number; keysAtStake: boolean; failures: number } | undefined;
      for (const { after, failures, used, keysAtStake } of steps) {
        now += after;
        const rateLimit = used === undefined ? undefined : { remaining: Math.round(200 * (1 - used)), limit: 200 };
        const state = { failures, rateLimit, keysAtStake };
        const delay = pace.delay(pollSeconds, state, now);
        assert.ok(delay >= pollDelay(pollSeconds, state), `${delay} < ${pollDelay(pollSeconds, state)}`);
        assert.ok(delay <= Math.max(pollSeconds * 1000, keysAtStake ? 60_000 : 300_000), `${delay}`);
        const asksNothing = pollDelay(pollSeconds, state) === pollSeconds * 1000;
        if (previous !== undefined && asksNothing && previous.keysAtStake === keysAtStake && previous.failures === 0 && failures === 0) assert.ok(delay <= previous.delay, `${delay} > ${previous.delay}`);
        previous = { delay, keysAtStake, failures };
      }
    }));
  });

  it('backs off, so that no notice brings a look sooner, after a failed pass and below three quarters of the budget left', () => {
    assert.equal(backingOff({ failures: 0, rateLimit: { remaining: 160, limit: 200 } }), false);
    assert.equal(backingOff({ failures: 1 }), true);
    // Notices alone cannot spend the shared budget past a quarter, short of where the regular interval stretches.
    assert.equal(backingOff({ failures: 0, rateLimit: { remaining: 149, limit: 200 } }), true);
    assert.equal(backingOff({ failures: 0, rateLimit: { remaining: 2, limit: 200 } }), true);
  });

  it('keeps a poll interval longer than a minute, up to the 300 s the task allows', () => {
    assert.equal(pollDelay(300, { failures: 0 }), 300_000);
    assert.equal(pollDelay(120, { failures: 3 }), 120_000);
    assert.equal(pollDelay(5, { failures: 12 }), 60_000);
  });

  // Every autoscaler of an organization reads the same X-RateLimit-Remaining (the PAT's identity's): the interval
  // must fall as the budget is spent, or together they would spend it faster the less there is.
  const budget = fc.record({ limit: fc.integer({ min: 1, max: 10_000 }), used: fc.double({ min: 0, max: 1, noNaN: true }) });
  // A failure backs off a minute at most (Azure DevOps or the cluster may be back any moment); a low budget stretches up
  // to the whole window, the only way many autoscalers sharing one identity can spend less than the allowance.
  it('property: never shorter than pollSeconds; a minute at most but for a low budget with no key at stake, then five', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 40 }), fc.option(budget, { nil: undefined }), fc.boolean(), (pollSeconds, failures, rate, keysAtStake) => {
      const rateLimit = rate && { remaining: Math.round(rate.limit * (1 - rate.used)), limit: rate.limit };
      const delay = pollDelay(pollSeconds, { failures, rateLimit, keysAtStake });
      const stretched = !keysAtStake && rateLimit !== undefined && rateLimit.remaining < rateLimit.limit / 2;
      assert.ok(delay >= pollSeconds * 1000 && delay <= (stretched ? 300_000 : 60_000), `${delay}`);
      if (failures === 0 && (rateLimit === undefined || rateLimit.remaining >= rateLimit.limit / 2)) assert.equal(delay, Math.min(pollSeconds * 1000, 60_000));
    }));
  });

  it('property: the less budget is left, and the more passes failed, the longer it waits', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 20 }), budget, fc.double({ min: 0, max: 1, noNaN: true }), (pollSeconds, failures, rate, more) => {
      const at = (used: number, failed: number) => pollDelay(pollSeconds, { failures: failed, rateLimit: { remaining: Math.round(rate.limit * (1 - used)), limit: rate.limit } });
      const busier = rate.used + (1 - rate.used) * more;
      assert.ok(at(busier, failures) >= at(rate.used, failures));
      assert.ok(at(rate.used, failures + 1) >= at(rate.used, failures));
    }));
  });
});
