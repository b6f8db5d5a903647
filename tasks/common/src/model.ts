// The product's shared vocabulary: what a runner pool is, what it is doing, and what a scaling decision says.
// The tasks and the hub both import these types.

export type DockerMode = 'none' | 'hostSocket' | 'dind';

/** How the agent proves itself to Azure DevOps when it registers. */
export type AgentCredential =
  | { kind: 'pat'; token: string }
  | { kind: 'servicePrincipal'; tenantId: string; clientId: string; clientSecret: string }
  | { kind: 'existingSecret'; secretName: string };

/** Where the task finds the cluster. */
export type ClusterConnection =
  | { kind: 'kubernetesServiceConnection'; endpointId: string }
  | { kind: 'inCluster' };

export interface ResourceSettings {
  cpuRequest?: string;
  memoryRequest?: string;
  cpuLimit?: string;
  memoryLimit?: string;
}

/** Everything needed to render a runner pool's Kubernetes objects. */
export interface RunnerPoolSpec {
  namespace: string;
  /** The StatefulSet's name; pods are `<runnerName>-0 … -N` and register under those names. */
  runnerName: string;
  /** The agent pool in Azure DevOps. */
  poolName: string;
  organizationUrl: string;
  replicas: number;
  image: string;
  imagePullSecret?: string;
  credential: AgentCredential;
  resources: ResourceSettings;
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  env: Record<string, string>;
  dockerMode: DockerMode;
  /** The node's group that owns /var/run/docker.sock, for `hostSocket`. */
  dockerSocketGroupId?: number;
  workVolumeSize?: string;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export type ScaleMode = 'fixed' | 'queue';

export interface ScaleLimits {
  minReplicas: number;
  maxReplicas: number;
  /** Idle agents kept on top of the busy ones and the queue. */
  standby: number;
}

/** An agent registration as Azure DevOps reports it. */
export interface AgentInfo {
  id: number;
  name: string;
  status: 'online' | 'offline';
  enabled: boolean;
  /** The request it is running, if any. */
  busyWith?: number;
  capabilities: Record<string, string>;
}

/** A job request that waits for an agent of the pool. */
export interface QueuedJob {
  requestId: number;
  demands: string[];
}

/** One runner slot (pod ordinal) as the hub shows it. */
export interface SlotStatus {
  podName: string;
  ordinal: number;
  agent?: AgentInfo;
  podPhase?: string;
  ready?: boolean;
  restarts?: number;
  node?: string;
  image?: string;
  startedAt?: string;
}

export interface ScaleDecision {
  previousReplicas: number;
  replicas: number;
  /** Queued jobs this pool's agents can run. */
  queuedJobs: number;
  busyAgents: number;
  /** Why the decision is what it is, in one sentence a person can read. */
  reason: string;
}

/** The secret values of a credential, to be masked in every log. */
export function credentialSecrets(credential: AgentCredential): string[] {
  if (credential.kind === 'pat') return [credential.token];
  if (credential.kind === 'servicePrincipal') return [credential.clientSecret];
  return [];
}
