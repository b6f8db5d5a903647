// Shared set-up of the pool e2e suites: the real cluster, the emulator where pods can reach it, the runner image
// pushed to the cluster's registry, and the bundled tasks ready to run against them.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dump, loadAll } from 'js-yaml';
import { join } from 'node:path';
import { cluster, kubectl, kubectlJson, pushImage, type Cluster } from './cluster.js';
import { docker, startDocker, type DockerEngine } from './docker.js';
import { run } from './process.js';
import { startEmulator, type TestEmulator } from './emulator.js';
import { agentPackage } from './agent-package.js';
import { buildRunnerImage, discoverAgentPackage, ensureBaseImage } from './runner-image.js';
import { kubeconfigEndpoint, kubernetesConnectionId, runBundledTask, type TaskRun } from './run-task.js';
import { repoRoot } from './task-manifests.js';
import { snapshotCollection, type PoolSnapshot } from '../../src/core/model.js';
import { extension } from '../../trial/hub-host.js';

// The node's address on the cluster's own veth (tests/cluster/cluster.sh): pods reach the host there.
export const nodeAddress = '10.250.0.1';

/** The PAT a pool world's tasks and autoscalers use: its owner and scopes. */
export const poolPatOwner = { user: 'pool@e2e.example', scopes: ['vso.agentpools_manage', 'vso.extension.data_write'] };

export interface PoolWorld {
  cluster: Cluster;
  emulator: TestEmulator;
  token: string;
  /** The runner image in the cluster's registry. */
  image: string;
  /** The node's InternalIP, where its kubelet listens (port 10250). */
  kubeletAddress: string;
  /** Environment that hands the tasks the Kubernetes service connection kubernetesConnectionId. */
  endpointEnv: Record<string, string>;
  stop(): Promise<void>;
}

export interface PoolWorldOptions {
  /** The runner image's BASE_IMAGE and EXTRA_PACKAGES (the Debian base and nothing more unless told). */
  baseImage?: () => Promise<string>;
  extraPackages?: string;
}

export async function startPoolWorld(pool: string, tag: string, options: PoolWorldOptions = {}): Promise<PoolWorld> {
  const k = await cluster();
  const built = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  const engine: DockerEngine = await startDocker();
  await ensureBaseImage();
  const token = `pat-${randomBytes(20).toString('hex')}`;
  const emulator = await startEmulator({
    host: k.local ? nodeAddress : '127.0.0.1',
    pats: [{ token, ...poolPatOwner }],
    pools: [pool],
    agentPackage: await agentPackage(),
    pollTimeoutMs: 20_000,
  });
  const pkg = await discoverAgentPackage(emulator.orgUrl, token);
  const local = `localhost/azp-runner:${tag}`;
  await buildRunnerImage({ tag: local, packageUrl: pkg.downloadUrl, sha256: pkg.hashValue, baseImage: await options.baseImage?.(), extraPackages: options.extraPackages });
  const image = await pushImage(local, `azp-runner:${tag}`, 'docker');
  const nodes = await kubectlJson<{ items: Array<{ status: { addresses: Array<{ type: string; address: string }> } }> }>(['get', 'nodes']);
  return {
    cluster: k,
    emulator,
    token,
    image,
    kubeletAddress: nodes.items[0].status.addresses.find((a) => a.type === 'InternalIP')!.address,
    endpointEnv: kubeconfigEndpoint(readFileSync(k.kubeconfig, 'utf8')),
    async stop() {
      await emulator.stop();
      await run('docker', ['rmi', '-f', local]);
      await engine.stop();
    },
  };
}

/**
 * The test cluster is one node of 2 cores: the product's default requests (500m CPU and 1Gi a pod) would let three
 * runner pods run where the suites start twenty. The pods ask for little here; a real cluster keeps the defaults.
 */
export const smallPods = { cpuRequest: '50m', memoryRequest: '128Mi' };

/**
 * Runs the bundled DeployRunnerPool with the world's organization, image and PAT on the service connection kubernetesConnectionId
 * (the world's cluster unless `endpointEnv` says otherwise); `inputs` add the pool's own and override these.
 */
export function deployPool(world: PoolWorld, inputs: Record<string, string>, endpointEnv = world.endpointEnv): Promise<TaskRun> {
  const base = { kubernetesServiceConnection: kubernetesConnectionId, azureDevOpsUrl: world.emulator.orgUrl, image: world.image, personalAccessToken: world.token, ...smallPods };
  return runBundledTask('DeployRunnerPool', { ...base, ...inputs }, endpointEnv);
}

/**
 * The hub's snapshot of runner `<namespace>.<runner>` as the hub reads it: the extension data REST route of the
 * packaged extension, with the world's PAT. Undefined when there is none.
 */
export async function readSnapshot(world: PoolWorld, id: string): Promise<PoolSnapshot | undefined> {
  const path = `_apis/ExtensionManagement/InstalledExtensions/${extension.publisher}/${extension.id}/Data/Scopes/Default/Current/Collections/${snapshotCollection}/Documents/${encodeURIComponent(id)}`;
  const response = await fetch(`${world.emulator.orgUrl}/${path}?api-version=7.1-preview.1`, { headers: { Authorization: `Basic ${Buffer.from(`:${world.token}`).toString('base64')}` } });
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`GET snapshot ${id}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as PoolSnapshot;
}

/** A variant of `image` with one more label: another digest, the same contents. */
export async function imageVariant(world: PoolWorld, tag: string, label: string): Promise<string> {
  const local = `localhost/azp-runner:${tag}`;
  await docker(['build', '-t', local, '-'], { input: `FROM ${world.image}\nLABEL variant=${label}\n`, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return pushImage(local, `azp-runner:${tag}`, 'docker');
}

export async function createNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true'], { timeoutMs: 180_000 });
  await kubectl(['create', 'namespace', name]);
}

export async function deleteNamespace(name: string): Promise<void> {
  await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true'], { timeoutMs: 180_000 });
}

/** configs/deployer-rbac.yaml with the namespace a user would put in. */
export function deployerRbac(namespace: string): string {
  const text = readFileSync(join(repoRoot, 'configs', 'deployer-rbac.yaml'), 'utf8');
  return (loadAll(text) as Array<{ metadata: { namespace: string }; subjects?: Array<{ namespace: string }> }>)
    .map((object) => {
      object.metadata.namespace = namespace;
      for (const subject of object.subjects ?? []) subject.namespace = namespace;
      return `---\n${dump(object)}`;
    })
    .join('');
}
