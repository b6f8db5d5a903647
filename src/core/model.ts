// The product's shared vocabulary: what a runner pool is, what it is doing, and what a scaling decision says.
// The tasks and the hub both import these types.
import type { AutoscalerKeys } from './handshake-trust.js';
import type { WaitSummary } from './job-wait.js';
import type { StandbyWindow } from './standby-schedule.js';
import type { StuckSlot } from './slot-start.js';

export type DockerMode = 'none' | 'hostSocket' | 'dind' | 'buildah' | 'podContainers';

/**
 * dockerMode podContainers: a container the runner's pod runs beside the agent for its container jobs
 * (docs/container-jobs.md), from DeployRunnerPool's `jobContainers` (role `job`: the job's steps run in it) and
 * `serviceContainers` (role `service`: its image's own command, answering on its host names).
 */
export interface OfferedContainer {
  name: string;
  image: string;
  role: 'job' | 'service';
  /** A service's host names besides its name (the pod's hostAliases give them 127.0.0.1); none for a job container. */
  aliases: string[];
  /** A service's plain variables (`env.NAME=value`); none for a job container, whose env the pipeline gives. */
  env: Record<string, string>;
  /** The Secrets (in the runner's namespace) whose keys a service gets as variables (`envFrom=`): its secrets. */
  envFrom: string[];
  resources: ResourceSettings;
  /** When a service is ready (`ready=`, `readyTimeout=`): its sidecar's startup probe, which the agent's start waits for. */
  ready?: ServiceReadiness;
}

/** What a service's startup probe checks: a port that accepts connections, an HTTP path that answers, a command. */
export type ReadyProbe = { kind: 'tcp'; port: number } | { kind: 'http'; port: number; path: string } | { kind: 'exec'; command: string[] };

/** A service's readiness: its probe, and how long it may take before the kubelet restarts the service. */
export interface ServiceReadiness {
  probe: ReadyProbe;
  timeoutSeconds: number;
}

/** The dind sidecar's default image (upstream Docker); `images/dind` builds one from Debian's packages instead. */
export const defaultDindImage = 'docker:28-dind';

/** A container's seccomp filter, as Kubernetes names it: a profile file on the node, or none. */
export type SeccompProfile = { type: 'Localhost'; localhostProfile: string } | { type: 'Unconfined' };

/**
 * How a pod is replaced after its one job (docs/fresh-pod-per-job.md): container restart rules (Kubernetes >= 1.35),
 * or a sidecar that holds the pod's only Kubernetes credential and deletes its own pod (older clusters).
 */
export type PodRecycling = 'restartRules' | 'sidecar';

// The largest pool we accept; a guard against typos such as 1000 for 10. The recycle sidecar's Role names each slot.
export const maxReplicas = 500;

/** How the agent proves itself to Azure DevOps when it registers. */
export type AgentCredential =
  | { kind: 'pat'; token: string }
  | { kind: 'servicePrincipal'; tenantId: string; clientId: string; clientSecret: string }
  | { kind: 'existingSecret'; secretName: string };

/** Where the task finds the cluster. */
export type ClusterConnection =
  | { kind: 'kubernetesServiceConnection'; endpointId: string }
  | { kind: 'inCluster' };

/**
 * What a runner pod asks for and may use unless the task is told otherwise (review M7). Without requests the scheduler
 * packs jobs onto one node by count alone, and a busy job starves or gets its neighbours evicted; without a memory
 * limit one job can take the node's memory. No CPU limit: a limit throttles a build even on an idle node, while the
 * request already gives every job its fair share. The work folder is capped too, so a job that fills it loses its own
 * pod, not its neighbours. `none` in the input sets none.
 */
export const defaultResources = { cpuRequest: '500m', memoryRequest: '1Gi', memoryLimit: '4Gi' } as const;
export const defaultWorkVolumeSize = '20Gi';

/**
 * How the autoscaler keeps off nodes that run runner pods whose jobs can be root on the node (dockerMode hostSocket,
 * dind, buildah): it holds the PAT. `preferred` by default: `required` (symmetric in the scheduler) would leave the
 * autoscaler, or those runner pods, unschedulable on a cluster with no second node.
 */
export type AutoscalerAntiAffinity = 'preferred' | 'required' | 'none';

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
  /**
   * The cluster's identity (src/core/runner-identity.ts), recorded on the StatefulSet and carried by every agent;
   * absent when rendering without a cluster.
   */
  cluster?: string;
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
  podRecycling: PodRecycling;
  /** The node's group that owns /var/run/docker.sock, for `hostSocket`. */
  dockerSocketGroupId?: number;
  workVolumeSize?: string;
  /** The Docker engine sidecar's image, for `dind`. */
  dindImage?: string;
  /** The agent container's seccomp filter, for `buildah` (rootless buildah needs a few calls RuntimeDefault refuses). */
  buildahSeccompProfile?: SeccompProfile;
  /** The containers the pod offers container jobs, for `podContainers`. */
  podContainers?: OfferedContainer[];
  /** The egress NetworkPolicy (src/core/manifests/network-policy.ts): on unless false. */
  restrictEgress?: boolean;
  /**
   * The in-cluster autoscaler (autoscaling: inCluster): it owns the replica count and registers each pod's agent itself,
   * so no runner pod holds the registration credential. Undefined: the count is the task's, each pod registers itself.
   */
  autoscaler?: AutoscalerSettings;
  /**
   * The autoscaler's handshake keys (src/core/handshake-trust.ts), made once by DeployRunnerPool when it applies the
   * pool and kept in their Secret; absent when rendering without a cluster.
   */
  autoscalerKeys?: AutoscalerKeys;
  /** Which runner of a shared pool counts a waiting job several could take: the highest (src/core/assignment.ts). */
  priority: number;
  /** With the autoscaler: how it keeps off nodes with Docker-mode runner pods; absent, `preferred`. */
  autoscalerAntiAffinity?: AutoscalerAntiAffinity;
  /** The installed extension whose data storage holds the hub's snapshots (publisher and extension id). */
  extension?: { publisher: string; id: string };
}

