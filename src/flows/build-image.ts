// BuildRunnerImage's flow: pick the builder, log in to a private credential store, build, push, report the digest.
import type { TaskHost } from '../core/ports/host.js';
import type { CommandRunner } from '../core/ports/commands.js';
import type { Files } from '../core/ports/files.js';
import type { AgentPackages } from '../core/ports/ado.js';
import { readEndpoint, systemConnection } from '../core/connections.js';
import { UnusableInput } from '../core/inputs.js';
import {
  agentPackagePlatform, bakedAgentVersion, isLoopbackRegistry, isOlderVersion, qualifiedRepository, registryConnectionInput, registryLogin, registryOf,
  type BuildImageOptions, type BuildImageResult, type Builder,
} from '../core/build-options.js';

export interface BuildImageServices {
  host: TaskHost;
  commands: CommandRunner;
  files: Files;
  /** The folder holding the built-in Dockerfile (images/linux/Dockerfile) and what it copies in. */
  builtinContext: string;
  tempDir: string;
  /**
   * Where each builder finds the agent user's existing registry logins (e.g. from a Docker@2 login step), first
   * existing file wins: the build keeps them for private base images, in a copy the task's own login is added to.
   */
  existingLogins: Record<'docker' | 'buildah', string[]>;
  /** Asks an organization which agents it offers, with the job's access token. */
  agentPackages(organizationUrl: string, token: string): AgentPackages;
}

async function pickBuilder(wanted: Builder, commands: CommandRunner): Promise<'docker' | 'buildah'> {
  const dockerAnswers = async () => (await commands.has('docker')) && (await commands.run('docker', ['version', '--format', '{{.Server.Version}}'])).code === 0;
  if (wanted === 'docker') {
    if (await dockerAnswers()) return 'docker';
    throw new UnusableInput('builder', `docker was chosen, but no Docker engine answers on this agent (is the docker CLI on PATH and the daemon running?).`);
  }
  if (wanted === 'buildah') {
    if (await commands.has('buildah')) return 'buildah';
    throw new UnusableInput('builder', `buildah was chosen, but it is not on this agent's PATH.`);
  }
  if (await dockerAnswers()) return 'docker';
  if (await commands.has('buildah')) return 'buildah';
  throw new UnusableInput('builder', `no image builder on this agent: install Docker (with a running engine) or buildah.`);
}

