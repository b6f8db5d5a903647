// BuildRunnerImage's pure parts: input validation, the registry login read from a service connection, the summary.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bakedAgentVersion, buildSummary, isLoopbackRegistry, isOlderVersion, qualifiedRepository, readBuildImageOptions, registryLogin, registryOf,
  type BuildImageOptions,
} from '../../../src/core/build-options.js';
import { InputReader } from '../../../src/core/inputs.js';
import type { ServiceEndpoint } from '../../../src/core/ports/host.js';
import { inputProblems, MemoryHost } from '../../support/memory-host.js';

const read = (inputs: Record<string, string>) => readBuildImageOptions(new InputReader(new MemoryHost(inputs)));

const problems = (inputs: Record<string, string>) => inputProblems(() => read(inputs));

const minimal = { imageRepository: 'registry.example.com/runner', dockerRegistryServiceConnection: 'registry' };

describe('BuildRunnerImage options', () => {
  it('defaults: built-in Dockerfile, tag latest, push, auto builder, linux/amd64, default network', () => {
    const options = read(minimal);
    assert.deepEqual(options, {
      builder: 'auto', dockerfile: undefined, context: undefined, buildArgs: {}, repository: 'registry.example.com/runner',
      tags: ['latest'], push: true, registryEndpointId: 'registry', platform: 'linux/amd64', network: 'default',
    });
  });

  it('reads a custom Dockerfile, its context, tags on lines or commas, and the host network', () => {
    const options = read({
      ...minimal, dockerfileSource: 'custom', dockerfile: 'ci/Dockerfile', buildContext: 'ci', tags: '42\nstable, v1.2.3', network: 'host', builder: 'Buildah',
    });
    assert.equal(options.dockerfile, 'ci/Dockerfile');
    assert.equal(options.context, 'ci');
    assert.deepEqual(options.tags, ['42', 'stable', 'v1.2.3']);
    assert.equal(options.network, 'host');
    assert.equal(options.builder, 'buildah');
  });

  it('ignores the build context of the built-in Dockerfile', () => {
    assert.equal(read({ ...minimal, buildContext: 'somewhere' }).context, undefined);
  });

  it('names every bad input at once', () => {
    const found = problems({
      imageRepository: 'registry.example.com/Runner:1', tags: 'ok,-bad', builder: 'kaniko', platform: 'linux/s390x',
      network: 'bridge', push: 'sometimes', dockerfileSource: 'custom', buildArguments: 'NOEQUALS', agentVersion: '4.x',
    });
    assert.deepEqual(found.map((p) => p.split(':')[0]).sort(), [
      'agentVersion', 'buildArguments', 'builder', 'dockerRegistryServiceConnection', 'dockerfile', 'imageRepository', 'network', 'platform', 'push', 'tags',
    ]);
    assert.ok(found.includes("tags: '-bad' is not a valid image tag (letters, digits, _ . -, at most 128)."));
    assert.ok(found.includes("network: must be one of default, host; got 'bridge'."));
    assert.ok(found.includes('dockerfile: is required but was empty.'));
  });

  it('needs the registry connection only to push', () => {
    assert.deepEqual(problems({ imageRepository: 'runner' }), ['dockerRegistryServiceConnection: is required but was empty.']);
    const local = read({ imageRepository: 'runner', push: 'false' });
    assert.equal(local.push, false);
    assert.equal(local.registryEndpointId, undefined);
  });
});

const endpoint = (parameters: Record<string, string>, data: Record<string, string> = {}, url?: string): ServiceEndpoint => ({
  scheme: 'UsernamePassword', parameters, data, url,
});

describe('registryLogin', () => {
  it('reads the Docker registry connection as Docker@2 does', () => {
    assert.deepEqual(registryLogin('reg', endpoint({ registry: 'https://registry.example.com:5000/', username: 'ci', password: 's3cret', email: '' })), {
      registry: 'registry.example.com:5000', username: 'ci', password: 's3cret',
    });
  });

  it('calls Docker Hub docker.io, however the connection spells it', () => {
    for (const registry of ['https://index.docker.io/v1/', 'index.docker.io', 'https://registry-1.docker.io', 'docker.io']) {
      assert.equal(registryLogin('hub', endpoint({ registry, username: 'u', password: 'p' })).registry, 'docker.io', registry);
    }
  });

  it('falls back to the connection URL and ignores the case of parameter names', () => {
    assert.deepEqual(registryLogin('reg', endpoint({ UserName: 'ci', Password: 'p' }, {}, 'http://127.0.0.1:5055')), {
      registry: '127.0.0.1:5055', username: 'ci', password: 'p',
    });
  });

  it('reads an Azure Container Registry connection: login server and service principal', () => {
    const acr = { scheme: 'ServicePrincipal', url: 'https://management.azure.com', data: { registrytype: 'ACR' },
      parameters: { loginServer: 'contoso.azurecr.io', serviceprincipalid: 'app-id', serviceprincipalkey: 'key', tenantId: 't' } };
    assert.deepEqual(registryLogin('acr', acr), { registry: 'contoso.azurecr.io', username: 'app-id', password: 'key' });
  });

  it('names the input and what is missing', () => {
    assert.throws(() => registryLogin('reg', endpoint({ registry: 'r.example.com', username: 'ci', password: '' })),
      /Input 'dockerRegistryServiceConnection': the service connection 'reg' \(UsernamePassword\) lacks password;/);
    assert.throws(() => registryLogin('acr', endpoint({}, { registrytype: 'ACR' })), /lacks loginServer, serviceprincipalid, serviceprincipalkey;/);
    assert.throws(() => registryLogin('reg', endpoint({ registry: 'has space', username: 'u', password: 'p' })),
      /^UnusableInput: Input 'dockerRegistryServiceConnection': the service connection 'reg' names a registry that is not a host name or URL\.$/);
  });
});

