// BuildRunnerImage: from validated inputs to what to build and where to push it.
import type { InputReader } from './inputs.js';

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
