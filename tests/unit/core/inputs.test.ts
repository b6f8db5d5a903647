// Input validation: every problem is named, with the input and what is wrong, before anything happens.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputReader } from '../../../src/core/inputs.js';
import { defaultRunnerName, readDeployOptions } from '../../../src/core/deploy-options.js';
import { readScaleOptions } from '../../../src/core/scale-options.js';
import { readBuildImageOptions } from '../../../src/core/build-options.js';
import { inputProblems, MemoryHost } from '../../support/memory-host.js';

const reader = (inputs: Record<string, string>) => new InputReader(new MemoryHost(inputs));
const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const clientId = '0b8a4e3c-5f1d-4d2e-9a6b-7c8d9e0f1a2b';

const validDeploy = {
  kubernetesServiceConnection: 'aks',
  namespace: 'runners',
  poolName: 'Linux Private',
  azureDevOpsUrl: 'https://dev.azure.com/contoso/',
  image: 'registry.example.com/runner:1.0',
  personalAccessToken: 'secret-pat',
};

describe('InputReader', () => {
  it('collects every problem and names each input', () => {
    const inputs = reader({ replicas: 'ten', flag: 'maybe', kind: 'x', size: '10 GB' });
    inputs.integer('replicas', { min: 0, max: 5 });
    inputs.boolean('flag', false);
    inputs.choice('kind', ['a', 'b'] as const);
    inputs.quantity('size');
    inputs.required('missing');
    const found = inputProblems(() => inputs.finish());
    assert.deepEqual(found, [
      "replicas: must be a whole number from 0 to 5; got 'ten'.",
      "flag: must be true or false; got 'maybe'.",
      "kind: must be one of a, b; got 'x'.",
      "size: must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi; got '10 GB'.",
      'missing: is required but was empty.',
    ]);
  });

  it('treats whitespace-only values as empty and applies fallbacks', () => {
    const inputs = reader({ replicas: '  ', mode: 'QUEUE' });
    assert.equal(inputs.integer('replicas', { min: 0, max: 5 }, 2), 2);
    assert.equal(inputs.choice('mode', ['fixed', 'queue'] as const), 'queue');
    inputs.finish();
  });

  it('parses key=value lines, skipping blanks and comments', () => {
    const inputs = reader({ env: 'A=1\n\n# note\nB = two=2\n' });
    assert.deepEqual(inputs.keyValues('env'), { A: '1', B: 'two=2' });
    inputs.finish();
    const bad = reader({ env: 'A=1\nnot a pair' });
    bad.keyValues('env');
    assert.deepEqual(inputProblems(() => bad.finish()), ["env: line 2 must look like KEY=value; got 'not a pair'."]);
  });

  it('rejects URLs that are not http(s) and trims a trailing slash', () => {
    assert.equal(reader({ u: 'https://dev.azure.com/x//' }).url('u'), 'https://dev.azure.com/x');
    const inputs = reader({ u: 'dev.azure.com/x' });
    inputs.url('u');
    assert.match(inputProblems(() => inputs.finish())[0], /^u: must be an http\(s\) URL/);
  });

  it('refuses a URL that new URL() would read after dropping a line break or encoding a space', () => {
    const inputs = reader({ a: 'https://dev.azure.com/con\ntoso', b: 'https://dev.azure.com/a b', c: 'https://dev.azure.com/x\u0007' });
    for (const name of ['a', 'b', 'c']) assert.equal(inputs.url(name), '');
    assert.deepEqual(inputProblems(() => inputs.finish()), ['a', 'b', 'c'].map((name) => `${name}: must be one URL without spaces; it holds a space, a line break or another control character.`));
  });

  it('ends key=value lines at \\n and \\r\\n only: a lone carriage return is refused, not read as a line end', () => {
    const inputs = reader({ env: 'A=1\r\nB=2\nC=3\rD=4' });
    assert.deepEqual(inputs.keyValues('env'), { A: '1', B: '2' });
    assert.deepEqual(inputProblems(() => inputs.finish()), ['env: line 3 holds a carriage return inside the line (a value pasted from elsewhere?).']);
  });

  it('refuses a URL with credentials without quoting it', () => {
    const inputs = reader({ u: 'https://user:pw@dev.azure.com/x' });
    assert.equal(inputs.url('u'), '');
    assert.deepEqual(inputProblems(() => inputs.finish()), ['u: must not hold a user name or password (…@host): the tasks authenticate with the personalAccessToken input.']);
  });

  it('names a secret with a line break without quoting it', () => {
    const inputs = reader({ pat: 'one\ntwo' });
    inputs.secret('pat');
    assert.deepEqual(inputProblems(() => inputs.finish()), ['pat: must be one line; it holds a line break (a secret variable pasted with a newline?).']);
  });
});

