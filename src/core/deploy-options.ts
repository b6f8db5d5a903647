// DeployRunnerPool's inputs: from what the user typed to a validated pool specification (pure).
import type { InputReader } from './inputs.js';
import { readClusterTarget, type ClusterTarget } from './cluster-target.js';
import { defaultDindImage, maxReplicas, type AgentCredential, type DockerMode, type PodRecycling, type RunnerPoolSpec, type SeccompProfile, type Toleration } from './model.js';

export type DeployAction = 'apply' | 'render';

export interface DeployOptions {
  target: ClusterTarget;
  action: DeployAction;
  /** `auto`: restart rules where the cluster keeps them, else the recycle sidecar. */
  podRecycling: PodRecycling | 'auto';
  /** With `auto`, the pool is rendered with restart rules until the cluster has been asked. */
  pool: RunnerPoolSpec;
  /** Where `render` writes the manifests (and `apply` a copy of what it applied). */
  manifestPath?: string;
  rolloutTimeoutSeconds: number;
}

const imageReference = /^[^\s@]+(@sha256:[a-f0-9]{64})?$/;
const imageRule = 'an image reference such as registry.example.com/runner:1.0 or repo@sha256:<digest>';

/** A StatefulSet name derived from the Azure DevOps pool name when none is given. */
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
        tenantId: inputs.required('servicePrincipalTenantId'),
        clientId: inputs.required('servicePrincipalClientId'),
        clientSecret: inputs.secret('servicePrincipalClientSecret'),
      };
    case 'existingSecret':
      return { kind, secretName: inputs.dnsLabel('existingSecretName') };
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

export function readDeployOptions(inputs: InputReader): DeployOptions {
  const target = readClusterTarget(inputs);
  const action = inputs.choice('action', ['apply', 'render'] as const, 'apply');
  const poolName = inputs.required('poolName');
  const dockerMode = inputs.choice<DockerMode>('dockerMode', ['none', 'hostSocket', 'dind', 'buildah'], 'none');
  const podRecycling = inputs.choice<PodRecycling | 'auto'>('podRecycling', ['auto', 'restartRules', 'sidecar'], 'auto');
  const pool: RunnerPoolSpec = {
    namespace: target.namespace,
    poolName,
    runnerName: inputs.dnsLabel('runnerName', defaultRunnerName(poolName)),
    organizationUrl: inputs.url('azureDevOpsUrl'),
    replicas: inputs.integer('replicas', { min: 0, max: maxReplicas }, 1),
    image: inputs.matching('image', imageReference, imageRule),
    imagePullSecret: inputs.optional('imagePullSecret'),
    credential: readCredential(inputs),
    resources: {
      cpuRequest: inputs.quantity('cpuRequest'),
      memoryRequest: inputs.quantity('memoryRequest'),
      cpuLimit: inputs.quantity('cpuLimit'),
      memoryLimit: inputs.quantity('memoryLimit'),
    },
    nodeSelector: inputs.keyValues('nodeSelector', /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'a label key'),
    tolerations: readTolerations(inputs),
    env: inputs.keyValues('env'),
    dockerMode,
    podRecycling: podRecycling === 'sidecar' ? 'sidecar' : 'restartRules',
    dockerSocketGroupId: dockerMode === 'hostSocket' ? inputs.integer('dockerSocketGroupId', { min: 0, max: 2 ** 31 - 1 }, 999) : undefined,
    workVolumeSize: inputs.quantity('workVolumeSize'),
    dindImage: dockerMode === 'dind' ? inputs.matching('dindImage', imageReference, imageRule, defaultDindImage) : undefined,
    buildahSeccompProfile: dockerMode === 'buildah' ? readSeccompProfile(inputs, 'buildahSeccompProfile') : undefined,
  };
  for (const name of Object.keys(pool.env)) {
    if (name.startsWith('AZP_')) inputs.problem('env', `${name} is set by the task itself and cannot be overridden.`);
  }
  const options: DeployOptions = {
    target,
    action,
    podRecycling,
    pool,
    manifestPath: action === 'render' ? inputs.required('manifestPath') : inputs.optional('manifestPath'),
    rolloutTimeoutSeconds: inputs.integer('rolloutStatusTimeout', { min: 0, max: 86400 }, 600),
  };
  inputs.finish();
  return options;
}

