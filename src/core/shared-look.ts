// One look at a pool's job requests, shared by the autoscalers of one namespace that serve the pool (issue #26). Every
// autoscaler reads its pool's unfinished job requests at each pass: five runners of one pool read the same list five
// times over, and an organization's runners share one rate budget (200 TSTUs in five minutes, one PAT). So an
// autoscaler that reads the list puts it on a Lease in its namespace (`runner-look-<hash>`, named after the
// organization and the pool), and one that finds there a list young enough takes it instead of reading its own.
//
// The rules:
// - Young enough: read less than half a poll interval ago by the reader's clock: a job is seen at most half an
//   interval later than by a look of its own.
// - Never a list read before the runner's last write to Azure DevOps, its last notice that an agent took a job, or a
//   new lease term: what it did or was told since must be in the look that follows, as in a look of its own. Another
//   autoscaler's clock may differ from the reader's: its list counts as read after a moment only when dated
//   `clockSkewMs` later. A count is never lowered on such a look, whatever the clocks (src/flows/scale-pass.ts).
// - Only the job requests: the agents, what the single-use rule acts on (src/core/single-use.ts), each autoscaler reads
//   itself, after the job requests, as before. A list that would not fit (`largestShared`) is not shared.
// - A Lease because the deployer's Role (configs/deployer-rbac.yaml) already holds Leases: the autoscaler's Role is
//   granted this one by name with no new right for the deployer. Only who may write Leases in the namespace can write
//   it: the autoscalers and the deployer, as for the StatefulSet itself; runner pods hold no Kubernetes credential. A
//   look that does not parse, or names another organization or pool (two names may share a hash), is not used.
// - Each autoscaler that writes it adds its StatefulSet as an owner: Kubernetes removes the Lease with the last runner.
import type { JobRequest } from './ports/ado.js';
import type { KubeObject } from './ports/kube.js';
import { fnv1a } from './hash.js';

/** The annotation that holds the shared look (JSON). */
export const sharedLookAnnotation = 'azure-devops-runner/pool-look';
/** The largest look shared: a Lease's annotations hold 256 KiB in all. */
export const largestShared = 200 * 1024;
/**
 * How far two nodes' clocks may differ (NTP keeps them within milliseconds; the lease's own margin is 2 s): a list
 * read on another's clock counts as read after a moment on the reader's only when dated this much later, and one dated
 * ahead of the reader's clock by more is not believed.
 */
export const clockSkewMs = 1000;

const organizationKey = (url: string) => url.replace(/\/+$/, '').toLowerCase();

/** The Lease's name for a pool of an organization: the same for every runner of the namespace that serves it. */
export function sharedLookName(organizationUrl: string, poolName: string): string {
  return `runner-look-${fnv1a(`${organizationKey(organizationUrl)}\n${poolName.toLowerCase()}`).toString(16).padStart(8, '0')}`;
}

/** A moment on an autoscaler's clock (ms): `by` names the autoscaler (its pod). */
export interface Moment {
  at: number;
  by: string;
}

/** A list and when it was read, by whom. */
export interface Dated<T> extends Moment {
  list: T[];
}

export interface SharedLook {
  organizationUrl: string;
  poolId: number;
  jobs: Dated<JobRequest>;
}

/** The look on `lease`, if it is this pool's. */
export function sharedLookOf(lease: KubeObject | undefined, need: { organizationUrl: string; poolId: number }): SharedLook | undefined {
  const look = parseSharedLook(lease?.metadata.annotations?.[sharedLookAnnotation]);
  return look !== undefined && look.poolId === need.poolId && organizationKey(look.organizationUrl) === organizationKey(need.organizationUrl) ? look : undefined;
}

/** What it takes to use a shared list now. */
export interface ListNeed {
  /** The reader, and its clock's time. */
  reader: string;
  now: number;
  /** Half the poll interval. */
  maxAgeMs: number;
  /** The list must have been read after this: the reader's last write, notice or new term. */
  after: Moment;
}

/** `dated` if young enough by the reader's clock and read after `need.after`. */
export function usable<T>(dated: Dated<T> | undefined, need: ListNeed): Dated<T> | undefined {
  if (dated === undefined) return undefined;
  const margin = (by: string) => (by === dated.by ? 0 : clockSkewMs);
  if (dated.at > need.now + margin(need.reader) || dated.at <= need.now - need.maxAgeMs) return undefined;
  return dated.at >= need.after.at + margin(need.after.by) ? dated : undefined;
}

/** The owner each autoscaler adds: its runner's StatefulSet. */
export interface LookOwner {
  name: string;
  uid: string;
}

/**
 * The write that shares `look`: the whole Lease to create when there is none, else a merge patch on the one read (its
 * resourceVersion: of two writers at once one gets a conflict, and shares at its next read), with `owner` added to its
 * owners. Undefined when the look is too large to share.
 */
export function sharedLookWrite(name: string, namespace: string, look: SharedLook, read: KubeObject | undefined, owner: LookOwner | undefined): KubeObject | undefined {
  const text = JSON.stringify(look);
  if (text.length > largestShared) return undefined;
  const owners = read?.metadata.ownerReferences ?? [];
  const ownerReferences = owner === undefined || owners.some((ref) => ref.uid === owner.uid)
    ? undefined
    : [...owners, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: owner.name, uid: owner.uid }];
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name, namespace, annotations: { [sharedLookAnnotation]: text },
      ...(read?.metadata.resourceVersion !== undefined && { resourceVersion: read.metadata.resourceVersion }),
      ...(ownerReferences !== undefined && { ownerReferences }),
    },
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const optionalString = (value: unknown) => value === undefined || typeof value === 'string';

function isJobRequest(value: unknown): value is JobRequest {
  return isRecord(value) && Number.isSafeInteger(value.requestId) && Array.isArray(value.demands) && value.demands.every((demand) => typeof demand === 'string')
    && ['name', 'reservedAgentName', 'pipeline', 'queueTime', 'assignTime', 'receiveTime', 'result'].every((field) => optionalString(value[field]));
}

function datedJobs(value: unknown): Dated<JobRequest> | undefined {
  if (!isRecord(value) || !Number.isFinite(value.at) || typeof value.by !== 'string' || !Array.isArray(value.list) || !value.list.every(isJobRequest)) return undefined;
  return { at: value.at as number, by: value.by, list: value.list };
}

/** The shared look in the annotation's text; undefined unless every field has its type. */
export function parseSharedLook(text: string | undefined): SharedLook | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || typeof value.organizationUrl !== 'string' || !Number.isSafeInteger(value.poolId)) return undefined;
  const jobs = datedJobs(value.jobs);
  return jobs && { organizationUrl: value.organizationUrl, poolId: value.poolId as number, jobs };
}
