// BuildRunnerImage's inputs and pure rules: what to build, where to push it, the registry login a connection holds.
import type { InputReader, Rule } from './inputs.js';
import { imageReferenceProblem, repositoryProblem } from './kube-syntax.js';
import type { ServiceEndpoint } from './ports/host.js';
import { markdownTable } from './log-text.js';
import { connectionError } from './connections.js';
import { compareVersions } from './demands.js';

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
// A Debian package, optionally with :architecture and =version (what apt-get install takes, and nothing that looks
// like an option or a pattern).
const debianPackage = /^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?$/;

function packagesProblem(value: string): string | undefined {
  const bad = value.split(/\s+/).filter((name) => !debianPackage.test(name));
  return bad.length === 0 ? undefined : `must be Debian package names separated by spaces, such as git jq unzip; not ${bad.map((name) => `'${name}'`).join(', ')}`;
}

/** The agent package's download: an http(s) URL, with no credentials (they would be baked into the image's history). */
function packageUrlProblem(value: string): string | undefined {
  const wrong = `must be the http(s) URL of an agent package, such as https://mirror.example.com/vsts-agent-linux-x64-4.266.2.tar.gz`;
  if (/[\s\p{Cc}]/u.test(value)) return `${wrong}; it holds a space or a control character`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${wrong}; got '${value}'`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `${wrong}; got '${value}'`;
  if (url.username !== '' || url.password !== '') return `${wrong}, with no user name or password in it`;
  return url.hash === '' ? undefined : `${wrong}, with no #fragment; got '${value}'`;
}

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
  const rules: Record<string, Rule> = { baseImage: imageReferenceProblem, agentPackageUrl: packageUrlProblem, extraPackages: packagesProblem };
  for (const [input, arg] of named) {
    const value = inputs.checked(input, rules[input] ?? (() => undefined), { optional: true });
    if (value !== undefined) buildArgs[arg] = input === 'extraPackages' ? value.split(/\s+/).join(' ') : value;
  }
  if (buildArgs.AGENT_VERSION !== undefined && !/^\d+\.\d+\.\d+$/.test(buildArgs.AGENT_VERSION)) {
    inputs.problem('agentVersion', `must be a version such as 4.266.2; got '${buildArgs.AGENT_VERSION}'.`);
  }
  const tags = (inputs.optional('tags', '$(Build.BuildId)') ?? 'latest').split(/[\s,]+/).filter((t) => t !== '');
  for (const tag of tags) {
    if (!tagPattern.test(tag)) inputs.problem('tags', `'${tag}' is not a valid image tag (letters, digits, _ . -, at most 128).`);
  }
  const push = inputs.boolean('push', true);
  const options: BuildImageOptions = {
    builder: inputs.choice<Builder>('builder', ['auto', 'docker', 'buildah'], 'auto'),
    dockerfile: custom ? inputs.required('dockerfile') : undefined,
    context: custom ? inputs.optional('buildContext') : undefined,
    buildArgs,
    repository: inputs.checked('imageRepository', repositoryProblem) ?? '',
    tags,
    push,
    registryEndpointId: push ? inputs.required('dockerRegistryServiceConnection') : inputs.optional('dockerRegistryServiceConnection'),
    platform: inputs.matching('platform', /^linux\/(amd64|arm64)$/, 'linux/amd64 or linux/arm64', 'linux/amd64'),
    network: inputs.choice<BuildNetwork>('network', ['default', 'host'], 'default'),
  };
  inputs.finish();
  return options;
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

export const registryConnectionInput = 'dockerRegistryServiceConnection';
const dockerHubHosts = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

/**
 * The registry and credentials of a `dockerregistry` service connection, read as Microsoft's Docker@2 task reads them:
 * `registry`/`username`/`password` for a user name and password connection, `loginServer`/`serviceprincipalid`/
 * `serviceprincipalkey` for an Azure Container Registry one (data `registrytype` ACR).
 */
export function registryLogin(endpointId: string, endpoint: ServiceEndpoint): RegistryLogin {
  // The agent keeps the parameter names' case as the connection type defines them; compare without it.
  const parameter = (name: string) => Object.entries(endpoint.parameters).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1] || undefined;
  const acr = endpoint.data.registrytype?.toUpperCase() === 'ACR';
  const fields: Array<[string, string | undefined]> = acr
    ? [['loginServer', parameter('loginServer')], ['serviceprincipalid', parameter('serviceprincipalid')], ['serviceprincipalkey', parameter('serviceprincipalkey')]]
    : [['registry', parameter('registry') ?? endpoint.url], ['username', parameter('username')], ['password', parameter('password')]];
  const missing = fields.filter(([, value]) => value === undefined).map(([name]) => name);
  if (missing.length > 0) {
    throw connectionError(registryConnectionInput, endpointId, `(${endpoint.scheme}) lacks ${missing.join(', ')}; use a Docker registry connection with a user name and password, or an Azure Container Registry one with a service principal.`);
  }
  const [server, username, password] = fields.map(([, value]) => value!);
  let host: string;
  try {
    host = new URL(/^[a-z]+:\/\//i.test(server) ? server : `https://${server}`).host;
  } catch {
    throw connectionError(registryConnectionInput, endpointId, 'names a registry that is not a host name or URL.');
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

/** Whether dotted version `a` (4.266.2) is older than `b`, compared part by part as numbers. */
export function isOlderVersion(a: string, b: string): boolean {
  return compareVersions(a.split('.').map(Number), b.split('.').map(Number)) < 0;
}

/** The agent version the image bakes: the agentVersion input, else the Dockerfile's `ARG AGENT_VERSION=` default. */
export function bakedAgentVersion(options: BuildImageOptions, dockerfile: string): string | undefined {
  return options.buildArgs.AGENT_VERSION ?? /^\s*ARG\s+AGENT_VERSION=(\d+\.\d+\.\d+)\s*$/m.exec(dockerfile)?.[1];
}

/** The platform the agent packages are offered for (linux-x64, linux-arm64), for an image's platform. */
export function agentPackagePlatform(platform: string): string {
  return platform === 'linux/arm64' ? 'linux-arm64' : 'linux-x64';
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
  return `### Runner image\n\n${markdownTable(['', ''], rows)}\n`;
}
