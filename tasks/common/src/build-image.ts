// BuildRunnerImage: from validated inputs to what to build and where to push it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { InputReader } from './inputs.js';
import type { ServiceEndpoint, TaskHost } from './host.js';
import type { CommandRunner } from './commands.js';

export type Builder = 'auto' | 'docker' | 'buildah';

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
}

export interface BuildImageResult {
  builder: 'docker' | 'buildah';
  /** repository@sha256:… when pushed, else repository:firstTag. */
  imageReference: string;
  digest?: string;
  tags: string[];
  sizeBytes?: number;
}

interface RegistryLogin {
  registry: string;
  username: string;
  password: string;
}

/** The registry and credentials of a `dockerregistry` service connection. */
export function registryLogin(endpointId: string, endpoint: ServiceEndpoint | undefined): RegistryLogin {
  if (endpoint === undefined) {
    throw new Error(`Input 'dockerRegistryServiceConnection': the service connection '${endpointId}' was not found or is not authorized for this pipeline.`);
  }
  const { registry, username, password } = endpoint.parameters;
  const server = registry ?? endpoint.url;
  if (!server || !username || !password) throw new Error(`The service connection '${endpointId}' lacks the registry, user name or password.`);
  return { registry: server.replace(/^https?:\/\//, '').replace(/\/+$/, '').replace(/^index\.docker\.io\/v1$/, 'docker.io'), username, password };
}

async function pickBuilder(wanted: Builder, commands: CommandRunner): Promise<'docker' | 'buildah'> {
  const dockerAnswers = async () => (await commands.has('docker')) && (await commands.run('docker', ['version', '--format', '{{.Server.Version}}'])).code === 0;
  if (wanted === 'docker') {
    if (await dockerAnswers()) return 'docker';
    throw new Error(`Input 'builder': docker was chosen, but no Docker engine answers on this agent (is the docker CLI installed and the daemon running?).`);
  }
  if (wanted === 'buildah') {
    if (await commands.has('buildah')) return 'buildah';
    throw new Error(`Input 'builder': buildah was chosen, but it is not installed on this agent.`);
  }
  if (await dockerAnswers()) return 'docker';
  if (await commands.has('buildah')) return 'buildah';
  throw new Error(`Input 'builder': no image builder on this agent: install Docker (with a running engine) or buildah.`);
}

/** Builds the image and, when asked, pushes every tag and reports the digest. Logs in first: bad credentials push nothing. */
export async function buildRunnerImage(options: BuildImageOptions, services: BuildImageServices): Promise<BuildImageResult> {
  const { host, commands } = services;
  const builder = await pickBuilder(options.builder, commands);
  host.info(`Building with ${builder}.`);
  const authDir = mkdtempSync(join(services.tempDir, 'registry-auth-'));
  // A private credential store for this run only: nothing is left in the agent user's docker config.
  const env: Record<string, string> = builder === 'docker' ? { DOCKER_CONFIG: authDir } : { REGISTRY_AUTH_FILE: join(authDir, 'auth.json') };
  const exec = async (args: string[], what: string, stdin?: string) => {
    const result = await commands.run(builder, args, { env, stdin, echo: stdin === undefined });
    if (result.code !== 0) throw new Error(`${what} failed (${builder} exited ${result.code}): ${result.stderr.trim().split('\n').slice(-5).join('\n')}`);
    return result.stdout;
  };
  try {
    if (options.push) {
      const login = registryLogin(options.registryEndpointId!, host.getEndpoint(options.registryEndpointId!));
      host.setSecret(login.password);
      const tls = builder === 'buildah' && /^(localhost|127\.0\.0\.1)(:|$)/.test(login.registry) ? ['--tls-verify=false'] : [];
      await exec(['login', ...tls, '--username', login.username, '--password-stdin', login.registry], `Logging in to ${login.registry}`, login.password);
    }
    const dockerfile = options.dockerfile ?? join(services.builtinContext, 'images', 'linux', 'Dockerfile');
    const context = options.context ?? (options.dockerfile ? join(dockerfile, '..') : services.builtinContext);
    const refs = options.tags.map((tag) => `${options.repository}:${tag}`);
    const buildArgs = Object.entries(options.buildArgs).flatMap(([name, value]) => ['--build-arg', `${name}=${value}`]);
    const tagArgs = refs.flatMap((ref) => ['--tag', ref]);
    const build = builder === 'docker' ? ['build', '--platform', options.platform] : ['build', '--platform', options.platform, '--layers'];
    await exec([...build, '--file', dockerfile, ...buildArgs, ...tagArgs, context], 'The image build');
    const sizeText = builder === 'docker'
      ? await exec(['image', 'inspect', '--format', '{{.Size}}', refs[0]], 'Reading the image size')
      : await exec(['inspect', '--type', 'image', '--format', '{{.Docker.Size}}', refs[0]], 'Reading the image size').catch(() => '');
    const sizeBytes = Number(sizeText.trim()) || undefined;
    if (!options.push) return { builder, imageReference: refs[0], tags: options.tags, sizeBytes };

    let digest = '';
    for (const ref of refs) {
      if (builder === 'docker') {
        const out = await exec(['push', ref], `Pushing ${ref}`);
        digest = /digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1] ?? digest;
      } else {
        const digestFile = join(authDir, 'digest');
        const tls = /^(localhost|127\.0\.0\.1)(:|\/)/.test(ref) ? ['--tls-verify=false'] : [];
        await exec(['push', ...tls, '--digestfile', digestFile, ref, `docker://${ref}`], `Pushing ${ref}`);
        digest = readFileSync(digestFile, 'utf8').trim();
      }
    }
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new Error(`The push did not report the image digest.`);
    return { builder, imageReference: `${options.repository}@${digest}`, digest, tags: options.tags, sizeBytes };
  } finally {
    rmSync(authDir, { recursive: true, force: true });
  }
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
