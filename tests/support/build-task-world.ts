// Test support for BuildRunnerImage: the emulator offering the agent package, an authenticated registry on loopback,
// a private buildah storage holding the Debian base, and runs of the bundled task against them. Nothing is pulled.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureExtension } from '../../scripts/build.mjs';
import { agentPackage } from './agent-package.js';
import { docker, startDocker, type DockerEngine } from './docker.js';
import { output, run } from './process.js';
import { startEmulator, type TestEmulator } from './emulator.js';
import { startRegistry, type TestRegistry } from './registry.js';
import { BASE_IMAGE, discoverAgentPackage, ensureBaseImage } from './runner-image.js';
import { dockerRegistryEndpoint, registryConnectionId, runBundledTask, type TaskRun } from './run-task.js';

export const POOL = 'runners';

export interface BuildTaskWorld {
  emulator: TestEmulator;
  registry: TestRegistry;
  token: string;
  /** A folder deleted by stop(). */
  scratch: string;
  /** The inputs of a built-in build baking in the emulator's agent package (host network: it is on loopback). */
  builtinInputs(builder: 'docker' | 'buildah', name: string, tags: string): Record<string, string>;
  /** Runs the bundled task with the registry connection (its password replaced when given) and the buildah storage. */
  runTask(inputs: Record<string, string>, options?: { password?: string; env?: Record<string, string> }): Promise<TaskRun>;
  /** The docker config pull() logs in with. */
  dockerConfig: string;
  /** `docker pull` with the registry's credentials (in a private docker config). */
  pull(reference: string): Promise<void>;
  /** Removes this registry's images (of one repository, when named) from Docker, so that a pull really fetches them. */
  removeLocalImages(name?: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startBuildTaskWorld(port: number): Promise<BuildTaskWorld> {
  const engine: DockerEngine = await startDocker();
  const scratch = mkdtempSync(join(tmpdir(), 'adr-build-task-'));
  const token = `pat-${randomBytes(20).toString('hex')}`;
  const emulator = await startEmulator({ pats: [{ token, user: 'runner@e2e.example', scopes: ['vso.agentpools_manage'] }], pools: [POOL], agentPackage: await agentPackage() });
  const registry = await startRegistry(port);

  // buildah's own settings, as an agent administrator would give them: a private storage (deleted by stop()).
  const storage = join(scratch, 'buildah');
  mkdirSync(storage);
  writeFileSync(join(storage, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${storage}/root"\nrunroot = "${storage}/run"\n`);
  const buildahEnv = { CONTAINERS_STORAGE_CONF: join(storage, 'storage.conf') };
  const buildahProcessEnv = { ...process.env, ...buildahEnv };
  const buildah = (args: string[]) => output('buildah', args, { env: buildahProcessEnv, timeoutMs: 10 * 60_000 });
  const dockerConfig = join(scratch, 'docker-config');
  mkdirSync(dockerConfig);
  const dockerEnv = { ...process.env, DOCKER_CONFIG: dockerConfig };
  let runs = 0;
  let pkg = { downloadUrl: '', hashValue: '' };

  const stop = async () => {
    await run('buildah', ['rm', '--all'], { env: buildahProcessEnv });
    await world.removeLocalImages();
    await registry.stop();
    await emulator.stop();
    rmSync(scratch, { recursive: true, force: true });
    await engine.stop();
  };
  const world: BuildTaskWorld = {
    emulator, registry, token, scratch, stop, dockerConfig,
    builtinInputs(builder, name, tags) {
      return {
        imageRepository: name, tags, builder, baseImage: BASE_IMAGE, network: 'host', dockerRegistryServiceConnection: registryConnectionId,
        buildArguments: `AGENT_PACKAGE_URL=${pkg.downloadUrl}\nAGENT_PACKAGE_SHA256=${pkg.hashValue}`,
      };
    },
    runTask(inputs, options = {}) {
      const agentTemp = join(scratch, `agent-temp-${++runs}`);
      mkdirSync(agentTemp);
      return runBundledTask('BuildRunnerImage', inputs, {
        ...dockerRegistryEndpoint(`http://${registry.address}/`, registry.username, options.password ?? registry.password),
        ...buildahEnv,
        AGENT_TEMPDIRECTORY: agentTemp,
        ...options.env,
      });
    },
    async pull(reference) {
      await docker(['login', '--username', registry.username, '--password-stdin', registry.address], { env: dockerEnv, input: registry.password });
      await docker(['pull', '--quiet', reference], { env: dockerEnv });
    },
    async removeLocalImages(name) {
      const ours = (repository: string) => (name === undefined ? repository.startsWith(`${registry.address}/`) : repository === `${registry.address}/${name}`);
      // By name, not by id: an image that a derived image builds on can be untagged, though not deleted.
      const lines = (await docker(['images', '--digests', '--format', '{{.Repository}} {{.Tag}} {{.Digest}}'])).split('\n');
      const refs = lines.map((line) => line.split(' ')).filter(([repository]) => repository && ours(repository))
        .flatMap(([repository, tag, digest]) => [tag !== '<none>' && `${repository}:${tag}`, digest !== '<none>' && `${repository}@${digest}`])
        .filter((ref): ref is string => typeof ref === 'string');
      if (refs.length > 0) await run('docker', ['rmi', '-f', ...new Set(refs)]);
    },
  };
  try {
    await ensureExtension();
    await ensureBaseImage();
    // The built-in Dockerfile starts FROM the local Debian base: buildah gets it from Docker's store, not a registry.
    await buildah(['pull', '--quiet', `docker-daemon:${BASE_IMAGE}`]);
    pkg = await discoverAgentPackage(emulator.orgUrl, token);
  } catch (error) {
    await stop();
    throw error;
  }
  return world;
}
