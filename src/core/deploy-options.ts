// DeployRunnerPool's inputs: from what the user typed to a validated pool specification (pure).
import type { InputReader } from './inputs.js';
import { dnsLabelProblem, dnsSubdomainProblem, imageReferenceProblem, labelKeyProblem, labelValueProblem, requestsAboveLimits } from './kube-syntax.js';
import { readClusterTarget, type ClusterTarget } from './cluster-target.js';
import { defaultDindImage, defaultResources, defaultWorkVolumeSize, maxReplicas, type AgentCredential, type AutoscalerAntiAffinity, type AutoscalerSettings, type DockerMode, type PodRecycling, type RunnerPoolSpec, type SeccompProfile, type Toleration } from './model.js';
import { readScaleLimits } from './scale-options.js';
import { readOfferedContainers } from './pod-containers.js';

export type DeployAction = 'apply' | 'render';

/**
 * The longest runner name a StatefulSet's pods can carry: each pod's controller-revision-hash label is
 * `<name>-<hash>` with a hash of up to 10 characters (an FNV-32 in decimal), and a label value holds at most 63.
 * (The pod-name label, `<name>-<ordinal>` with ordinals below 500, allows 59.)
 */
export const maxRunnerNameLength = 52;

const guidProblem = (value: string) => (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value) ? undefined : `must be a GUID such as 00000000-0000-0000-0000-000000000000; got '${value}'`);

export interface DeployOptions {
  target: ClusterTarget;
  action: DeployAction;
  /** `auto`: restart rules where the cluster keeps them, else the recycle sidecar. */
  podRecycling: PodRecycling | 'auto';
  /** With `auto`, the pool is rendered with restart rules until the cluster has been asked. */
  pool: RunnerPoolSpec;
  /**
   * False when `runnerName` was left empty: `pool.runnerName` is then the pool's name as a DNS label, which `render`
   * writes, and applying finds the runner's name in the cluster (src/flows/runner-identity.ts findRunner).
   */
  runnerNameGiven: boolean;
  /** Where `render` writes the manifests (and `apply` a copy of what it applied). */
  manifestPath?: string;
  /** Lets manifestPath point outside the agent's working folders. */
  allowManifestOutsideWorkspace: boolean;
  rolloutTimeoutSeconds: number;
}

/**
 * The Azure DevOps pool name as a DNS label: the runner name of a runner deployed before cluster identities, and of
 * `render`. A new runner's default adds its cluster's tag (src/core/runner-identity.ts clusterRunnerName).
 */
export function defaultRunnerName(poolName: string): string {
  const label = poolName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50)
    .replace(/-+$/, '');
  return label === '' ? 'runner' : label;
}

function readCredential(inputs: InputReader): AgentCredential {
  const kind = inputs.choice('credentialType', ['pat', 'servicePrincipal', 'existingSecret'] as const, 'pat');
  switch (kind) {
    case 'pat':
      return { kind, token: inputs.secret('personalAccessToken') };
    case 'servicePrincipal':
      return {
        kind,
        tenantId: inputs.checked('servicePrincipalTenantId', guidProblem) ?? '',
        clientId: inputs.checked('servicePrincipalClientId', guidProblem) ?? '',
        clientSecret: inputs.secret('servicePrincipalClientSecret'),
      };
    case 'existingSecret':
      return { kind, secretName: inputs.checked('existingSecretName', dnsSubdomainProblem) ?? '' };
  }
}

// One toleration per line: key[=value]:Effect, or key:Effect / :Effect for Exists.
function readTolerations(inputs: InputReader): Toleration[] {
  const raw = inputs.optional('tolerations');
  if (raw === undefined) return [];
  const effects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;
  const result: Toleration[] = [];
  for (const line of raw.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))) {
    const match = /^([^=:\s]*)(?:=([^:\s]*))?(?::(\w+))?$/.exec(line);
    const effect = effects.find((e) => e === match?.[3]);
    if (match === null || (match[3] !== undefined && effect === undefined)) {
      inputs.problem('tolerations', `line '${line}' must look like key=value:NoSchedule, key:NoExecute or key (effects: ${effects.join(', ')}).`);
      continue;
    }
    const [, key, value] = match;
    const problem = (key === '' ? undefined : labelKeyProblem(key)) ?? (value === undefined ? undefined : labelValueProblem(value));
    if (problem !== undefined) {
      inputs.problem('tolerations', `line '${line}': ${problem}.`);
      continue;
    }
    result.push({
      ...(key !== '' && { key }),
      operator: value === undefined ? 'Exists' : 'Equal',
      ...(value !== undefined && { value }),
      ...(effect !== undefined && { effect }),
    });
  }
  return result;
}