/** Builds the image and, when asked, pushes every tag and reports the digest. Logs in first: bad credentials push nothing. */
export async function buildRunnerImage(options: BuildImageOptions, services: BuildImageServices): Promise<BuildImageResult> {
  const { host, commands, files } = services;
  const dockerfile = options.dockerfile ?? files.join(services.builtinContext, 'images', 'linux', 'Dockerfile');
  const dockerfileKind = files.kind(dockerfile);
  if (dockerfileKind !== 'file') {
    throw new UnusableInput('dockerfile', `${dockerfileKind === 'directory' ? `'${dockerfile}' is a folder; name the Dockerfile in it` : `there is no file '${dockerfile}'`}.`);
  }
  const context = options.context ?? (options.dockerfile ? files.dirname(dockerfile) : services.builtinContext);
  const contextKind = files.kind(context);
  if (contextKind !== 'directory') {
    throw new UnusableInput('buildContext', `${contextKind === 'file' ? `'${context}' is a file; name the folder the build reads` : `there is no folder '${context}'`}.`);
  }
  const login = options.push ? registryLogin(options.registryEndpointId!, readEndpoint(host, registryConnectionInput, options.registryEndpointId!)) : undefined;
  const baked = bakedAgentVersion(options, files.read(dockerfile));
  if (baked !== undefined) await checkAgentVersion(baked, agentPackagePlatform(options.platform), services);

  const builder = await pickBuilder(options.builder, commands);
  host.info(`Building with ${builder}.`);
  const authDir = files.makeTempDir(services.tempDir, 'registry-auth-');
  // A private credential store for this run only, starting from a copy of the agent user's: nothing is left in theirs.
  const authFile = files.join(authDir, builder === 'docker' ? 'config.json' : 'auth.json');
  const existing = services.existingLogins[builder].find((file) => files.kind(file) === 'file');
  if (existing) files.copy(existing, authFile);
  const env: Record<string, string> = builder === 'docker' ? { DOCKER_CONFIG: authDir } : { REGISTRY_AUTH_FILE: authFile };
  const exec = async (args: string[], what: string, stdin?: string) => {
    const result = await commands.run(builder, args, { env, stdin, echo: stdin === undefined });
    if (result.code !== 0) throw new Error(`${what} failed (${builder} exited ${result.code}): ${result.stderr.trim().split('\n').slice(-5).join('\n')}`);
    return result.stdout;
  };
  const plainHttp = (registry: string) => (builder === 'buildah' && isLoopbackRegistry(registry) ? ['--tls-verify=false'] : []);
  try {
    if (login) {
      await exec(['login', ...plainHttp(login.registry), '--username', login.username, '--password-stdin', login.registry], `Logging in to ${login.registry}`, login.password);
    }
    const repository = qualifiedRepository(options.repository, login);
    const refs = options.tags.map((tag) => `${repository}:${tag}`);
    const buildArgs = Object.entries(options.buildArgs).flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]);
    const tagArgs = refs.flatMap((ref) => ['--tag', ref]);
    const network = options.network === 'host' ? ['--network', 'host'] : [];
    const build = builder === 'docker' ? ['build'] : ['build', '--layers'];
    await exec([...build, '--platform', options.platform, ...network, '--file', dockerfile, ...buildArgs, ...tagArgs, context], 'The image build');
    const sizeBytes = await imageSize(builder, refs[0], exec);
    if (!login) return { builder, imageReference: refs[0], tags: options.tags, sizeBytes };

    const digests: string[] = [];
    for (const ref of refs) {
      if (builder === 'docker') {
        const out = await exec(['push', ref], `Pushing ${ref}`);
        digests.push(/digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1] ?? '');
      } else {
        const digestFile = files.join(authDir, 'digest');
        await exec(['push', ...plainHttp(registryOf(ref)), '--digestfile', digestFile, ref, `docker://${ref}`], `Pushing ${ref}`);
        digests.push(files.read(digestFile).trim());
      }
    }
    const digest = digests[0];
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`Pushing ${refs[0]} did not report the image digest.`);
    if (digests.some((d) => d !== digest)) host.warning(`The tags were pushed with different digests (${digests.join(', ')}); the outputs name ${refs[0]}'s.`);
    return { builder, imageReference: `${repository}@${digest}`, digest, tags: options.tags, sizeBytes };
  } finally {
    files.remove(authDir);
  }
}

/**
 * The pool's agents do not update themselves: an image that bakes an older agent than the organization offers keeps
 * it until rebuilt. Asked once; a question that cannot be asked is said in one line and never fails the build.
 */
async function checkAgentVersion(baked: string, platform: string, services: BuildImageServices): Promise<void> {
  const { host } = services;
  const connection = systemConnection(host);
  if (connection === undefined) {
    host.info(`Not checking agent ${baked} against the organization's newest: this step has no connection to the organization.`);
    return;
  }
  let newest: string | undefined;
  try {
    newest = await services.agentPackages(connection.url, connection.token).newestAgentVersion(platform);
  } catch (error) {
    host.info(`Could not ask the organization for its newest agent (${(error as Error).message}); building with agent ${baked} unchecked.`);
    return;
  }
  if (newest === undefined) host.info(`The organization offers no agent for ${platform}; building with agent ${baked} unchecked.`);
  else if (isOlderVersion(baked, newest)) host.warning(`The image bakes agent ${baked}, older than ${newest}, the newest this organization offers for ${platform}: set agentVersion to ${newest}.`);
  else host.info(`Agent ${baked} is up to date: the newest this organization offers for ${platform} is ${newest}.`);
}

/** The unpacked size: docker's own figure; for buildah, the sum of the layers of the stored (uncompressed) manifest. */
async function imageSize(builder: 'docker' | 'buildah', ref: string, exec: (args: string[], what: string) => Promise<string>): Promise<number | undefined> {
  if (builder === 'docker') return Number((await exec(['image', 'inspect', '--format', '{{.Size}}', ref], 'Reading the image size')).trim()) || undefined;
  const manifest = JSON.parse(await exec(['inspect', '--type', 'image', '--format', '{{.Manifest}}', ref], 'Reading the image size')) as { layers?: Array<{ size: number }> };
  return manifest.layers?.reduce((sum, layer) => sum + layer.size, 0) || undefined;
}
