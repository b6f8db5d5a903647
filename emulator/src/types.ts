// The emulator's in-memory model of an Azure DevOps organisation: pools, agents, job requests, sessions, documents, runs.
import type { ServerResponse } from 'node:http';
import type { ServiceDemand } from './demands.js';
import type { TaskResult as TaskResultMembers } from './wire.js';

export type TaskResult = keyof typeof TaskResultMembers;

export interface Pool {
  id: number;
  name: string;
  scope: string;
  createdOn: string;
}

export interface PublicKey {
  /** Base64, as the agent sends it (the spec's byte-array typing is not what goes over the wire). */
  exponent: string;
  modulus: string;
}

export interface Agent {
  id: number;
  poolId: number;
  name: string;
  version: string;
  osDescription: string;
  enabled: boolean;
  createdOn: string;
  statusChangedOn: string;
  systemCapabilities: Record<string, string>;
  userCapabilities: Record<string, string>;
  publicKey: PublicKey;
  /** OAuth client id; a new one on every registration or replacement, which revokes older tokens. */
  clientId: string;
  assignedRequestId?: number;
  lastCompletedRequestId?: number;
}

export interface Session {
  sessionId: string;
  agentId: number;
  poolId: number;
  ownerName: string;
  lastPoll: number;
}

export interface Message {
  messageId: number;
  messageType: 'PipelineAgentJobRequest' | 'JobCancellation' | 'AgentRefresh';
  body: string;
  /** The job this message is about; a job message is withdrawn when its job is cancelled before delivery. */
  requestId?: number;
}

/** A container resource as a pipeline declares it (YAML `resources: containers:`), keyed by its alias in a JobSpec. */
export interface ContainerSpec {
  image: string;
  /** Extra `docker create` options, as one string. */
  options?: string;
  env?: Record<string, string>;
  /** `docker create -p` values, e.g. `8080:80` or `6379`. */
  ports?: string[];
  /** `docker create -v` values, e.g. `/data:/data:ro`. */
  volumes?: string[];
  mapDockerSocket?: boolean;
  /** The container's own command (services; a job container gets the agent's keep-alive instead). */
  command?: string;
  /** A private registry: the job message carries it as a `dockerregistry` service endpoint. */
  registry?: { server: string; username: string; password: string };
}

/** One CmdLine step; `target` is a container alias or `host`, as in YAML. */
export interface JobStepSpec {
  script: string;
  displayName?: string;
  target?: string;
}

/**
 * What a test (or a pipeline run) queues: a bash script run as the job's only step, or `steps`; optionally container
 * resources, the job container (`container`, an alias) and services (network alias → container alias), as in YAML.
 */
export interface JobSpec {
  name?: string;
  demands?: string[];
  script?: string;
  steps?: JobStepSpec[];
  containers?: Record<string, ContainerSpec>;
  container?: string;
  services?: Record<string, string>;
  env?: Record<string, string>;
  /** Seconds the agent gets to stop the job after a cancellation. */
  cancelTimeoutSeconds?: number;
}

/** A step as queued, with the id its job message gives it. */
export interface JobStep extends JobStepSpec {
  id: string;
}

export interface Job {
  requestId: number;
  jobId: string;
  planId: string;
  timelineId: string;
  jobName: string;
  poolId: number;
  demands: ServiceDemand[];
  steps: JobStep[];
  containers: Record<string, ContainerSpec & { endpointId?: string }>;
  container?: string;
  services: Record<string, string>;
  env: Record<string, string>;
  cancelTimeoutSeconds: number;
  queueTime: string;
  assignTime?: string;
  receiveTime?: string;
  lockedUntil?: string;
  finishTime?: string;
  result?: TaskResult;
  reservedAgentId?: number;
  /** The name of the agent the job was given to; kept when that registration is deleted (the single-use rule retires it). */
  reservedAgentName?: string;
  /** Bearer token handed to the agent in the job message (SystemVssConnection), valid for the job's plan routes. */
  accessToken: string;
  log: string[];
  cancelRequested: boolean;
  owner?: { id: number; name: string };
  definition?: { id: number; name: string };
  projectId: string;
}

export interface Project {
  id: string;
  name: string;
}

export interface Pipeline {
  id: number;
  projectId: string;
  name: string;
  folder: string;
  revision: number;
  pool: string;
  demands: string[];
  script: string;
  env: Record<string, string>;
}

export interface Run {
  id: number;
  pipelineId: number;
  name: string;
  createdDate: string;
  finishedDate?: string;
  requestId?: number;
  /** Set when the job could not even be queued (no agent could ever satisfy its demands). */
  failedAtQueue?: boolean;
  templateParameters: Record<string, string>;
  variables: Record<string, { value?: string; isSecret?: boolean }>;
}

/** A personal access token and the scopes it carries ("app_token" = full access, as the service names it). */
export interface Pat {
  token: string;
  user: string;
  scopes: string[];
}

export interface ServicePrincipal {
  clientId: string;
  tenantId: string;
  secret: string;
}

/** Who made a request, after authentication. */
export type Principal =
  | { kind: 'pat'; user: string; scopes: string[] }
  | { kind: 'sp'; clientId: string }
  | { kind: 'agent'; agentId: number; poolId: number }
  | { kind: 'job'; requestId: number };

export interface PendingPoll {
  sessionId: string;
  response: ServerResponse;
  timer: NodeJS.Timeout;
  lastMessageId: number;
}

/** A fault a test injects: the next `count` requests matching `method`/`path` get it instead of (or before) the real answer. */
export interface Fault {
  id: number;
  method?: string;
  /** Regular expression matched against the path (query excluded). */
  path: string;
  kind: 'error' | 'rateLimit' | 'latency' | 'drop';
  status?: number;
  delayMs?: number;
  retryAfterSeconds?: number;
  remaining: number;
}

/** A write a client made to an agent registration over REST, as GET /_admin/agents/writes reports it. */
export interface AgentWrite {
  seq: number;
  time: string;
  /** registered (POST), replaced (PUT: a new key), updated (PATCH), userCapabilities (PUT), deleted (its own or its pool's DELETE). */
  action: 'registered' | 'replaced' | 'updated' | 'userCapabilities' | 'deleted';
  agentId: number;
  poolId: number;
  name: string;
  /** Who sent it, named as in the request log (`pat:<user>`, `sp:<client id>`, …). */
  principal?: string;
  /** The system capabilities it set (registered and replaced). */
  systemCapabilities?: Record<string, string>;
  /** Whether the agent is enabled after it (registered and updated). */
  enabled?: boolean;
}

export interface ServedRequest {
  seq: number;
  time: string;
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  auth: 'none' | 'basic' | 'bearer' | 'invalid';
  principal?: string;
  /** Bytes of the response body sent (as served: the emulator never compresses). */
  bytes: number;
}