describe('DeployRunnerPool inputs', () => {
  it('reads a valid pool with defaults', () => {
    const options = readDeployOptions(reader(validDeploy));
    assert.equal(options.action, 'apply');
    assert.deepEqual(options.target, { connection: { kind: 'kubernetesServiceConnection', endpointId: 'aks' }, namespace: 'runners' });
    assert.equal(options.pool.runnerName, 'linux-private');
    assert.equal(options.pool.organizationUrl, 'https://dev.azure.com/contoso');
    assert.equal(options.pool.replicas, 1);
    assert.deepEqual(options.pool.credential, { kind: 'pat', token: 'secret-pat' });
    assert.equal(options.pool.dockerMode, 'none');
    assert.equal(options.rolloutTimeoutSeconds, 600);
  });

  it('reads the Docker modes\' own inputs, only for their mode', () => {
    assert.equal(readDeployOptions(reader({ ...validDeploy, dockerMode: 'dind' })).pool.dindImage, 'docker:28-dind');
    assert.equal(readDeployOptions(reader({ ...validDeploy, dockerMode: 'dind', dindImage: 'mirror.example.com/dind:1' })).pool.dindImage, 'mirror.example.com/dind:1');
    assert.equal(readDeployOptions(reader({ ...validDeploy, dindImage: 'ignored:1' })).pool.dindImage, undefined);
    assert.deepEqual(readDeployOptions(reader({ ...validDeploy, dockerMode: 'buildah' })).pool.buildahSeccompProfile, { type: 'Unconfined' });
    assert.deepEqual(readDeployOptions(reader({ ...validDeploy, dockerMode: 'buildah', buildahSeccompProfile: 'localhost/azure-devops-runner/buildah.json' })).pool.buildahSeccompProfile,
      { type: 'Localhost', localhostProfile: 'azure-devops-runner/buildah.json' });
    assert.deepEqual(inputProblems(() => readDeployOptions(reader({ ...validDeploy, dockerMode: 'dind', dindImage: 'has space' }))), [
      "dindImage: must be an image reference such as registry.example.com/runner:1.0 or repo@sha256:<digest> (lowercase repository); got 'has space'.",
    ]);
    for (const profile of ['RuntimeDefault', 'localhost/', '/etc/profile.json']) {
      assert.match(inputProblems(() => readDeployOptions(reader({ ...validDeploy, dockerMode: 'buildah', buildahSeccompProfile: profile })))[0], /^buildahSeccompProfile: must be Unconfined or localhost\//);
    }
    assert.deepEqual(inputProblems(() => readDeployOptions(reader({ ...validDeploy, dockerMode: 'buildah', buildahSeccompProfile: 'localhost/../x.json' }))), [
      "buildahSeccompProfile: must stay below the kubelet's seccomp directory (no '..'); got 'localhost/../x.json'.",
    ]);
  });

  it('masks each credential as it reads it, even when other inputs are bad', () => {
    const host = new MemoryHost({ personalAccessToken: 'secret-pat' });
    assert.ok(inputProblems(() => readDeployOptions(new InputReader(host))).length > 0);
    assert.deepEqual(host.secrets, ['secret-pat']);
    const principal = new MemoryHost({ ...validDeploy, credentialType: 'servicePrincipal', servicePrincipalTenantId: tenantId, servicePrincipalClientId: clientId, servicePrincipalClientSecret: 'sp-secret' });
    readDeployOptions(new InputReader(principal));
    assert.deepEqual(principal.secrets, ['sp-secret']);
  });

  it('names all missing inputs at once', () => {
    assert.deepEqual(inputProblems(() => readDeployOptions(reader({}))), [
      'kubernetesServiceConnection: is required but was empty.',
      'poolName: is required but was empty.',
      'azureDevOpsUrl: is required but was empty.',
      'image: is required but was empty.',
      'personalAccessToken: is required but was empty.',
    ]);
  });

  it('needs only the inputs of the chosen credential and connection', () => {
    const inputs = { ...validDeploy, connectionType: 'inCluster', credentialType: 'existingSecret', existingSecretName: 'runner-pat' };
    const options = readDeployOptions(reader(inputs));
    assert.deepEqual(options.target.connection, { kind: 'inCluster' });
    assert.deepEqual(options.pool.credential, { kind: 'existingSecret', secretName: 'runner-pat' });
    assert.deepEqual(inputProblems(() => readDeployOptions(reader({ ...validDeploy, credentialType: 'servicePrincipal' }))), [
      'servicePrincipalTenantId: is required but was empty.',
      'servicePrincipalClientId: is required but was empty.',
      'servicePrincipalClientSecret: is required but was empty.',
    ]);
  });

  it('rejects bad names, counts, quantities and reserved variables', () => {
    const found = inputProblems(() =>
      readDeployOptions(
        reader({
          ...validDeploy,
          namespace: 'Runners_NS',
          replicas: '501',
          memoryLimit: '4 gigs',
          env: 'AZP_TOKEN=x',
          image: 'has space:1',
          tolerations: 'gpu=true:Sometimes',
        }),
      ),
    );
    assert.equal(found.length, 6);
    assert.match(found[0], /^namespace: must be a lowercase DNS label/);
    assert.match(found.join('\n'), /replicas: must be a whole number from 0 to 500; got '501'/);
    assert.match(found.join('\n'), /memoryLimit: must be a Kubernetes quantity/);
    assert.match(found.join('\n'), /env: AZP_TOKEN is set by the task itself/);
    assert.match(found.join('\n'), /image: must be an image reference/);
    assert.match(found.join('\n'), /tolerations: line 'gpu=true:Sometimes'/);
  });

  it('requires a manifest path for render', () => {
    assert.deepEqual(inputProblems(() => readDeployOptions(reader({ ...validDeploy, action: 'render' }))), ['manifestPath: is required but was empty.']);
  });

  it('parses tolerations and node selectors', () => {
    const options = readDeployOptions(
      reader({ ...validDeploy, tolerations: 'gpu=true:NoSchedule\nspot:NoExecute\ndedicated', nodeSelector: 'kubernetes.io/os=linux\nagentpool=ci' }),
    );
    assert.deepEqual(options.pool.tolerations, [
      { key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
      { key: 'spot', operator: 'Exists', effect: 'NoExecute' },
      { key: 'dedicated', operator: 'Exists' },
    ]);
    assert.deepEqual(options.pool.nodeSelector, { 'kubernetes.io/os': 'linux', agentpool: 'ci' });
  });

  it('derives DNS-safe runner names from pool names', () => {
    assert.equal(defaultRunnerName('Linux Private'), 'linux-private');
    assert.equal(defaultRunnerName('  ***  '), 'runner');
    assert.equal(defaultRunnerName('A'.repeat(80)), 'a'.repeat(50));
  });
});

describe('ScaleRunnerPool inputs', () => {
  const base = { kubernetesServiceConnection: 'aks', runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/contoso', poolName: 'Linux', personalAccessToken: 'pat' };

  it('reads queue mode with limits', () => {
    const options = readScaleOptions(reader({ ...base, minReplicas: '1', maxReplicas: '20', standby: '2', watchMinutes: '30' }));
    assert.equal(options.mode, 'queue');
    assert.deepEqual(options.limits, { minReplicas: 1, maxReplicas: 20, standby: 2 });
    assert.equal(options.watchSeconds, 1800);
  });

  it('rejects min above max', () => {
    assert.deepEqual(inputProblems(() => readScaleOptions(reader({ ...base, minReplicas: '5', maxReplicas: '2' }))), [
      'minReplicas: (5) must not exceed maxReplicas (2).',
    ]);
  });

  it('needs no Azure DevOps access for a fixed count without hygiene', () => {
    const options = readScaleOptions(
      reader({ kubernetesServiceConnection: 'aks', runnerName: 'linux', mode: 'fixed', replicas: '3', removeStaleRegistrations: 'false' }),
    );
    assert.equal(options.replicas, 3);
    assert.equal(options.token, undefined);
  });
});

describe('BuildRunnerImage inputs', () => {
  it('turns the named settings into build arguments', () => {
    const options = readBuildImageOptions(
      reader({ imageRepository: 'registry.example.com/runner', dockerRegistryServiceConnection: 'acr', agentVersion: '4.266.2', extraPackages: 'git jq', buildArguments: 'AGENT_VERSION=1.0.0\nFOO=bar', tags: '1.0, latest' }),
    );
    assert.deepEqual(options.buildArgs, { AGENT_VERSION: '4.266.2', FOO: 'bar', EXTRA_PACKAGES: 'git jq' });
    assert.deepEqual(options.tags, ['1.0', 'latest']);
    assert.equal(options.dockerfile, undefined);
  });

  it('rejects uppercase repositories, bad tags and versions', () => {
    const found = inputProblems(() =>
      readBuildImageOptions(reader({ imageRepository: 'Registry/Runner', tags: 'ok bad/tag', agentVersion: 'latest', push: 'false' })),
    );
    assert.equal(found.length, 3);
    assert.match(found.join('\n'), /agentVersion: must be a version/);
    assert.match(found.join('\n'), /tags: 'bad\/tag' is not a valid image tag/);
    assert.match(found.join('\n'), /imageRepository: must be a lowercase image repository/);
  });
});
