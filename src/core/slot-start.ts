// Slots that cannot start, and why. When a runner pod cannot start, its jobs wait in the queue and nothing else says
// why: this reads it from what the scaling pass (and `status`) already looked at — the runner's pods, and the
// StatefulSet's events when a slot has no pod at all — and names, per slot, one of five causes with the words
// Kubernetes gave. Pure.
//
// - imagePull: a container's image cannot be pulled (ErrImagePull, ImagePullBackOff, InvalidImageName, ...).
// - unschedulable: the scheduler found no node (condition PodScheduled False, reason Unschedulable). A pod held by a
//   scheduling gate (reason SchedulingGated) is held on purpose, and is not stuck.
// - quota: the API server refused to create the pod (the StatefulSet's FailedCreate event: a ResourceQuota, a
//   LimitRange or another admission rule forbids it). The controller names the pod in its message.
// - crashBeforeRegistration: the agent's container restarts in a loop (CrashLoopBackOff) and the pod's agent never
//   registered. One that crashes after it registered ran its agent: that is the job's business, not a start.
// - serviceNotReady: a podContainers service with `ready=` (a native sidecar with a startup probe) was restarted
//   without ever passing its probe, and the agent has not started: the kubelet starts it only once every sidecar has
//   passed. Its state alternates between a new try (running, not started) and CrashLoopBackOff, and a self-registering
//   pod's register step holds its registration before the sidecars start, so neither a crash nor the registration
//   tells it. A service still in its first try is only slow; one restarted after the agent started is the job's.
//
// The first three are the cluster's answer to any pod of the template: a new slot would not start either, so the
// decision holds the pool's size (src/core/scale-decision.ts). A crash may be one pod's (its node, a flaky start).
//
// A slot has no pod for a moment between two of its pods (one ended with its job, the next not created yet), so a
// refusal holds only while it is newer than the slot's last pod: the controller's SuccessfulCreate of it, or an
// earlier look of the same autoscaler that saw the pod (when that record was dropped or expired). Event times are
// whole seconds, so every time is compared in whole seconds, and a tie does not hold: a refusal that lasts is
// recorded again within moments (the controller retries a refused create after milliseconds, then seconds), and the
// next look holds on that later second, while a stale refusal that held would keep jobs waiting. A look's time is the
// autoscaler's clock, the events' the controller's: a skew of seconds only delays that fallback's hold as long.
import type { KubeObject } from './ports/kube.js';
import { slotOrdinal } from './slots.js';
import { withoutLoggingCommands } from './log-text.js';

export type SlotStartFailure = 'imagePull' | 'unschedulable' | 'quota' | 'crashBeforeRegistration' | 'serviceNotReady';

/** Every cause, in the order they are told: a metric has a series for each, stuck or not. */
export const slotStartFailures: readonly SlotStartFailure[] = ['imagePull', 'unschedulable', 'quota', 'crashBeforeRegistration', 'serviceNotReady'];

/** A slot whose pod cannot start, and why. */
export interface StuckSlot {
  slot: number;
  reason: SlotStartFailure;
  /**
   * Kubernetes' own word for it: ImagePullBackOff, ErrImagePull, Unschedulable, FailedCreate, CrashLoopBackOff, or for a
   * service, the pod's Initialized condition's ContainersNotInitialized.
   */
  kubernetesReason: string;
  /** What Kubernetes said, one printable line (src/core/log-text.ts), without credentials. */
  message: string;
}

/** What one look at the cluster gives the recognition. */
export interface SlotStartLook {
  runnerName: string;
  /** The StatefulSet's replica count: slots at or above it are on their way out. */
  replicas: number;
  /** The StatefulSet's UID: events of an earlier StatefulSet of the same name say nothing about this one. */
  statefulSetUid?: string;
  pods: KubeObject[];
  /** The StatefulSet's events (read only when a slot has no pod: slotsWithoutPod). */
  events: KubeObject[];
  /** UIDs of the pods whose agent holds a registration (its RUNNER_POD_UID capability). */
  registeredPods: ReadonlySet<string>;
  /** When an earlier look last saw each slot's pod (slotsSeen), by slot; none for a one-off look. */
  seen?: ReadonlyMap<number, number>;
  now: number;
}

const imagePullReasons = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/**
 * How recent a refused create must be to count: the controller retries a refused slot at least every 1000 s (its work
 * queue's longest backoff), and each retry refreshes the event. An older refusal belongs to an episode that ended.
 */
export const refusalFreshMs = 20 * 60_000;