describe('repositories and registries', () => {
  const login = { registry: 'contoso.azurecr.io', username: 'u', password: 'p' };

  it('finds the registry of a repository as docker does', () => {
    assert.equal(registryOf('contoso.azurecr.io/team/runner'), 'contoso.azurecr.io');
    assert.equal(registryOf('localhost/runner'), 'localhost');
    assert.equal(registryOf('127.0.0.1:5055/runner'), '127.0.0.1:5055');
    assert.equal(registryOf('team/runner'), 'docker.io');
    assert.equal(registryOf('runner'), 'docker.io');
  });

  it("puts the connection's registry in front of a repository that names none", () => {
    assert.equal(qualifiedRepository('team/runner', login), 'contoso.azurecr.io/team/runner');
    assert.equal(qualifiedRepository('other.example.com/runner', login), 'other.example.com/runner');
    assert.equal(qualifiedRepository('team/runner', { ...login, registry: 'docker.io' }), 'team/runner');
    assert.equal(qualifiedRepository('team/runner', undefined), 'team/runner');
  });

  it('treats only loopback registries as plain HTTP', () => {
    for (const registry of ['localhost', 'localhost:5000', '127.0.0.1:5055', '127.1.2.3', '[::1]:5000']) assert.ok(isLoopbackRegistry(registry), registry);
    for (const registry of ['localhost.example.com', '10.0.0.1:5000', '127.0.0.1.nip.io', 'docker.io']) assert.ok(!isLoopbackRegistry(registry), registry);
  });
});

describe('the agent version an image bakes', () => {
  const dockerfile = 'FROM debian\nARG AGENT_VERSION=4.272.0\nARG AGENT_PACKAGE_URL=https://example.com/${AGENT_VERSION}\n';

  it('is the agentVersion input, else the Dockerfile\'s ARG default, else unknown', () => {
    assert.equal(bakedAgentVersion(read({ ...minimal, agentVersion: '4.266.2' }), dockerfile), '4.266.2');
    assert.equal(bakedAgentVersion(read(minimal), dockerfile), '4.272.0');
    assert.equal(bakedAgentVersion(read(minimal), 'FROM debian\nARG AGENT_VERSION\n'), undefined);
  });

  it('is compared part by part as numbers', () => {
    assert.ok(isOlderVersion('4.9.9', '4.10.0'));
    assert.ok(isOlderVersion('4.266.2', '4.266.10'));
    assert.ok(!isOlderVersion('4.266.2', '4.266.2'));
    assert.ok(!isOlderVersion('5.0.0', '4.280.1'));
  });
});

describe('buildSummary', () => {
  const options: BuildImageOptions = {
    builder: 'auto', buildArgs: { BASE_IMAGE: 'debian:bookworm', AGENT_VERSION: '4.266.2' }, repository: 'r.example.com/runner',
    tags: ['42', 'latest'], push: true, registryEndpointId: 'reg', platform: 'linux/amd64', network: 'default',
  };
  const digest = `sha256:${'ab'.repeat(32)}`;

  it('is a markdown table of what was built and pushed', () => {
    const summary = buildSummary(options, { builder: 'buildah', imageReference: `r.example.com/runner@${digest}`, digest, tags: ['42', 'latest'], sizeBytes: 300 * 1024 * 1024 });
    assert.equal(summary, [
      '### Runner image', '', '| | |', '|---|---|',
      `| image | r.example.com/runner@${digest} |`, '| tags | 42, latest |', '| base image | debian:bookworm |', '| agent version | 4.266.2 |',
      '| size | 300 MB |', `| digest | ${digest} |`, '| builder | buildah |', '',
    ].join('\n'));
  });

  it('says what it does not know: the defaults, your own Dockerfile, no push', () => {
    const builtin = buildSummary({ ...options, buildArgs: {} }, { builder: 'docker', imageReference: 'r.example.com/runner:42', tags: ['42'] });
    assert.match(builtin, /\| base image \| default of the built-in Dockerfile \|/);
    assert.match(builtin, /\| size \| unknown \|/);
    assert.match(builtin, /\| digest \| not pushed \|/);
    const custom = buildSummary({ ...options, buildArgs: {}, dockerfile: 'Dockerfile' }, { builder: 'docker', imageReference: 'r.example.com/runner:42', tags: ['42'] });
    assert.match(custom, /\| agent version \| \(your Dockerfile\) \|/);
  });
});
