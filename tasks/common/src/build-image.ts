// BuildRunnerImage: from validated inputs to what to build and where to push it.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { InputReader } from './inputs.js';
import type { ServiceEndpoint, TaskHost } from './host.js';
import type { CommandRunner } from './commands.js';

export type Builder = 'auto' | 'docker' | 'buildah';
/** `host`: the build's RUN steps share the agent's network, e.g. to fetch the agent from a mirror on its loopback. */
export type BuildNetwork = 'default' | 'host';

export interface BuildImageOptions {
  builder: Builder;
  /** Undefined: the Dockerfile shipped inside the task. */
  dockerfile?: string;
  context?: string;
  buildArgs: Record<string, string>;
  repository: string;
  tags: string[];
  push: boolean;
  registryEndpointId?: string;
  platform: string;
  network: BuildNetwork;
}

const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// registry/path without tag or digest, lowercase as the distribution spec requires.
const repositoryPattern = /^([a-z0-9.-]+(:[0-9]+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;

export function readBuildImageOptions(inputs: InputReader): BuildImageOptions {
  const custom = inputs.choice('dockerfileSource', ['builtin', 'custom'] as const, 'builtin') === 'custom';
  const buildArgs = inputs.keyValues('buildArguments');
  // The named settings of the built-in Dockerfile win over the same names given as free-form arguments.
  const named: Array<[string, string]> = [
    ['baseImage', 'BASE_IMAGE'],
    ['agentVersion', 'AGENT_VERSION'],
    ['agentPackageUrl', 'AGENT_PACKAGE_URL'],
    ['extraPackages', 'EXTRA_PACKAGES'],
  ];
  for (const [input, arg] of named) {
    const value = inputs.optional(input);
    if (value !== undefined) buildArgs[arg] = value;
  }
  if (buildArgs.AGENT_VERSION !== undefined && !/^\d+\.\d+\.\d+$/.test(buildArgs.AGENT_VERSION)) {
    inputs.problem('agentVersion', `must be a version such as 4.266.2; got '${buildArgs.AGENT_VERSION}'.`);
  }
  const tags = (inputs.optional('tags') ?? 'latest').split(/[\s,]+/).filter((t) => t !== '');
  for (const tag of tags) {
    if (!tagPattern.test(tag)) inputs.problem('tags', `'${tag}' is not a valid image tag (letters, digits, _ . -, at most 128).`);
  }
  const push = inputs.boolean('push', true);
  const options: BuildImageOptions = {
    builder: inputs.choice<Builder>('builder', ['auto', 'docker', 'buildah'], 'auto'),
    dockerfile: custom ? inputs.required('dockerfile') : undefined,
    context: custom ? inputs.optional('buildContext') : undefined,
    buildArgs,
    repository: inputs.matching('imageRepository', repositoryPattern, 'a lowercase image repository such as myregistry.azurecr.io/runner'),
    tags,
    push,
    registryEndpointId: push ? inputs.required('dockerRegistryServiceConnection') : inputs.optional('dockerRegistryServiceConnection'),
    platform: inputs.matching('platform', /^linux\/(amd64|arm64)$/, 'linux/amd64 or linux/arm64', 'linux/amd64'),
    network: inputs.choice<BuildNetwork>('network', ['default', 'host'], 'default'),
  };
  inputs.finish();
  return options;
}

export interface BuildImageServices {
  host: TaskHost;
  commands: CommandRunner;
  /** The folder holding the built-in Dockerfile (images/linux/Dockerfile) and what it copies in. */
  builtinContext: string;
  tempDir: string;
  /**
   * Where each builder finds the agent user's existing registry logins (e.g. from a Docker@2 login step), first
   * existing file wins: the build keeps them for private base images, in a copy the task's own login is added to.
   */
  existingLogins: Record<'docker' | 'buildah', string[]>;
}

export interface BuildImageResult {
  builder: 'docker' | 'buildah';
  /** repository@sha256:… when pushed, else repository:firstTag. */
  imageReference: string;
  digest?: string;
  tags: string[];
  sizeBytes?: number;
}

export interface RegistryLogin {
  /** host[:port], as docker and buildah name a registry (`docker.io` for Docker Hub). */
  registry: string;
  username: string;
  password: string;
}

const connectionInput = 'dockerRegistryServiceConnection';
const dockerHubHosts = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

/**
 * The registry and credentials of a `dockerregistry` service connection, read as Microsoft's Docker@2 task reads them:
 * `registry`/`username`/`password` for a user name and password connection, `loginServer`/`serviceprincipalid`/
 * `serviceprincipalkey` for an Azure Container Registry one (data `registrytype` ACR).
 */
export function registryLogin(endpointId: string, endpoint: ServiceEndpoint | undefined): RegistryLogin {
  if (endpoint === undefined) {
    throw new Error(`Input '${connectionInput}': the service connection '${endpointId}' was not found or is not authorized for this pipeline.`);
  }
  // The agent keeps the parameter names' case as the connection type defines them; compare without it.
  const parameter = (name: string) => Object.entries(endpoint.parameters).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1] || undefined;
  const acr = endpoint.data.registrytype?.toUpperCase() === 'ACR';
  const fields: Array<[string, string | undefined]> = acr
    ? [['loginServer', parameter('loginServer')], ['serviceprincipalid', parameter('serviceprincipalid')], ['serviceprincipalkey', parameter('serviceprincipalkey')]]
    : [['registry', parameter('registry') ?? endpoint.url], ['username', parameter('username')], ['password', parameter('password')]];
  const missing = fields.filter(([, value]) => value === undefined).map(([name]) => name);
  if (missing.length > 0) {
    throw new Error(`Input '${connectionInput}': the service connection '${endpointId}' (${endpoint.scheme}) lacks ${missing.join(', ')}; use a Docker registry connection with a user name and password, or an Azure Container Registry one with a service principal.`);
  }
  const [server, username, password] = fields.map(([, value]) => value!);
  let host: string;
  try {
    host = new URL(/^[a-z]+:\/\//i.test(server) ? server : `https://${server}`).host;
  } catch {
    throw new Error(`Input '${connectionInput}': the service connection '${endpointId}' names the registry '${server}', which is not a host name or URL.`);
  }
  return { registry: dockerHubHosts.includes(host) ? 'docker.io' : host, username, password };
}

/** The registry part of an image repository, as docker resolves it: `docker.io` when the first part is not a host. */
export function registryOf(repository: string): string {
  const first = repository.split('/')[0];
  return repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

/** The repository with the connection's registry in front when it names none, as Docker@2 does (`runner` → `myacr.azurecr.io/runner`). */
export function qualifiedRepository(repository: string, login: RegistryLogin | undefined): string {
  if (login === undefined || login.registry === 'docker.io' || registryOf(repository) !== 'docker.io') return repository;
  return `${login.registry}/${repository}`;
}

/** Docker may speak plain HTTP to a registry on loopback (its default insecure range 127.0.0.0/8); buildah is told the same. */
export function isLoopbackRegistry(registry: string): boolean {
  return /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/.test(registry);
}

async function pickBuilder(wanted: Builder, commands: CommandRunner): Promise<'docker' | 'buildah'> {
  const dockerAnswers = async () => (await commands.has('docker')) && (await commands.run('docker', ['version', '--format', '{{.Server.Version}}'])).code === 0;
  if (wanted === 'docker') {
    if (await dockerAnswers()) return 'docker';
    throw new Error(`Input 'builder': docker was chosen, but no Docker engine answers on this agent (is the docker CLI on PATH and the daemon running?).`);
  }
  if (wanted === 'buildah') {
    if (await commands.has('buildah')) return 'buildah';
    throw new Error(`Input 'builder': buildah was chosen, but it is not on this agent's PATH.`);
  }
  if (await dockerAnswers()) return 'docker';
  if (await commands.has('buildah')) return 'buildah';
  throw new Error(`Input 'builder': no image builder on this agent: install Docker (with a running engine) or buildah.`);
}

/** Builds the image and, when asked, pushes every tag and reports the digest. Logs in first: bad credentials push nothing. */
export async function buildRunnerImage(options: BuildImageOptions, services: BuildImageServices): Promise<BuildImageResult> {
  const { host, commands } = services;
  const dockerfile = options.dockerfile ?? join(services.builtinContext, 'images', 'linux', 'Dockerfile');
  if (!existsSync(dockerfile)) throw new Error(`Input 'dockerfile': there is no file '${dockerfile}'.`);
  const context = options.context ?? (options.dockerfile ? join(dockerfile, '..') : services.builtinContext);
  if (!existsSync(context)) throw new Error(`Input 'buildContext': there is no folder '${context}'.`);
  const login = options.push ? registryLogin(options.registryEndpointId!, host.getEndpoint(options.registryEndpointId!)) : undefined;
  if (login) host.setSecret(login.password);

  const builder = await pickBuilder(options.builder, commands);
  host.info(`Building with ${builder}.`);
  const authDir = mkdtempSync(join(services.tempDir, 'registry-auth-'));
  // A private credential store for this run only, starting from a copy of the agent user's: nothing is left in theirs.
  const authFile = join(authDir, builder === 'docker' ? 'config.json' : 'auth.json');
  const existing = services.existingLogins[builder].find((file) => existsSync(file));
  if (existing) copyFileSync(existing, authFile);
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
        const digestFile = join(authDir, 'digest');
        await exec(['push', ...plainHttp(registryOf(ref)), '--digestfile', digestFile, ref, `docker://${ref}`], `Pushing ${ref}`);
        digests.push(readFileSync(digestFile, 'utf8').trim());
      }
    }
    const digest = digests[0];
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`Pushing ${refs[0]} did not report the image digest.`);
    if (digests.some((d) => d !== digest)) host.warning(`The tags were pushed with different digests (${digests.join(', ')}); the outputs name ${refs[0]}'s.`);
    return { builder, imageReference: `${repository}@${digest}`, digest, tags: options.tags, sizeBytes };
  } finally {
    rmSync(authDir, { recursive: true, force: true });
  }
}