/** How the in-cluster autoscaler follows the queue. */
export interface AutoscalerSettings extends ScaleLimits {
  /** How often it looks at the queue (seconds); a waiting job leads to a scale-up within one look. */
  pollSeconds: number;
  /** Labels of the namespaces whose pods may read its /metrics and /healthz; absent: its own namespace's only. */
  metricsNamespaceSelector?: Record<string, string>;
}

/**
 * Who sets a pool's replica count, written on its StatefulSet (annotation `azure-devops-runner/replicas-owner`):
 * the in-cluster autoscaler, or ScaleRunnerPool once it has scaled the pool. Absent: DeployRunnerPool's `replicas`.
 */
export type ReplicasOwner = 'autoscaler' | 'ScaleRunnerPool';

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
  /** Windows with their own standby count (the `standbySchedule` input); outside them `standby` applies. */
  standbySchedule?: StandbyWindow[];
}

/** An agent registration as Azure DevOps reports it. */
export interface AgentInfo {
  id: number;
  name: string;
  status: 'online' | 'offline';
  enabled: boolean;
  /** The request it is running, if any. */
  busyWith?: number;
  /** The last request it finished, if any: the service's record, which no agent session can change. */
  lastCompletedRequestId?: number;
  capabilities: Record<string, string>;
  /** When it last went online or offline (ISO), when the service says: an agent reports its capabilities as it goes online. */
  statusChangedOn?: string;
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

/** `running` = the busy slots + `beyondBusy` (queued jobs and standby; a fixed count: all), within least..most. */
export interface RunningRule {
  beyondBusy: number;
  least: number;
  most: number;
}

export interface ScaleDecision {
  previousReplicas: number;
  replicas: number;
  /**
   * How many slots it wants running: busy + queued + standby within min..max (a fixed count: all). An autoscaled
   * pool's other slots keep their pods gated, unscheduled (src/core/slot-gate.ts).
   */
  running: number;
  /** How `running` follows from the busy slots, for when some of them end before the next decision (slot-gate.ts). */
  runningRule: RunningRule;
  /** Queued jobs this pool's agents can run. */
  queuedJobs: number;
  busyAgents: number;
  /** Why the decision is what it is, in one sentence a person can read. */
  reason: string;
  /** What it does, as data (metrics and logs read this, never the reason's text): a change of the count first. */
  action: DecisionAction;
}

/** A scale-down kept above its target for a busy or undrained slot is `deferred`; a scale-up kept for slots that cannot start, `held`. */
export type DecisionAction = 'scale_up' | 'scale_down' | 'deferred' | 'held' | 'no_change';

/** The secret values of a credential, to be masked in every log. */
export function credentialSecrets(credential: AgentCredential): string[] {
  if (credential.kind === 'pat') return [credential.token];
  if (credential.kind === 'servicePrincipal') return [credential.clientSecret];
  return [];
}

/** A runner pod as Kubernetes reports it, reduced to what the tasks and the hub show. */
export interface PodSummary {
  name: string;
  uid: string;
  phase: string;
  ready: boolean;
  restarts: number;
  node?: string;
  image?: string;
  revision?: string;
  createdAt?: string;
  deleting: boolean;
  /** DeployRunnerPool drains it to replace it (annotation azure-devops-runner/draining). */
  draining?: boolean;
  /** Why the pod is not running yet, e.g. ImagePullBackOff or CrashLoopBackOff. */
  waitingReason?: string;
  /** Held by the autoscaler's slot-wanted gate (src/core/slot-gate.ts): no node until a job wants the slot. */
  gated?: boolean;
}

/**
 * What only the cluster knows about a pool, published by the tasks (which already hold cluster credentials) into the
 * extension's data storage, where the hub reads it with the user's own token. One document per runner.
 */
export interface PoolSnapshot {
  /** `<namespace>.<runnerName>`. */
  id: string;
  runnerName: string;
  namespace: string;
  poolName: string;
  organizationUrl: string;
  /** When the snapshot was taken (ISO 8601): the hub shows its age. */
  publishedAt: string;
  publishedBy: 'DeployRunnerPool' | 'ScaleRunnerPool' | 'autoscaler';
  /** The StatefulSet's replica count. */
  replicas: number;
  pods: PodSummary[];
  lastDecision?: ScaleDecision;
  /** How long jobs waited for this runner's agents over the last day (src/core/job-wait.ts); absent: none started. */
  jobWait?: WaitSummary;
  /** The slots whose pod cannot start, and why (src/core/slot-start.ts); absent: none. */
  stuckSlots?: StuckSlot[];
}

/** The extension data collection (scope Default/Current) that holds the PoolSnapshot documents. */
export const snapshotCollection = 'runner-pools';