/** The longest message kept: enough for Kubernetes' explanation, short enough for a decision line. */
const messageLength = 400;

interface ContainerStatus {
  name: string;
  restartCount?: number;
  started?: boolean;
  state?: { waiting?: { reason?: string; message?: string } };
}

interface PodShape {
  spec?: { initContainers?: Array<{ name: string; restartPolicy?: string; startupProbe?: unknown }> };
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

interface EventShape {
  involvedObject?: { kind?: string; name?: string; uid?: string };
  reason?: string;
  message?: string;
  lastTimestamp?: string | null;
  eventTime?: string | null;
  firstTimestamp?: string | null;
  series?: { lastObservedTime?: string } | null;
  source?: { component?: string };
  reportingComponent?: string;
}

const statefulSetController = 'statefulset-controller';

/** An `@` that ends a userinfo: not one that starts an image's digest (`name:tag@sha256:…`). */
const digestAt = String.raw`@(?!sha(?:256|384|512):[0-9a-f]{32})`;
/** A URL's userinfo (`https://user:secret@`, `https://token@`), up to the last `@` that starts no digest. */
const urlUserinfo = new RegExp(String.raw`:\/\/[^\s"']+${digestAt}`, 'g');
/**
 * `user:secret@` at the start of a word without a URL scheme (`bot:s3cret@registry.example/x`), the secret up to the
 * last `@` that starts no digest (a base64 secret may hold `/` or `@`); `registry:5000/x@sha256:…` is no userinfo.
 */
const bareUserinfo = new RegExp(String.raw`(^|[\s"'(=,[<])[^\s/@"'():,=[<]*:(?!\/\/)[^\s"']+${digestAt}`, 'g');

/**
 * Kubernetes' text made safe to print anywhere: one line without control characters or logging commands, no
 * credentials of a URL (`https://user:secret@…`, `user:secret@host`, a `?token=` or a signature in a query), at most
 * `messageLength` long.
 */
export function kubernetesMessage(text: string): string {
  const line = text
    .replace(urlUserinfo, '://***@')
    .replace(bareUserinfo, '$1***@')
    .replace(/([?&][\w.-]*(?:token|sig|secret|password|key|code|credential)[\w.-]*=)[^&\s"']+/gi, '$1***')
    .replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ')
    .trim();
  // Cut in the middle: the start says what failed, the end why (`… no such host`).
  const half = Math.floor((messageLength - 1) / 2);
  const short = line.length > messageLength ? `${line.slice(0, half)}…${line.slice(line.length - half)}` : line;
  return withoutLoggingCommands(short);
}

/** The slots below the replica count with no pod: only a refused create (the StatefulSet's events) can say why. */
export function slotsWithoutPod(runnerName: string, replicas: number, pods: KubeObject[]): number[] {
  const present = new Set(pods.map((pod) => slotOrdinal(runnerName, pod.metadata.name)));
  return Array.from({ length: replicas }, (_, ordinal) => ordinal).filter((ordinal) => !present.has(ordinal));
}

/** The slots whose pod a look at `at` saw, with that time, added to what earlier looks saw. */
export function slotsSeen(earlier: ReadonlyMap<number, number> | undefined, runnerName: string, pods: KubeObject[], at: number): Map<number, number> {
  const seen = new Map(earlier);
  for (const pod of pods) {
    const ordinal = slotOrdinal(runnerName, pod.metadata.name);
    if (ordinal !== undefined) seen.set(ordinal, at);
  }
  return seen;
}

/** The field selector of a StatefulSet's events (Event lists take no label selector that would find them). */
export function statefulSetEventsSelector(runnerName: string): string {
  return `involvedObject.kind=StatefulSet,involvedObject.name=${runnerName}`;
}

/** A service whose startup probe, after a restart, still keeps the pod's agent from starting; undefined: none. */
function unreadyService({ spec, status }: PodShape): Omit<StuckSlot, 'slot'> | undefined {
  const agent = status?.containerStatuses?.find((c) => c.name === 'agent');
  if (agent !== undefined && (agent.state?.waiting === undefined || (agent.restartCount ?? 0) > 0)) return undefined;
  const probed = new Set((spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always' && c.startupProbe !== undefined).map((c) => c.name));
  const service = status?.initContainerStatuses?.find((c) => probed.has(c.name) && c.started !== true && (c.restartCount ?? 0) > 0);
  if (service === undefined) return undefined;
  const waiting = service.state?.waiting?.message;
  const message = `service ${service.name} restarted ${service.restartCount} time${service.restartCount === 1 ? '' : 's'} without passing its startup probe${waiting ? `: ${waiting}` : ''}`;
  return { reason: 'serviceNotReady', kubernetesReason: 'ContainersNotInitialized', message: kubernetesMessage(message) };
}

/** Why a pod cannot start, or undefined while it starts, runs, or is held on purpose. */
function podCause(pod: KubeObject, registered: boolean): Omit<StuckSlot, 'slot'> | undefined {
  const { status } = pod as unknown as PodShape;
  const containers = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])];
  const waiting = (reasons: (reason: string) => boolean) => containers.map((c) => c.state?.waiting).find((w) => w?.reason !== undefined && reasons(w.reason));
  const pull = waiting((reason) => imagePullReasons.has(reason));
  if (pull) return { reason: 'imagePull', kubernetesReason: pull.reason!, message: kubernetesMessage(pull.message ?? '') };
  const scheduled = status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return { reason: 'unschedulable', kubernetesReason: 'Unschedulable', message: kubernetesMessage(scheduled.message ?? '') };
  }
  const service = unreadyService(pod as unknown as PodShape);
  if (service) return service;
  const crash = waiting((reason) => reason === 'CrashLoopBackOff');
  if (crash && !registered) return { reason: 'crashBeforeRegistration', kubernetesReason: crash.reason!, message: kubernetesMessage(crash.message ?? '') };
  return undefined;
}

/** When an event last happened, as the API server reports either kind of event (core v1 or events.k8s.io). */
function eventTime(event: EventShape, created: string | undefined): number {
  const time = event.lastTimestamp ?? event.series?.lastObservedTime ?? event.eventTime ?? event.firstTimestamp ?? created;
  return time ? Date.parse(time) : Number.NaN;
}

/** The StatefulSet controller's records of its pod creates: the slot, the reason, when, and its words. */
function controllerCreates(look: SlotStartLook): Array<{ ordinal: number; reason: string; at: number; message: string }> {
  return look.events.flatMap((object) => {
    const event = object as unknown as EventShape;
    const about = event.involvedObject;
    if (about?.kind !== 'StatefulSet' || about.name !== look.runnerName) return [];
    // The controller's own record only: of this StatefulSet (by UID, a look-alike of an earlier one or a record with
    // none is not), from the statefulset-controller.
    if (look.statefulSetUid !== undefined && about.uid !== look.statefulSetUid) return [];
    if (event.source?.component !== statefulSetController && event.reportingComponent !== statefulSetController) return [];
    const message = event.message ?? '';
    // "create Pod <name> in StatefulSet <set> failed error: …" or "create Pod <name> in StatefulSet <set> successful"
    const pod = /^create Pod (\S+) in StatefulSet\b/.exec(message)?.[1];
    const ordinal = pod === undefined ? undefined : slotOrdinal(look.runnerName, pod);
    if (ordinal === undefined || event.reason === undefined) return [];
    return [{ ordinal, reason: event.reason, at: eventTime(event, object.metadata.creationTimestamp), message }];
  });
}

const wholeSecond = (ms: number) => Math.floor(ms / 1000);

/** The slots of a refused create newer than their last pod, each with the controller's latest word on it. */
function refusedCreates(look: SlotStartLook): Map<number, Omit<StuckSlot, 'slot'>> {
  const missing = new Set(slotsWithoutPod(look.runnerName, look.replicas, look.pods));
  const creates = controllerCreates(look);
  const lastPod = new Map(look.seen);
  for (const { ordinal, reason, at } of creates) if (reason === 'SuccessfulCreate' && at > (lastPod.get(ordinal) ?? -Infinity)) lastPod.set(ordinal, at);
  const refused = new Map<number, { at: number; message: string }>();
  for (const { ordinal, reason, at, message } of creates) {
    if (reason !== 'FailedCreate' || !missing.has(ordinal) || !/forbidden|exceeded quota/i.test(message) || !(look.now - at <= refusalFreshMs)) continue;
    if (!(wholeSecond(at) > wholeSecond(lastPod.get(ordinal) ?? -Infinity))) continue;
    if ((refused.get(ordinal)?.at ?? -Infinity) < at) refused.set(ordinal, { at, message });
  }
  return new Map([...refused].map(([ordinal, { message }]) => [ordinal, { reason: 'quota', kubernetesReason: 'FailedCreate', message: kubernetesMessage(message) }]));
}

/** The slots below the replica count that cannot start, by slot. */
export function stuckSlots(look: SlotStartLook): StuckSlot[] {
  const stuck = new Map(refusedCreates(look));
  for (const pod of look.pods) {
    const ordinal = slotOrdinal(look.runnerName, pod.metadata.name);
    if (ordinal === undefined || ordinal >= look.replicas || pod.metadata.deletionTimestamp !== undefined) continue;
    const cause = podCause(pod, pod.metadata.uid !== undefined && look.registeredPods.has(pod.metadata.uid));
    if (cause) stuck.set(ordinal, cause);
  }
  return [...stuck].sort(([a], [b]) => a - b).map(([slot, cause]) => ({ slot, ...cause }));
}

/**
 * Whether a new slot would not start either: the image or a quota refuses any pod of the template. An unschedulable pod
 * does not hold the pool: a node autoscaler adds nodes for the pods that wait, so each wanted slot must exist to count.
 */
export function blocksNewSlots(stuck: StuckSlot): boolean {
  return stuck.reason === 'imagePull' || stuck.reason === 'quota';
}

/** One stuck slot, e.g. `slot 2 cannot start: ImagePullBackOff (Back-off pulling image "…")`. */
export function describeStuckSlot(stuck: StuckSlot): string {
  return `slot ${stuck.slot} cannot start: ${stuck.kubernetesReason}${stuck.message ? ` (${stuck.message})` : ''}`;
}

/** The stuck slots in one sentence: the first told in full, the others by number. */
export function describeStuckSlots(stuck: StuckSlot[]): string {
  if (stuck.length === 0) return '';
  const others = stuck.slice(1).map((slot) => slot.slot);
  return `${describeStuckSlot(stuck[0])}${others.length === 0 ? '' : `, nor can slot${others.length === 1 ? '' : 's'} ${others.join(', ')}`}`;
}

/** The stuck slots in a few words, next to a job that waits on them, e.g. `slots 1, 2 cannot start (ImagePullBackOff)`. */
export function stuckSummary(stuck: StuckSlot[]): string {
  const reasons = [...new Set(stuck.map((slot) => slot.kubernetesReason))].join(', ');
  return `slot${stuck.length === 1 ? '' : 's'} ${stuck.map((slot) => slot.slot).join(', ')} cannot start (${reasons})`;
}

/** How often the Event that tells a cause that lasts is recorded again: kubectl shows an hour of events. */
export const slotStartEventEveryMs = 5 * 60_000;

/** What the StatefulSet's Event tells, for telling it again only when it changed: the causes, not their wording. */
export function stuckCause(stuck: StuckSlot[]): string {
  return [...new Set(stuck.map((slot) => slot.reason))].sort().join(',');
}

/** Whether to record the Event now: slots are stuck, and the cause is new or was last told `slotStartEventEveryMs` ago. */
export function slotStartEventDue(last: { cause: string; at: number } | undefined, stuck: StuckSlot[], now: number): boolean {
  if (stuck.length === 0) return false;
  return last === undefined || last.cause !== stuckCause(stuck) || now - last.at >= slotStartEventEveryMs;
}

/** An Event's message is at most 1024 bytes (the API server's limit): longer, it is cut, and says so. */
function eventMessage(text: string): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= 1024) return text;
  let bytes = 0;
  let cut = '';
  for (const char of text) {
    bytes += encoder.encode(char).length;
    if (bytes > 1021) break;
    cut += char;
  }
  return `${cut}…`;
}

/** The Warning Event on the StatefulSet that tells its stuck slots (`kubectl describe statefulset`, `kubectl get events`). */
export function slotStartEvent(statefulSet: KubeObject, stuck: StuckSlot[], now: number, reporter: string): KubeObject {
  const { name, namespace, uid } = statefulSet.metadata;
  const time = new Date(now).toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    // As client-go names events: the object's name and the time in nanoseconds, in hex.
    metadata: { name: `${name}.${(BigInt(now) * 1_000_000n).toString(16)}`, namespace },
    involvedObject: { apiVersion: 'apps/v1', kind: 'StatefulSet', name, namespace, ...(uid !== undefined && { uid }) },
    reason: 'SlotCannotStart',
    type: 'Warning',
    message: eventMessage(`${stuck.length} slot${stuck.length === 1 ? '' : 's'} cannot start, jobs wait: ${stuck.map(describeStuckSlot).join('; ')}`),
    source: { component: 'azure-devops-runner' },
    reportingComponent: 'azure-devops-runner',
    reportingInstance: reporter,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}