/** The unpacked size: docker's own figure; for buildah, the sum of the layers of the stored (uncompressed) manifest. */
async function imageSize(builder: 'docker' | 'buildah', ref: string, exec: (args: string[], what: string) => Promise<string>): Promise<number | undefined> {
  if (builder === 'docker') return Number((await exec(['image', 'inspect', '--format', '{{.Size}}', ref], 'Reading the image size')).trim()) || undefined;
  const manifest = JSON.parse(await exec(['inspect', '--type', 'image', '--format', '{{.Manifest}}', ref], 'Reading the image size')) as { layers?: Array<{ size: number }> };
  return manifest.layers?.reduce((sum, layer) => sum + layer.size, 0) || undefined;
}

export function buildSummary(options: BuildImageOptions, result: BuildImageResult): string {
  const rows: Array<[string, string]> = [
    ['image', result.imageReference],
    ['tags', result.tags.join(', ')],
    ['base image', options.buildArgs.BASE_IMAGE ?? (options.dockerfile ? '(your Dockerfile)' : 'default of the built-in Dockerfile')],
    ['agent version', options.buildArgs.AGENT_VERSION ?? (options.dockerfile ? '(your Dockerfile)' : 'default of the built-in Dockerfile')],
    ['size', result.sizeBytes === undefined ? 'unknown' : `${(result.sizeBytes / 1024 / 1024).toFixed(0)} MB`],
    ['digest', result.digest ?? 'not pushed'],
    ['builder', result.builder],
  ];
  return `### Runner image\n\n| | |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`;
}