// `Unconfined`, or `localhost/<path>`: a profile file below the kubelet's seccomp directory on every node.
function readSeccompProfile(inputs: InputReader, name: string): SeccompProfile {
  const raw = inputs.matching(name, /^(Unconfined|localhost\/[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)$/i,
    "Unconfined or localhost/<a path below the kubelet's seccomp directory>, such as localhost/azure-devops-runner/buildah.json", 'Unconfined');
  if (!/^localhost\//i.test(raw)) return { type: 'Unconfined' };
  const path = raw.slice('localhost/'.length);
  if (path.split('/').includes('..')) inputs.problem(name, `must stay below the kubelet's seccomp directory (no '..'); got '${raw}'.`);
  return { type: 'Localhost', localhostProfile: path };
}

/** The in-cluster autoscaler's settings, or undefined for `autoscaling: none` (the count is the task's `replicas`). */
function readAutoscaler(inputs: InputReader, credential: AgentCredential): AutoscalerSettings | undefined {
  if (inputs.choice('autoscaling', ['none', 'inCluster'] as const, 'none') === 'none') return undefined;
  if (credential.kind === 'servicePrincipal') {
    inputs.problem('credentialType', 'must be pat or existingSecret with autoscaling inCluster: the autoscaler reads the queue and registers agents with a PAT.');
  }
  const metricsNamespaceSelector = inputs.keyValues('metricsNamespaceSelector', { key: labelKeyProblem, value: labelValueProblem });
  return {
    ...readScaleLimits(inputs),
    pollSeconds: inputs.integer('pollSeconds', { min: 1, max: 300 }, 5),
    ...(Object.keys(metricsNamespaceSelector).length > 0 && { metricsNamespaceSelector }),
  };
}

export function readDeployOptions(inputs: InputReader): DeployOptions {
  const target = readClusterTarget(inputs);
  const action = inputs.choice('action', ['apply', 'render'] as const, 'apply');
  const poolName = inputs.poolName('poolName');
  const dockerMode = inputs.choice<DockerMode>('dockerMode', ['none', 'hostSocket', 'dind', 'buildah', 'podContainers'], 'none');
  const podRecycling = inputs.choice<PodRecycling | 'auto'>('podRecycling', ['auto', 'restartRules', 'sidecar'], 'auto');
  const runnerName = inputs.checked('runnerName', (value) => dnsLabelProblem(value, maxRunnerNameLength), { optional: true });
  const pool: RunnerPoolSpec = {
    namespace: target.namespace,
    poolName,
    runnerName: runnerName ?? defaultRunnerName(poolName),
    organizationUrl: inputs.url('azureDevOpsUrl', '$(System.CollectionUri)'),
    replicas: 0,
    image: inputs.checked('image', imageReferenceProblem) ?? '',
    imagePullSecret: inputs.checked('imagePullSecret', dnsSubdomainProblem, { optional: true }),
    credential: readCredential(inputs),
    resources: {
      cpuRequest: inputs.quantity('cpuRequest', defaultResources.cpuRequest),
      memoryRequest: inputs.quantity('memoryRequest', defaultResources.memoryRequest),
      cpuLimit: inputs.quantity('cpuLimit'),
      memoryLimit: inputs.quantity('memoryLimit', defaultResources.memoryLimit),
    },
    nodeSelector: inputs.keyValues('nodeSelector', { key: labelKeyProblem, value: labelValueProblem }),
    tolerations: readTolerations(inputs),
    env: inputs.keyValues('env'),
    dockerMode,
    podRecycling: podRecycling === 'sidecar' ? 'sidecar' : 'restartRules',
    dockerSocketGroupId: dockerMode === 'hostSocket' ? inputs.integer('dockerSocketGroupId', { min: 0, max: 2 ** 31 - 1 }, 999) : undefined,
    workVolumeSize: inputs.quantity('workVolumeSize', defaultWorkVolumeSize),
    dindImage: dockerMode === 'dind' ? (inputs.checked('dindImage', imageReferenceProblem, { fallback: defaultDindImage }) ?? '') : undefined,
    buildahSeccompProfile: dockerMode === 'buildah' ? readSeccompProfile(inputs, 'buildahSeccompProfile') : undefined,
    podContainers: readOfferedContainers(inputs, dockerMode),
    restrictEgress: inputs.boolean('restrictEgress', true),
    priority: inputs.integer('priority', { min: -1000, max: 1000 }, 0),
  };
  pool.autoscaler = readAutoscaler(inputs, pool.credential);
  if (pool.autoscaler) pool.autoscalerAntiAffinity = inputs.choice<AutoscalerAntiAffinity>('autoscalerAntiAffinity', ['preferred', 'required', 'none'], 'preferred');
  // With the autoscaler the count is its own; the pool starts at its minimum.
  pool.replicas = pool.autoscaler?.minReplicas ?? inputs.integer('replicas', { min: 0, max: maxReplicas }, 1);
  for (const { request, wanted, limit, most } of requestsAboveLimits(pool.resources)) inputs.problem(request, `(${wanted}) must not exceed ${limit} (${most}).`);
  for (const name of Object.keys(pool.env)) {
    if (/^(AZP_|RUNNER_CONTAINER_|RUNNER_SERVICE_)/.test(name)) inputs.problem('env', `${name} is set by the task itself and cannot be overridden.`);
  }
  const options: DeployOptions = {
    target,
    action,
    podRecycling,
    pool,
    runnerNameGiven: runnerName !== undefined,
    manifestPath: action === 'render' ? inputs.required('manifestPath') : inputs.optional('manifestPath'),
    allowManifestOutsideWorkspace: inputs.boolean('allowManifestOutsideWorkspace', false),
    rolloutTimeoutSeconds: inputs.integer('rolloutStatusTimeout', { min: 0, max: 86400 }, 600),
  };
  inputs.finish();
  return options;
}
