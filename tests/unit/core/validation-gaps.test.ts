// Values that used to reach the builder, the cluster or Azure DevOps: each is refused naming its input, and the
// values Kubernetes and registries do accept still pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputReader } from '../../../src/core/inputs.js';
import { readDeployOptions } from '../../../src/core/deploy-options.js';
import { readBuildImageOptions } from '../../../src/core/build-options.js';
import { readScaleOptions } from '../../../src/core/scale-options.js';
import { readStatusOptions } from '../../../src/core/cli-options.js';
import { autoscalerEnvironment, readAutoscalerOptions } from '../../../src/core/autoscaler-options.js';
import { quantityExceeds, quantityProblem } from '../../../src/core/kube-syntax.js';
import { buildRunnerImage } from '../../../src/flows/build-image.js';
import { inputProblems, MemoryHost } from '../../support/memory-host.js';
import { MemoryFiles } from '../../support/memory-files.js';

const reader = (inputs: Record<string, string>) => new InputReader(new MemoryHost(inputs));
const deploy = { kubernetesServiceConnection: 'aks', poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/contoso', image: 'registry.example.com/runner:1.0', personalAccessToken: 'pat' };
const build = { imageRepository: 'registry.example.com/runner', push: 'false' };
const deployProblems = (inputs: Record<string, string>) => inputProblems(() => readDeployOptions(reader({ ...deploy, ...inputs })));
const buildProblems = (inputs: Record<string, string>) => inputProblems(() => readBuildImageOptions(reader({ ...build, ...inputs })));
const accepts = (read: () => unknown) => assert.doesNotThrow(read);

describe('BuildRunnerImage validation', () => {
  it('refuses a base image that is not an image reference', () => {
    for (const baseImage of ['$(id)', 'ubuntu 24.04', 'Ubuntu:24.04', 'x\n##vso[x]']) {
      assert.match(buildProblems({ baseImage })[0], /^baseImage: must be an image reference/, baseImage);
    }
    accepts(() => readBuildImageOptions(reader({ ...build, baseImage: 'mcr.microsoft.com/dotnet/runtime-deps:8.0-noble@sha256:' + 'a'.repeat(64) })));
  });

  it('refuses an agent package URL that is not http(s), holds credentials or a fragment', () => {
    for (const agentPackageUrl of ['file:///etc/passwd', 'not a url', 'https://u:p@mirror.example.com/a.tar.gz', 'https://m.example.com/a.tar.gz#x']) {
      assert.match(buildProblems({ agentPackageUrl })[0], /^agentPackageUrl: must be the http\(s\) URL of an agent package/, agentPackageUrl);
    }
    assert.ok(!buildProblems({ agentPackageUrl: 'https://u:secret@m.example.com/a' }).join().includes('secret'));
    accepts(() => readBuildImageOptions(reader({ ...build, agentPackageUrl: 'http://127.0.0.1:8080/vsts-agent-linux-x64-4.266.2.tar.gz' })));
  });

  it('refuses extra packages that are not Debian package names', () => {
    assert.deepEqual(buildProblems({ extraPackages: 'git;jq * -o=Dpkg::x ok' }), [
      "extraPackages: must be Debian package names separated by spaces, such as git jq unzip; not 'git;jq', '*', '-o=Dpkg::x'.",
    ]);
    const options = readBuildImageOptions(reader({ ...build, extraPackages: ' make  python3\tlibicu74:amd64 git=1:2.43.0-1 g++ ' }));
    assert.equal(options.buildArgs.EXTRA_PACKAGES, 'make python3 libicu74:amd64 git=1:2.43.0-1 g++');
  });

  it('refuses a repository longer than registries accept (255, registry included)', () => {
    assert.deepEqual(buildProblems({ imageRepository: `r.example.com/${'a'.repeat(242)}` }), ['imageRepository: must be at most 255 characters, registry included; got 256.']);
    accepts(() => readBuildImageOptions(reader({ ...build, imageRepository: `r.example.com/${'a'.repeat(241)}` })));
  });

  it('refuses a Dockerfile that is a folder and a build context that is a file, before any command', async () => {
    const files = new MemoryFiles();
    for (const dir of ['/src', '/src/docker']) files.directories.add(dir);
    files.write('/src/docker/Dockerfile', 'FROM scratch\n');
    const commands = { run: () => assert.fail('no command may run'), has: () => assert.fail('no command may run') };
    const run = (inputs: Record<string, string>) => buildRunnerImage(readBuildImageOptions(reader({ ...build, dockerfileSource: 'custom', ...inputs })), {
      host: new MemoryHost(), commands, files, builtinContext: '/builtin', tempDir: '/tmp', existingLogins: { docker: [], buildah: [] }, agentPackages: () => assert.fail('nothing may be asked'),
    });
    await assert.rejects(run({ dockerfile: '/src/docker' }), /^UnusableInput: Input 'dockerfile': '\/src\/docker' is a folder; name the Dockerfile in it\.$/);
    await assert.rejects(run({ dockerfile: '/src/docker/Dockerfile', buildContext: '/src/docker/Dockerfile' }),
      /^UnusableInput: Input 'buildContext': '\/src\/docker\/Dockerfile' is a file; name the folder the build reads\.$/);
  });
});

describe('DeployRunnerPool validation', () => {
  it('refuses an image that is not an image reference', () => {
    for (const image of ['runner:1.0;id', 'rünner:1', 'Registry.example.com/Runner:1', 'runner@sha256:abc']) {
      assert.match(deployProblems({ image })[0], /^image: must be an image reference/, image);
    }
    for (const image of ['runner', 'localhost:5000/team/runner:1.0', `r.example.com/runner:1@sha256:${'0'.repeat(64)}`]) accepts(() => readDeployOptions(reader({ ...deploy, image })));
  });

  it('takes Secret names as DNS subdomains (imagePullSecret, existingSecretName)', () => {
    assert.match(deployProblems({ imagePullSecret: 'Pull_Secret' })[0], /^imagePullSecret: must be a lowercase DNS subdomain/);
    assert.match(deployProblems({ credentialType: 'existingSecret', existingSecretName: 'runner..pat' })[0], /^existingSecretName: must be a lowercase DNS subdomain/);
    const options = readDeployOptions(reader({ ...deploy, credentialType: 'existingSecret', existingSecretName: 'runner.pool', imagePullSecret: 'acr.pull' }));
    assert.deepEqual(options.pool.credential, { kind: 'existingSecret', secretName: 'runner.pool' });
  });

  it('refuses service principal ids that are not GUIDs', () => {
    assert.deepEqual(deployProblems({ credentialType: 'servicePrincipal', servicePrincipalTenantId: 'contoso', servicePrincipalClientId: 'app', servicePrincipalClientSecret: 's' }), [
      "servicePrincipalTenantId: must be a GUID such as 00000000-0000-0000-0000-000000000000; got 'contoso'.",
      "servicePrincipalClientId: must be a GUID such as 00000000-0000-0000-0000-000000000000; got 'app'.",
    ]);
  });

  it('refuses node selector values and toleration keys and values that are not label syntax', () => {
    assert.deepEqual(deployProblems({ nodeSelector: 'agentpool=ci pool\nkubernetes.io/os=linux', tolerations: 'bad key=x:NoSchedule\ngpu=-x:NoExecute' }), [
      "nodeSelector: line 1: 'ci pool' is not a label value (at most 63 of A-Z, a-z, 0-9, - _ ., starting and ending with a letter or digit).",
      "tolerations: line 'bad key=x:NoSchedule' must look like key=value:NoSchedule, key:NoExecute or key (effects: NoSchedule, PreferNoSchedule, NoExecute).",
      "tolerations: line 'gpu=-x:NoExecute': '-x' is not a label value (at most 63 of A-Z, a-z, 0-9, - _ ., starting and ending with a letter or digit).",
    ]);
    assert.match(deployProblems({ tolerations: `${'a'.repeat(64)}:NoSchedule` })[0], /is not a label key/);
  });

  it('refuses a carriage return inside a node selector or env line, and reads CRLF lines', () => {
    assert.deepEqual(deployProblems({ nodeSelector: 'agentpool=ci\rzone=evil', env: 'A=1\rB=2' }), [
      'nodeSelector: line 1 holds a carriage return inside the line (a value pasted from elsewhere?).',
      'env: line 1 holds a carriage return inside the line (a value pasted from elsewhere?).',
    ]);
    const options = readDeployOptions(reader({ ...deploy, nodeSelector: 'agentpool=ci\r\nzone=a\r\n', env: 'A=1\r\nB=2' }));
    assert.deepEqual(options.pool.nodeSelector, { agentpool: 'ci', zone: 'a' });
    assert.deepEqual(options.pool.env, { A: '1', B: '2' });
  });

  it('takes runner names up to 52 characters: <name>-<revision hash> must fit a 63-character label', () => {
    accepts(() => readDeployOptions(reader({ ...deploy, runnerName: 'r'.repeat(52) })));
    assert.deepEqual(deployProblems({ runnerName: 'r'.repeat(53) }), ['runnerName: must be at most 52 characters; got 53.']);
  });

  it('gives runner pods requests, a memory limit and a work volume size by default; none when told so', () => {
    const defaults = readDeployOptions(reader(deploy)).pool;
    assert.deepEqual(defaults.resources, { cpuRequest: '500m', memoryRequest: '1Gi', cpuLimit: undefined, memoryLimit: '4Gi' });
    assert.equal(defaults.workVolumeSize, '20Gi');
    const none = readDeployOptions(reader({ ...deploy, cpuRequest: 'none', memoryRequest: 'None', memoryLimit: 'NONE', workVolumeSize: 'none', cpuLimit: 'none' })).pool;
    assert.deepEqual(none.resources, { cpuRequest: undefined, memoryRequest: undefined, cpuLimit: undefined, memoryLimit: undefined });
    assert.equal(none.workVolumeSize, undefined);
    // A request above the default limit is refused like one above a limit given; raising the limit, or none, passes.
    assert.deepEqual(deployProblems({ memoryRequest: '8Gi' }), ['memoryRequest: (8Gi) must not exceed memoryLimit (4Gi).']);
    accepts(() => readDeployOptions(reader({ ...deploy, memoryRequest: '8Gi', memoryLimit: 'none' })));
    assert.match(deployProblems({ workVolumeSize: 'nothing' })[0], /^workVolumeSize: must be a Kubernetes quantity/);
  });

  it('refuses quantities beyond what Kubernetes holds, and a request above its limit', () => {
    assert.match(deployProblems({ cpuLimit: '9223372036854775808' })[0], /^cpuLimit: is beyond what Kubernetes can hold/);
    assert.match(deployProblems({ memoryLimit: '8Ei' })[0], /^memoryLimit: is beyond what Kubernetes can hold \(at most 2\^63-1, just under 8Ei\); got '8Ei'\.$/);
    accepts(() => readDeployOptions(reader({ ...deploy, cpuLimit: '9223372036854775807', memoryLimit: '7.99Ei' })));
    assert.deepEqual(deployProblems({ cpuRequest: '1500m', cpuLimit: '1', memoryRequest: '1Gi', memoryLimit: '1000Mi' }), [
      'cpuRequest: (1500m) must not exceed cpuLimit (1).',
      'memoryRequest: (1Gi) must not exceed memoryLimit (1000Mi).',
    ]);
    accepts(() => readDeployOptions(reader({ ...deploy, cpuRequest: '0.5', cpuLimit: '500m', memoryRequest: '1G', memoryLimit: '1Gi' })));
  });
});

describe('pool names and organization URLs, in every reader', () => {
  const scale = { kubernetesServiceConnection: 'aks', runnerName: 'linux', azureDevOpsUrl: 'https://dev.azure.com/contoso', poolName: 'Linux', personalAccessToken: 'pat' };
  const status = { poolName: 'Linux', azureDevOpsUrl: 'https://dev.azure.com/contoso', personalAccessToken: 'pat' };
  // The handshake's public keys are made when the pool is deployed: any well-formed pair serves here.
  const env: Record<string, string> = { ...autoscalerEnvironment({ ...readDeployOptions(reader({ ...deploy, autoscaling: 'inCluster' })).pool }), AZP_AUTOSCALER_SIGNING_KEY: 's'.repeat(43), AZP_AUTOSCALER_ENCRYPTION_KEY: 'e'.repeat(43) };
  // Each reader with the two inputs under their task names (the autoscaler reads them from AZP_POOL and AZP_URL).
  const readers: Record<string, (inputs: { poolName?: string; azureDevOpsUrl?: string }) => unknown> = {
    DeployRunnerPool: (inputs) => readDeployOptions(reader({ ...deploy, ...inputs })),
    ScaleRunnerPool: (inputs) => readScaleOptions(reader({ ...scale, ...inputs })),
    status: (inputs) => readStatusOptions(reader({ ...status, ...inputs })),
    autoscaler: ({ poolName, azureDevOpsUrl }) => readAutoscalerOptions({ ...env, AZP_POOL: poolName ?? env.AZP_POOL, AZP_URL: azureDevOpsUrl ?? env.AZP_URL }),
  };
  const named = (problem: string) => problem.replace(/^AZP_POOL:/, 'poolName:').replace(/^AZP_URL:/, 'azureDevOpsUrl:');

  for (const [name, read] of Object.entries(readers)) {
    const problems = (inputs: { poolName?: string; azureDevOpsUrl?: string }) => inputProblems(() => read(inputs)).map(named);
    it(`${name}: refuses a pool name with a line break or longer than 256 characters`, () => {
      for (const poolName of ['Linux\nPrivate', 'Linux\rPrivate', 'Linux\u2028Private', 'Lin\u0000ux']) {
        assert.deepEqual(problems({ poolName }), ['poolName: must be one line without control characters; it holds a line break or another control character.'], JSON.stringify(poolName));
      }
      assert.deepEqual(problems({ poolName: 'p'.repeat(128 * 1024) }), ['poolName: must be at most 256 characters; got 131072.']);
      accepts(() => read({ poolName: `Linux Private ${'p'.repeat(242)}` }));
    });

    it(`${name}: refuses an organization URL with a line break or a space, without quoting it`, () => {
      for (const azureDevOpsUrl of ['https://dev.azure.com/con\ntoso', 'https://dev.azure.com/con toso', 'https://dev.azure.com/contoso\t/x']) {
        assert.deepEqual(problems({ azureDevOpsUrl }), ['azureDevOpsUrl: must be one URL without spaces; it holds a space, a line break or another control character.'], JSON.stringify(azureDevOpsUrl));
      }
    });
  }
});

describe('quantities', () => {
  it('compares across suffixes and decimals exactly', () => {
    assert.equal(quantityExceeds('1Gi', '1073741824'), false);
    assert.equal(quantityExceeds('1.0001Gi', '1Gi'), true);
    assert.equal(quantityExceeds('999m', '1'), false);
    assert.equal(quantityProblem('1e3'), "must be a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi; got '1e3'");
  });
});
